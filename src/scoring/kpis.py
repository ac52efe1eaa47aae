"""Collection KPIs per month and segment, next to the targets of ``config/kpis.yaml``.

Five KPIs, each from the raw tables of a data set (CONTRACT §1) by :func:`compute_kpis`:

* ``recovery_rate``: share of the amount falling due in the month that is paid within
  ``recovery_days`` (60) after its due date (invoices grouped by due month);
* ``days_to_pay``: average days from issue to payment of the invoices paid in the month,
  weighted by amount (the payment-side DSO);
* ``unpaid_rate``: share of the amount falling due in the month still unpaid ``unpaid_days``
  (90) after its due date (CONTRACT §3 payment default, in EUR);
* ``cost_of_recovery``: cost of the actions decided in the month (policy configuration costs)
  divided by the amount *recovered* in the month (paid after its due date);
* ``dispute_rate``: share of the invoices falling due in the month disputed before
  ``dispute_days`` (90) after the due date.

A due-month cohort is ``complete`` when the data set extends past the longest horizon for all
its invoices; incomplete months are shown but not compared with targets.

The same KPIs are computed from the service's own decisions and reported outcomes (the audit
trail) by :func:`audit_kpis` over :func:`read_audit_decisions`; there they are measured between
the decision and the reported payment, so they read as trends, not as the portfolio figures.
:func:`scoring.tracking.log_kpis` logs the KPIs of a data set to the active MLflow run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from scoring.cases import REFERENCE_TZ, data_end
from scoring.configuration import FrozenConfig, load_yaml_config

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "kpis.yaml"
KPI_NAMES: tuple[str, ...] = (
    "recovery_rate",
    "days_to_pay",
    "unpaid_rate",
    "cost_of_recovery",
    "dispute_rate",
)
KPI_LABELS: dict[str, str] = {
    "recovery_rate": "recovery rate",
    "days_to_pay": "average days to pay (DSO)",
    "unpaid_rate": "unpaid rate",
    "cost_of_recovery": "cost of recovery",
    "dispute_rate": "dispute rate",
}
#: KPIs expressed as fractions (shown as %); the others are in days.
RATE_KPIS = frozenset(KPI_NAMES) - {"days_to_pay"}
ALL = "all"


# --------------------------------------------------------------------------------------
# Configuration


KpiName = Literal["recovery_rate", "days_to_pay", "unpaid_rate", "cost_of_recovery", "dispute_rate"]


class Target(FrozenConfig):
    """A KPI target: ``direction`` ``above`` or ``below`` ``value`` (None: no target)."""

    kpi: KpiName
    direction: Literal["above", "below"] = "below"
    value: float | None = None

    def met(self, v: float | None) -> bool | None:
        """Whether ``v`` meets the target (None when there is no target or no value)."""
        if self.value is None or v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return bool(v > self.value) if self.direction == "above" else bool(v < self.value)

    def describe(self) -> str:
        """``> 90 %``, ``< 45 days`` or ``-``."""
        if self.value is None:
            return "-"
        op = ">" if self.direction == "above" else "<"
        return f"{op} {format_kpi(self.kpi, self.value)}"


class Horizons(FrozenConfig):
    recovery_days: int = Field(60, ge=0, description="Paid within this many days after due.")
    unpaid_days: int = Field(90, ge=0, description="Still unpaid this many days after due.")
    dispute_days: int = Field(90, ge=0, description="Disputed before this many days after due.")


class KpiConfig(FrozenConfig):
    """Horizons of the KPI definitions and the targets (``config/kpis.yaml``)."""

    version: str = "unversioned"
    horizons: Horizons = Horizons()
    #: every KPI has a target (``value`` None: none set)
    targets: dict[KpiName, Target] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _targets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        raw = data.get("targets") or {}
        if not isinstance(raw, dict):
            return data
        targets = {
            k: ({"kpi": k, **v} if isinstance(v, dict) else v if v is not None else {"kpi": k})
            for k, v in raw.items()
        }
        for k in KPI_NAMES:
            targets.setdefault(k, {"kpi": k})
        return {**data, "version": str(data.get("version", "unversioned")), "targets": targets}

    @property
    def recovery_days(self) -> int:
        return self.horizons.recovery_days

    @property
    def unpaid_days(self) -> int:
        return self.horizons.unpaid_days

    @property
    def dispute_days(self) -> int:
        return self.horizons.dispute_days

    @property
    def max_horizon(self) -> int:
        return max(self.recovery_days, self.unpaid_days, self.dispute_days)


def load_kpi_config(path: str | Path | None = None) -> KpiConfig:
    """Read ``config/kpis.yaml`` (or ``path``); :class:`~scoring.configuration.ConfigError`
    (a ``ValueError``) naming each wrong field, ``FileNotFoundError`` for a missing file."""
    p = Path(path) if path else CONFIG_PATH
    if not p.exists():
        raise FileNotFoundError(f"KPI configuration {p} does not exist")
    return load_yaml_config(KpiConfig, p, "KPI configuration")


def format_kpi(kpi: str, v: float | None) -> str:
    """``93.1 %`` for rates, ``41.2 days`` for days to pay, ``-`` for missing values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kpi in RATE_KPIS:
        return f"{100 * v:.1f} %" if abs(v) >= 0.001 or v == 0 else f"{100 * v:.3f} %"
    return f"{v:.1f} days"


def default_costs() -> dict[str, float]:
    """Action costs of the policy configuration (CONTRACT §2)."""
    from scoring.policy.config import load_policy_config

    return {str(k): float(v) for k, v in load_policy_config().costs.items()}


# --------------------------------------------------------------------------------------
# KPIs from the tables


def _month(s: pd.Series) -> pd.Series:
    """``YYYY-MM`` of naive dates (NaT stays missing)."""
    return s.dt.to_period("M").astype(str).where(s.notna())


def _with_all(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.assign(segment=ALL)], ignore_index=True)


def _safe_div(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a / b.where(b > 0)).astype("float64")


def compute_kpis(
    tables: dict[str, pd.DataFrame],
    config: KpiConfig | None = None,
    costs: dict[str, float] | None = None,
    by_month: bool = True,
    complete_only: bool = False,
) -> pd.DataFrame:
    """The five KPIs per month and segment (``B2B``, ``B2C`` and ``all``).

    Columns: ``month`` (``YYYY-MM``, or ``all`` with ``by_month=False``), ``segment``,
    ``n_invoices_due``, ``amount_due``, ``amount_recovered``, ``action_cost`` and the five
    KPIs of the module docstring, then ``complete``. ``complete_only`` keeps only invoices
    whose horizons are observed (and actions and payments up to the same date).
    """
    config = config or load_kpi_config()
    costs = costs if costs is not None else default_costs()
    end = data_end(tables)
    seg = tables["debtors"][["debtor_id", "segment"]].astype({"segment": str})
    inv = tables["invoices"].merge(seg, on="debtor_id", how="left")
    acts = tables["actions"].merge(seg, on="debtor_id", how="left")
    cutoff = end - pd.Timedelta(days=config.max_horizon)
    if complete_only:
        inv = inv[inv["due_date"] <= cutoff]
    due = inv["due_date"]
    paid = inv["paid_date"]
    amount = inv["amount"].astype("float64")
    rec_h = pd.Timedelta(days=config.recovery_days)
    unp_h = pd.Timedelta(days=config.unpaid_days)
    dis_h = pd.Timedelta(days=config.dispute_days)
    cohort = pd.DataFrame(
        {
            "month": _month(due) if by_month else ALL,
            "segment": inv["segment"].to_numpy(),
            "amount": amount.to_numpy(),
            "recovered_in_h": np.where((paid <= due + rec_h).fillna(False), amount, 0.0),
            "unpaid_after_h": np.where(
                (paid.isna() | (paid > due + unp_h)).fillna(True), amount, 0.0
            ),
            "disputed": (inv["dispute_date"] <= due + dis_h).fillna(False).astype(float),
        }
    )
    g = _with_all(cohort).groupby(["month", "segment"])
    out = pd.DataFrame(
        {
            "n_invoices_due": g.size(),
            "amount_due": g["amount"].sum(),
            "recovery_rate": g["recovered_in_h"].sum() / g["amount"].sum(),
            "unpaid_rate": g["unpaid_after_h"].sum() / g["amount"].sum(),
            "dispute_rate": g["disputed"].mean(),
        }
    )
    # payment side: invoices paid in the month
    p = inv[paid.notna()]
    if complete_only:
        p = p[p["paid_date"] <= cutoff]
    days = (p["paid_date"] - p["issue_date"]).dt.days.astype("float64")
    pay = pd.DataFrame(
        {
            "month": _month(p["paid_date"]) if by_month else ALL,
            "segment": p["segment"].to_numpy(),
            "amount": p["amount"].astype("float64").to_numpy(),
            "weighted_days": (days * p["amount"].astype("float64")).to_numpy(),
            "recovered": np.where(p["paid_date"] > p["due_date"], p["amount"], 0.0),
        }
    )
    gp = _with_all(pay).groupby(["month", "segment"])
    pay_out = pd.DataFrame(
        {
            "amount_paid": gp["amount"].sum(),
            "amount_recovered": gp["recovered"].sum(),
            "days_to_pay": gp["weighted_days"].sum() / gp["amount"].sum(),
        }
    )
    # cost side: actions decided in the month (Europe/Paris calendar)
    decided = acts["decided_at"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None)
    a = pd.DataFrame(
        {
            "month": _month(decided) if by_month else ALL,
            "segment": acts["segment"].to_numpy(),
            "cost": acts["action"].astype(str).map(costs).fillna(0.0).astype(float).to_numpy(),
        }
    )
    if complete_only:
        a = a[(decided <= cutoff).to_numpy()]
    cost_out = _with_all(a).groupby(["month", "segment"])["cost"].sum().rename("action_cost")

    res = out.join(pay_out, how="outer").join(cost_out, how="outer")
    for c in ("n_invoices_due",):
        res[c] = res[c].fillna(0).astype("int64")
    for c in ("amount_due", "amount_paid", "amount_recovered", "action_cost"):
        res[c] = res[c].fillna(0.0).astype("float64")
    res["cost_of_recovery"] = _safe_div(res["action_cost"], res["amount_recovered"])
    res = res.reset_index()
    if by_month:
        month_end = pd.PeriodIndex(res["month"], freq="M").end_time.normalize()
        res["complete"] = np.asarray(month_end <= cutoff, dtype=bool)
    else:
        res["complete"] = bool(complete_only or (inv["due_date"] <= cutoff).all())
    cols = [
        "month",
        "segment",
        "n_invoices_due",
        "amount_due",
        "amount_paid",
        "amount_recovered",
        "action_cost",
        *KPI_NAMES,
        "complete",
    ]
    order = {"B2B": 0, "B2C": 1, ALL: 2}
    res = res.assign(_o=res["segment"].map(order).fillna(3))
    return (
        res.sort_values(["month", "_o", "segment"]).drop(columns="_o")[cols].reset_index(drop=True)
    )


def kpi_summary(
    tables: dict[str, pd.DataFrame],
    config: KpiConfig | None = None,
    costs: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per (segment, KPI): the value over the complete period, the target, whether met.

    Columns: ``segment``, ``kpi``, ``label``, ``value``, ``shown``, ``target``, ``met``.
    """
    config = config or load_kpi_config()
    k = compute_kpis(tables, config, costs, by_month=False, complete_only=True)
    return summary_against_targets(k, config)


def summary_against_targets(kpis: pd.DataFrame, config: KpiConfig) -> pd.DataFrame:
    """Long form of a KPI table (one row per segment) next to the targets."""
    rows = []
    for r in kpis.to_dict("records"):
        for kpi in KPI_NAMES:
            if kpi not in r:
                continue
            v = r[kpi]
            v = None if v is None or pd.isna(v) else float(v)
            t = config.targets[kpi]  # type: ignore[index]
            rows.append(
                {
                    "segment": r["segment"],
                    "kpi": kpi,
                    "label": KPI_LABELS[kpi],
                    "value": np.nan if v is None else v,
                    "shown": format_kpi(kpi, v),
                    "target": t.describe(),
                    "met": t.met(v),
                }
            )
    return pd.DataFrame(
        rows, columns=["segment", "kpi", "label", "value", "shown", "target", "met"]
    )


# --------------------------------------------------------------------------------------
# KPIs from the audit trail (the service's decisions and reported outcomes)


def audit_engine(settings=None):
    """A SQLAlchemy engine on the audit trail, or None when there is none yet.

    Read-only use: opening it neither creates the database nor the HMAC key.
    """
    import sqlalchemy as sa

    from scoring.settings import get_settings

    s = settings or get_settings()
    if s.audit_url:
        return sa.create_engine(s.audit_url)
    path = Path(s.home).resolve() / "audit.db"
    if not path.exists():
        return None
    return sa.create_engine(f"sqlite:///{path}")


AUDIT_COLUMNS = [
    "decision_id",
    "decided_at",
    "as_of",
    "month",
    "segment",
    "department",
    "open_amount",
    "action",
    "propensity",
    "requires_review",
    "removed",
    "model_versions",
    "has_outcome",
    "executed_at",
    "outcome",
    "paid_amount",
    "paid_at",
    "dispute",
    "complaint",
]


def read_audit_decisions(engine, since=None, until=None) -> pd.DataFrame:
    """One row per audited decision with its last reported outcome (columns :data:`AUDIT_COLUMNS`).

    ``segment``, ``department`` and ``open_amount`` come from the stored case; ``removed`` is
    the list of ``{action, rules}`` the compliance rules removed (from the stored response).
    ``since``/``until`` filter on ``as_of``. An engine of None gives an empty frame.
    """
    import sqlalchemy as sa

    from scoring.audit import decisions, last_outcome_query, outcomes

    if engine is None:
        return _empty_audit()
    insp = sa.inspect(engine)
    if not insp.has_table("decisions"):
        return _empty_audit()
    q = last_outcome_query(
        [
            decisions.c.decision_id,
            decisions.c.decided_at,
            decisions.c.as_of,
            decisions.c.action,
            decisions.c.propensity,
            decisions.c.requires_review,
            decisions.c.model_versions,
            decisions.c.input,
            decisions.c.output,
            outcomes.c.outcome_id,
            outcomes.c.executed_at,
            outcomes.c.outcome,
            outcomes.c.paid_amount,
            outcomes.c.paid_at,
            outcomes.c.dispute,
            outcomes.c.complaint,
        ],
        None if since is None else pd.Timestamp(since).to_pydatetime(),
        None if until is None else pd.Timestamp(until).to_pydatetime(),
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    if not rows:
        return _empty_audit()
    df = pd.DataFrame(rows)
    inp = df["input"].map(lambda d: d if isinstance(d, dict) else {})
    out = df["output"].map(lambda d: d if isinstance(d, dict) else {})
    res = pd.DataFrame(
        {
            "decision_id": df["decision_id"].astype(str),
            "decided_at": pd.to_datetime(df["decided_at"]).dt.tz_localize("UTC"),
            "as_of": pd.to_datetime(df["as_of"]).dt.tz_localize("UTC"),
            "segment": inp.map(lambda d: (d.get("debtor") or {}).get("segment")).astype(str),
            "department": inp.map(lambda d: (d.get("debtor") or {}).get("department")).astype(str),
            "open_amount": inp.map(
                lambda d: float(sum(float(i.get("amount", 0)) for i in d.get("open_invoices", [])))
            ),
            "action": df["action"].astype(str),
            "propensity": df["propensity"].astype(float),
            "requires_review": df["requires_review"].astype(bool),
            "removed": out.map(lambda d: list(d.get("removed") or [])),
            "model_versions": df["model_versions"],
            "has_outcome": df["outcome_id"].notna(),
            "executed_at": pd.to_datetime(df["executed_at"]).dt.tz_localize("UTC"),
            "outcome": df["outcome"].astype(object).where(df["outcome"].notna(), None),
            "paid_amount": pd.to_numeric(df["paid_amount"], errors="coerce").astype(float),
            "paid_at": pd.to_datetime(df["paid_at"]),
            "dispute": df["dispute"].astype("boolean").fillna(False).astype(bool),
            "complaint": df["complaint"].astype("boolean").fillna(False).astype(bool),
        }
    )
    local = res["as_of"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None)
    res["month"] = _month(local)
    return res[AUDIT_COLUMNS]


def _empty_audit() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS})


def audit_kpis(
    audit: pd.DataFrame, costs: dict[str, float] | None = None, by_month: bool = True
) -> pd.DataFrame:
    """The KPIs of the service's decisions with a reported outcome, per month and segment.

    On decisions with an outcome: ``recovery_rate`` = paid / open amount at the decision,
    ``unpaid_rate`` = 1 - recovery rate, ``days_to_pay`` = days from the decision to the
    payment (weighted by amount paid), ``cost_of_recovery`` = cost of the actions / amount paid,
    ``dispute_rate`` = share of reports with a dispute. Also ``n_decisions``, ``n_outcomes``,
    ``complaint_rate`` and ``review_rate`` (share of decisions flagged for human review).
    """
    costs = costs if costs is not None else default_costs()
    cols = [
        "month",
        "segment",
        "n_decisions",
        "n_outcomes",
        "open_amount",
        "paid_amount",
        *KPI_NAMES,
        "complaint_rate",
        "review_rate",
    ]
    if audit.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    a = audit.copy()
    a["month"] = a["month"] if by_month else ALL
    rep = a["has_outcome"].to_numpy(dtype=bool)
    paid = a["paid_amount"].fillna(0.0).to_numpy(dtype=float)
    as_of_day = a["as_of"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None).dt.normalize()
    days = (a["paid_at"] - as_of_day).dt.days.astype(float).clip(lower=0)
    has_pay = rep & (paid > 0) & days.notna().to_numpy()
    f = pd.DataFrame(
        {
            "month": a["month"].to_numpy(),
            "segment": a["segment"].to_numpy(),
            "one": 1.0,
            "rep": rep.astype(float),
            "open_rep": np.where(rep, a["open_amount"].to_numpy(dtype=float), 0.0),
            "paid_rep": np.where(rep, paid, 0.0),
            "pay_w": np.where(has_pay, paid, 0.0),
            "days_w": np.where(has_pay, days.fillna(0).to_numpy() * paid, 0.0),
            "cost_rep": np.where(
                rep, a["action"].map(costs).fillna(0.0).to_numpy(dtype=float), 0.0
            ),
            "dispute_rep": np.where(rep, a["dispute"].to_numpy(dtype=float), 0.0),
            "complaint_rep": np.where(rep, a["complaint"].to_numpy(dtype=float), 0.0),
            "review": a["requires_review"].to_numpy(dtype=float),
        }
    )
    g = _with_all(f).groupby(["month", "segment"])
    s = g.sum(numeric_only=True)
    res = pd.DataFrame(
        {
            "n_decisions": s["one"].astype("int64"),
            "n_outcomes": s["rep"].astype("int64"),
            "open_amount": s["open_rep"],
            "paid_amount": s["paid_rep"],
            "recovery_rate": _safe_div(s["paid_rep"], s["open_rep"]),
            "days_to_pay": _safe_div(s["days_w"], s["pay_w"]),
            "cost_of_recovery": _safe_div(s["cost_rep"], s["paid_rep"]),
            "dispute_rate": _safe_div(s["dispute_rep"], s["rep"]),
            "complaint_rate": _safe_div(s["complaint_rep"], s["rep"]),
            "review_rate": s["review"] / s["one"],
        }
    )
    res["unpaid_rate"] = 1.0 - res["recovery_rate"]
    return res.reset_index()[cols]


# --------------------------------------------------------------------------------------
# Chart and MLflow


def plot_kpis(
    kpis: pd.DataFrame, config: KpiConfig, path: Path, title: str = "Collection KPIs"
) -> Path:
    """One panel per KPI: a line per segment by month, the target dashed, incomplete months
    hollow."""
    fig = kpis_figure(kpis, config, title)
    fig.savefig(path, dpi=100)
    return path


def kpis_figure(kpis: pd.DataFrame, config: KpiConfig, title: str = "Collection KPIs"):
    """The KPI chart as a matplotlib Figure (see :func:`plot_kpis`)."""
    from scoring.reporting import new_figure

    fig, axes = new_figure((14, 7.5), 2, 3)
    months = sorted(kpis["month"].dropna().unique())
    x = {m: i for i, m in enumerate(months)}
    for ax, kpi in zip(axes.ravel(), KPI_NAMES, strict=False):
        scale = 100.0 if kpi in RATE_KPIS else 1.0
        for j, (seg, g) in enumerate(kpis.groupby("segment", sort=True)):
            g = g.sort_values("month")
            xs = g["month"].map(x).to_numpy()
            ys = g[kpi].to_numpy(dtype=float) * scale
            color = "k" if seg == ALL else f"C{j}"
            ax.plot(xs, ys, "-", color=color, lw=2 if seg == ALL else 1.2, label=seg)
            done = g["complete"].to_numpy(dtype=bool)
            ax.plot(xs[done], ys[done], "o", color=color, ms=3)
            ax.plot(xs[~done], ys[~done], "o", mfc="white", color=color, ms=4)
        t = config.targets.get(kpi)  # type: ignore[call-overload]
        shown = list(kpis.loc[kpis["complete"].to_numpy(dtype=bool), kpi].dropna() * scale)
        if t is not None and t.value is not None:
            ax.axhline(t.value * scale, color="red", ls="--", lw=1, label=f"target {t.describe()}")
            shown.append(t.value * scale)
        if shown:  # scale on complete months: immature cohorts would flatten the lines
            lo, hi = min(shown), max(shown)
            pad = 0.1 * (hi - lo) or 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(KPI_LABELS[kpi])
        ax.set_ylabel("%" if kpi in RATE_KPIS else "days")
        step = max(1, len(months) // 6)
        ax.set_xticks(range(0, len(months), step), months[::step], rotation=30, fontsize=8)
        ax.legend(fontsize=7)
    axes.ravel()[-1].axis("off")
    axes.ravel()[-1].text(
        0.0,
        0.5,
        "hollow markers: months whose horizons are\nnot fully observed (not compared with targets)",
        fontsize=9,
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def kpi_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """Flat MLflow metric names ``kpi_{segment}_{kpi}`` (and ``..._met`` as 0/1)."""
    out: dict[str, float] = {}
    for r in summary.to_dict("records"):
        if r["value"] == r["value"]:
            out[f"kpi_{r['segment']}_{r['kpi']}"] = float(r["value"])
        if r["met"] is not None:
            out[f"kpi_{r['segment']}_{r['kpi']}_met"] = float(bool(r["met"]))
    return out


def write_kpi_report(
    tables: dict[str, pd.DataFrame] | None,
    out_dir: str | Path,
    config: KpiConfig | None = None,
    audit: pd.DataFrame | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``kpis_by_month.csv``, ``kpis_summary.csv``, ``kpis.png`` (and the audit-based
    ``audit_kpis*.csv``/``audit_kpis.png`` when ``audit`` has rows) to ``out_dir``.

    Returns the frames and paths written (used by ``scoring kpis``).
    """
    from scoring.progress import bar

    config = config or load_kpi_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"paths": []}
    steps = [
        s
        for s, todo in (("data", tables is not None), ("audit", audit is not None and len(audit)))
        if todo
    ]
    done = iter(bar(steps, "KPIs", progress, unit="source"))
    if tables is not None:
        next(done)
        monthly = compute_kpis(tables, config)
        summary = kpi_summary(tables, config)
        monthly.to_csv(out / "kpis_by_month.csv", index=False)
        summary.to_csv(out / "kpis_summary.csv", index=False)
        plot_kpis(monthly, config, out / "kpis.png")
        res.update(monthly=monthly, summary=summary)
        res["paths"] += [out / "kpis_by_month.csv", out / "kpis_summary.csv", out / "kpis.png"]
    if audit is not None and len(audit):
        next(done)
        am = audit_kpis(audit)
        asum = summary_against_targets(audit_kpis(audit, by_month=False), config)
        am.to_csv(out / "audit_kpis_by_month.csv", index=False)
        asum.to_csv(out / "audit_kpis_summary.csv", index=False)
        plot_kpis(
            am.assign(complete=True),
            config,
            out / "audit_kpis.png",
            "KPIs of the service's decisions (reported outcomes)",
        )
        res.update(audit_monthly=am, audit_summary=asum)
        res["paths"] += [
            out / "audit_kpis_by_month.csv",
            out / "audit_kpis_summary.csv",
            out / "audit_kpis.png",
        ]
    for _ in done:  # close the bar
        pass
    return res
