"""The cash forecast: expected cash-in per week from the open invoices, with intervals, by
segment; the amount expected never to be paid; the DSO forecast.

**What is forecast.** The open book at ``as_of`` (CONTRACT §3: unpaid, not in litigation, due
within 15 days or overdue): the invoices the collection service works on, each with its
payment-week distribution from the hazard model. Invoices due later are not in it (their
amount is reported as ``not_yet_open_amount``) and new invoices are not forecast.

**Dependence.** The payment times of one debtor's invoices are not independent (a debtor in
trouble pays none of them), and a shock can hit the whole portfolio (a holiday week, a crisis).
The intervals come from a Gaussian copula: invoice ``i`` of debtor ``d`` is paid in the week
where its cumulative distribution crosses ``Phi(sqrt(a) G + sqrt(rho - a) D_d + sqrt(1 - rho)
e_i)``, with ``G`` common to all invoices, ``D_d`` common to the debtor's invoices and ``e_i``
the invoice's own. ``rho`` (between two invoices of one debtor) and ``a`` (between invoices of
two debtors) are estimated by ``scoring train`` on the calibration period from the normal
scores of the observed payment weeks, and logged. The expected amounts do not depend on them.

**DSO.** Days sales outstanding by the count-through-constant-sales formula: receivables /
mean daily invoiced amount of the 90 days before ``as_of``. Forecast at each week's end with
sales continuing at that rate: the open book's expected remainder (from the model), the invoices
not yet open and the new ones running off like the portfolio's invoices of the past year (share
of amount still unpaid by age since issue, measured before ``as_of``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from scoring.cases import CaseSet, as_of_day, build_cases
from scoring.features import feature_arrays
from scoring.invoices.features import invoice_matrix
from scoring.invoices.model import InvoiceModels

QUANTILES = {"p2_5": 0.025, "p10": 0.10, "p90": 0.90, "p97_5": 0.975}


def weekly_distribution(dist: np.ndarray, weeks: int) -> np.ndarray:
    """``(n, K + 1)`` -> ``(n, weeks + 1)``: beyond the model's horizon, the last week's
    hazard continues; the last column is "not paid within ``weeks`` weeks"."""
    K = dist.shape[1] - 1
    if weeks <= K:
        return np.column_stack([dist[:, :weeks], dist[:, weeks:].sum(axis=1)])
    S_last = dist[:, K - 1] + dist[:, K]  # P(T >= week K-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(S_last > 0, dist[:, K - 1] / S_last, 0.0)
    extra = []
    S = dist[:, K].copy()
    for _ in range(weeks - K):
        extra.append(S * h)
        S = S * (1 - h)
    return np.column_stack([dist[:, :K], *extra, S])


@dataclass
class CashForecast:
    as_of: pd.Timestamp
    weekly: pd.DataFrame  # segment x week: expected cash-in and quantiles
    summary: dict[str, float]
    dso: pd.DataFrame  # week, dso
    invoices: pd.DataFrame  # the book: invoice_id, debtor_id, segment, amount, expected week ...


def simulate_weekly(
    wdist: np.ndarray, amount: np.ndarray, debtor: np.ndarray, rho: float, common: float,
    sims: int, seed: int = 0, chunk: int = 200,
) -> np.ndarray:  # fmt: skip
    """``(sims, weeks)`` simulated cash-in of the book per week (see the module docstring)."""
    n, W1 = wdist.shape
    W = W1 - 1
    rng = np.random.default_rng(seed)
    _, d = np.unique(debtor, return_inverse=True)
    nd = int(d.max()) + 1 if n else 0
    a = float(np.clip(common, 0.0, 0.99))
    r = float(np.clip(rho, a, 0.99))
    cum = np.cumsum(wdist[:, :W], axis=1)
    out = np.zeros((sims, W))
    for start in range(0, sims, chunk):
        m = min(chunk, sims - start)
        G = rng.standard_normal((m, 1))
        D = rng.standard_normal((m, nd))[:, d]
        E = rng.standard_normal((m, n))
        u = norm.cdf(np.sqrt(a) * G + np.sqrt(r - a) * D + np.sqrt(1 - r) * E)  # (m, n)
        week = (u[:, :, None] > cum[None, :, :]).sum(axis=2)  # (m, n), W = not paid
        for s in range(m):
            out[start + s] = np.bincount(week[s], weights=amount, minlength=W + 1)[:W]
    return out


def _runoff_curve(tables: dict[str, pd.DataFrame], day: pd.Timestamp, max_age: int) -> np.ndarray:
    """Share of invoiced amount still unpaid ``a`` days after issue, ``a = 0 .. max_age``,
    from the invoices issued in the year before ``day`` (facts before ``day`` only)."""
    inv = tables["invoices"]
    inv = inv[(inv["issue_date"] < day) & (inv["issue_date"] >= day - pd.Timedelta(days=365))]
    issue = (inv["issue_date"] - day).dt.days.to_numpy()  # negative
    paid = inv["paid_date"].where(inv["paid_date"] < day)
    paid_age = (paid - inv["issue_date"]).dt.days.to_numpy(dtype=float)
    amount = inv["amount"].to_numpy(dtype=float)
    known_until = -issue  # ages observed up to this
    curve = np.ones(max_age + 1)
    for a in range(max_age + 1):
        m = known_until > a
        if not m.any():
            curve[a:] = curve[a - 1] if a else 1.0
            break
        unpaid = ~(paid_age[m] <= a)
        curve[a] = float((amount[m] * unpaid).sum() / amount[m].sum())
    return np.minimum.accumulate(curve)


def cash_forecast(
    models: InvoiceModels, tables: dict[str, pd.DataFrame], as_of, weeks: int = 13,
    sims: int = 1000, seed: int = 0, cs: CaseSet | None = None,
) -> CashForecast:  # fmt: skip
    """The forecast of the module docstring at ``as_of`` from the tables (facts before it)."""
    ts = pd.Timestamp(as_of)
    day = as_of_day(ts)
    cs = cs if cs is not None else build_cases(tables, ts)
    M = invoice_matrix(cs, feature_arrays(cs))
    dist = models.distribution(M)
    wdist = weekly_distribution(dist, weeks)
    amount = M.amount
    debtor = cs.cases["debtor_id"].astype(str).to_numpy()[M.case]
    segment = cs.cases["segment"].astype(str).to_numpy()[M.case]
    common = float(models.info.get("rho_common", 0.0))
    sim = simulate_weekly(wdist, amount, debtor, models.rho, common, sims, seed)
    starts = [(day + pd.Timedelta(days=7 * w)).date() for w in range(weeks)]
    rows = []
    for seg in ["all", *sorted(set(segment))]:
        m = np.ones(len(amount), bool) if seg == "all" else segment == seg
        exp = (wdist[m, :weeks] * amount[m, None]).sum(axis=0)
        s = (
            sim
            if seg == "all"
            else simulate_weekly(wdist[m], amount[m], debtor[m], models.rho, common, sims, seed)
        )
        for w in range(weeks):
            r = {"segment": seg, "week": w + 1, "week_start": starts[w], "expected": exp[w]}
            r.update({k: float(np.quantile(s[:, w], q)) for k, q in QUANTILES.items()})
            rows.append(r)
    weekly = pd.DataFrame(rows)
    p_default = models.default_raw(M, dist)
    inv = cs.invoices
    book = pd.DataFrame(
        {
            "invoice_id": inv["invoice_id"].astype(str).to_numpy(),
            "debtor_id": debtor,
            "segment": segment,
            "amount": amount,
            "due_date": inv["due_date"].to_numpy(),
            "p_paid_within": 1.0 - wdist[:, weeks],
            "expected_cash": (wdist[:, :weeks] * amount[:, None]).sum(axis=1),
            "p_unpaid_90d_after_due": p_default,
        }
    )
    total = sim.sum(axis=1)
    summary = {
        "open_amount": float(amount.sum()),
        "open_invoices": float(len(amount)),
        "expected_cash_in": float(book["expected_cash"].sum()),
        "cash_in_p10": float(np.quantile(total, 0.10)),
        "cash_in_p90": float(np.quantile(total, 0.90)),
        "expected_unpaid_after_horizon": float((wdist[:, weeks] * amount).sum()),
        "expected_never_paid": float((p_default * amount).sum()),
        "rho_debtor": float(models.rho),
        "rho_common": common,
    }
    dso, extra = dso_forecast(tables, day, dist, amount, weeks)
    summary.update(extra)
    return CashForecast(ts, weekly, summary, dso, book)


def dso_forecast(
    tables: dict[str, pd.DataFrame], day: pd.Timestamp, dist: np.ndarray, amount: np.ndarray,
    weeks: int,
) -> tuple[pd.DataFrame, dict[str, float]]:  # fmt: skip
    """DSO now and at each week's end (module docstring)."""
    from scoring.invoices.model import survival_at

    inv = tables["invoices"]
    issued = inv["issue_date"] < day
    unpaid = ~(inv["paid_date"] < day).fillna(False)
    not_legal = ~(inv["legal_date"] < day).fillna(False)
    ar = inv[issued & unpaid & not_legal]
    later = ar[ar["due_date"] > day + pd.Timedelta(days=15)]
    recent = inv[issued & (inv["issue_date"] >= day - pd.Timedelta(days=90))]
    rate = float(recent["amount"].sum()) / 90.0
    ar_now = float(ar["amount"].sum())
    max_age = 7 * weeks + 400
    curve = _runoff_curve(tables, day, max_age)
    ages = (day - later["issue_date"]).dt.days.to_numpy().clip(0, max_age)
    later_amount = later["amount"].to_numpy(dtype=float)
    recs = [{"week": 0, "date": day.date(), "receivables": ar_now}]
    for w in range(1, weeks + 1):
        t = 7 * w
        open_left = float((survival_at(dist, np.full(len(dist), t - 1.0)) * amount).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(
                curve[ages] > 0, curve[np.minimum(ages + t, max_age)] / curve[ages], 0.0
            )
        later_left = float((later_amount * ratio).sum())
        new_left = rate * float(curve[:t].sum())
        recs.append(
            {
                "week": w,
                "date": (day + pd.Timedelta(days=t)).date(),
                "receivables": open_left + later_left + new_left,
            }
        )
    df = pd.DataFrame(recs)
    df["dso"] = df["receivables"] / rate if rate > 0 else np.nan
    return df, {
        "receivables": ar_now,
        "not_yet_open_amount": float(later_amount.sum()),
        "daily_sales": rate,
        "dso_now": float(df["dso"].iloc[0]),
        "dso_forecast_end": float(df["dso"].iloc[-1]),
    }


def realized_cash(
    book: pd.DataFrame, tables: dict[str, pd.DataFrame], as_of, weeks: int
) -> np.ndarray:
    """What the book's invoices actually paid per week after ``as_of`` (from the full tables)."""
    day = as_of_day(pd.Timestamp(as_of))
    paid = book[["invoice_id", "amount"]].merge(
        tables["invoices"][["invoice_id", "paid_date"]], on="invoice_id", how="left"
    )
    k = ((paid["paid_date"] - day).dt.days // 7).to_numpy(dtype=float)
    ok = ~np.isnan(k) & (k >= 0) & (k < weeks)
    return np.bincount(k[ok].astype(int), weights=paid["amount"].to_numpy()[ok], minlength=weeks)
