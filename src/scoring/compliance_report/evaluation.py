"""The models under an alias scored on the test period of a data set; action mixes, rule
removals and human reviews from the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.compliance_report.fairness import (
    JUDGED_GROUPINGS,
    MODEL_KEYS,
    REPORT_BOOTSTRAP,
    department_group,
    disparities,
    group_metrics,
)


class ReportError(RuntimeError):
    """The report cannot be built (no model under the alias, no data to evaluate on, ...)."""


@dataclass
class Evaluation:
    """Scores of the models under the alias on the test period of a data set."""

    frame: pd.DataFrame  # segment, department, department_group, bucket, y_*, p_* per case
    X: pd.DataFrame
    cases: Any  # CaseSet of the test period
    data_dir: str


def evaluate_alias(bundle, ts, data_dir: str = "") -> Evaluation:
    """Probabilities of both risk models on the test period of a training set ``ts``."""
    idx = ts.period("test")
    if len(idx) == 0:
        raise ReportError("the data set has no test period to evaluate on")
    X = ts.X.iloc[idx].reset_index(drop=True)
    meta = ts.meta.iloc[idx].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "debtor_id": meta["debtor_id"].astype(str).to_numpy(),
            "as_of": meta["as_of"].to_numpy(),
            "segment": meta["segment"].astype(str).to_numpy(),
            "department": meta["department"].astype(str).to_numpy(),
            "department_group": department_group(meta["department"]),
            "bucket": meta["bucket"].astype(str).to_numpy(),
        }
    )
    labels = {"default_risk": "default", "dispute_risk": "dispute"}
    for key, model in bundle.risk_models.items():
        frame[f"y_{key}"] = ts.labels[labels[key]].to_numpy()[idx]
        frame[f"p_{key}"] = model.predict_proba(X)
    return Evaluation(frame, X, ts.cases.take(idx), data_dir)


def metrics_tables(
    ev: Evaluation,
    thresholds: dict[str, float],
    n_boot: int = REPORT_BOOTSTRAP,
    limits: dict[str, tuple[str, float]] | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per risk model: :func:`group_metrics` by segment, département group and days-past-due
    bucket, and its :func:`disparities`, those by segment and département group judged
    against ``limits`` (default :data:`~scoring.compliance_report.fairness.DISPARITY_LIMITS`;
    the bucket drives the risk by design)."""
    f = ev.frame
    groups = {
        "segment": f["segment"].to_numpy(),
        "department_group": f["department_group"].to_numpy(),
        "bucket": f["bucket"].to_numpy(),
    }
    out = {}
    for key in scored_keys(ev):
        y, p = f[f"y_{key}"].to_numpy(), f[f"p_{key}"].to_numpy()
        t = group_metrics(y, p, groups, thresholds[key], n_boot=n_boot)
        d = disparities(
            y, p, groups, thresholds[key], n_boot=n_boot, limits=limits, judged=JUDGED_GROUPINGS
        )
        out[key] = (t, d)
    return out


def default_thresholds(ev: Evaluation, threshold: float | None) -> dict[str, float]:
    """The flagging threshold per model: ``threshold`` if given, else the score quantile that
    flags as many cases as there are positives in the evaluation period (the top ``rate``)."""
    if threshold is not None:
        return dict.fromkeys(MODEL_KEYS, float(threshold))
    out = {}
    for k in scored_keys(ev):
        rate = float(ev.frame[f"y_{k}"].mean())
        out[k] = float(np.quantile(ev.frame[f"p_{k}"].to_numpy(), 1.0 - rate))
    return out


def scored_keys(ev: Evaluation) -> list[str]:
    """The risk models scored in ``ev`` (a model not served under the alias is absent)."""
    return [k for k in MODEL_KEYS if f"p_{k}" in ev.frame]


def policy_action_mix(bundle, ev: Evaluation) -> pd.DataFrame:
    """Share of each action the policy recommends (greedy) on the evaluation cases, by segment.

    Columns: ``action`` then one column per segment and ``all``.
    """
    if bundle.policy is None:
        return pd.DataFrame(columns=["action"])
    dec = bundle.policy.recommend(ev.cases, ev.X, explore=False).decisions
    return _mix(dec["action"].astype(str), ev.cases.cases["segment"].astype(str))


def _mix(action: pd.Series, segment: pd.Series) -> pd.DataFrame:
    a = pd.Series(np.asarray(action, dtype=object), name="action")
    s = pd.Series(np.asarray(segment, dtype=object), name="segment")
    t = pd.crosstab(a, s, normalize="columns")
    t["all"] = a.value_counts(normalize=True).reindex(t.index).fillna(0.0)
    t.columns.name = None
    return t.reset_index().sort_values("all", ascending=False).reset_index(drop=True)


def audit_action_mix(audit: pd.DataFrame) -> pd.DataFrame:
    """Share of each action among the audited decisions, by segment (columns as
    :func:`policy_action_mix`)."""
    if audit.empty:
        return pd.DataFrame(columns=["action"])
    return _mix(audit["action"], audit["segment"])


#: Rules decided per (case, action), whatever the slot (CONTRACT §4; see
#: :func:`scoring.policy.rules._violation_masks`): missing consent (R3), an open dispute (R5),
#: an unresolved contest (R9). When one of them fails on some candidate slot of an action, it
#: fails on every slot, so it removed the action on its own.
SLOT_INDEPENDENT_RULES = frozenset({"R3_consent", "R5_open_dispute", "R9_contest_pause"})

#: How a rule took part in the removal of an action (see :func:`removal_attribution`).
REMOVAL_ROLES = ("alone", "main", "partial", "shadowed")


def removal_attribution(item: dict[str, Any]) -> dict[str, str]:
    """The role of each rule recorded on one removed action (an item of a decision's
    ``removed`` list: ``{"action", "rules"}``), rule id -> role.

    The policy records, per removed action, every rule that was the *first* failing rule
    (in :data:`scoring.policy.rules.RULE_IDS` order) on some of its candidate slots, most
    slots first. ``R1_sunday_holiday`` comes early in that order, so it is recorded on the
    Sunday slots of nearly every removed action even when another rule (consent, say) fails
    on every slot. Roles:

    * ``alone``: the rule removed the action by itself: a rule of
      :data:`SLOT_INDEPENDENT_RULES` (it fails on every slot), the only rule recorded, or a
      rule of an explicit ``blocked_by`` list (rules failing on every slot, when the
      decision records one);
    * ``main``: no rule blocks every slot as far as the record shows; this one removed
      most slots, the others the rest;
    * ``partial``: removed some slots only, the ``main`` rule most of them;
    * ``shadowed``: recorded on some slots, but a rule that fails on every slot removed the
      action anyway (its own verdict changed nothing).
    """
    rules = [str(r) for r in (item.get("rules") or [])]
    blocked = [str(r) for r in (item.get("blocked_by") or [])]
    alone = blocked or [r for r in rules if r in SLOT_INDEPENDENT_RULES]
    if alone:
        return {r: "alone" for r in alone} | {r: "shadowed" for r in rules if r not in alone}
    if len(rules) == 1:
        return {rules[0]: "alone"}
    return {r: ("main" if i == 0 else "partial") for i, r in enumerate(rules)}


def rule_removals(audit: pd.DataFrame) -> pd.DataFrame:
    """Which compliance rules removed actions, from the audited decisions, each removed
    action attributed by :func:`removal_attribution`.

    One row per rule: ``decisions`` (audited decisions where it removed at least one action,
    alone or as the main rule), ``share`` (of all audited decisions), ``alone``, ``main``,
    ``partial`` and ``shadowed`` (removed actions per role) and ``actions`` (the actions it
    removed alone or as the main rule, most often first, with counts).
    """
    cols = ["rule", "decisions", "share", *REMOVAL_ROLES, "actions"]
    if audit.empty:
        return pd.DataFrame(columns=cols)
    per_rule: dict[str, dict[str, Any]] = {}
    for removed in audit["removed"]:
        seen: set[str] = set()
        for item in removed or []:
            for rule, role in removal_attribution(item).items():
                d = per_rule.setdefault(
                    rule, {"decisions": 0, "actions": {}, **dict.fromkeys(REMOVAL_ROLES, 0)}
                )
                d[role] += 1
                if role not in ("alone", "main"):
                    continue
                act = str(item.get("action"))
                d["actions"][act] = d["actions"].get(act, 0) + 1
                if rule not in seen:
                    d["decisions"] += 1
                    seen.add(rule)
    n = len(audit)
    rows = [
        {
            "rule": rule,
            "decisions": d["decisions"],
            "share": d["decisions"] / n,
            **{role: d[role] for role in REMOVAL_ROLES},
            "actions": ", ".join(
                f"{a} ({c})" for a, c in sorted(d["actions"].items(), key=lambda x: (-x[1], x[0]))
            ),
        }
        for rule, d in per_rule.items()
    ]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(
        ["decisions", "alone", "rule"], ascending=[False, False, True]
    ).reset_index(drop=True)


def review_summary(audit: pd.DataFrame) -> pd.DataFrame:
    """Decisions flagged for human review (``requires_review``, GDPR art. 22) per segment and
    action. Columns: ``segment``, ``action``, ``decisions``, ``flagged``, ``share``; a last
    row ``all``/``all`` holds the totals."""
    cols = ["segment", "action", "decisions", "flagged", "share"]
    if audit.empty:
        return pd.DataFrame(columns=cols)
    a = audit.assign(flag=audit["requires_review"].astype(bool).astype(int))
    g = a.groupby(["segment", "action"]).agg(decisions=("flag", "size"), flagged=("flag", "sum"))
    g = g.reset_index()
    g = g[g["flagged"] > 0]
    total = pd.DataFrame(
        [{"segment": "all", "action": "all", "decisions": len(a), "flagged": int(a["flag"].sum())}]
    )
    out = pd.concat([g, total], ignore_index=True)
    out["share"] = out["flagged"] / out["decisions"]
    return out[cols]
