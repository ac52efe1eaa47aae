"""The policy against the synthetic world's ground truth, and analyses for the policy notebook.

:func:`compare_with_ladder_and_oracle` evaluates, for cases at one instant of a synthetic data
set, the true expected 14-day reward (CONTRACT §3) of the learned policy (greedy), the ladder
(the logging policy without exploration), always-wait and the best compliant action per case
(the oracle), using :meth:`scoring.synthetic.SyntheticWorld.true_action_values`. The lookup of
a chosen (action, slot) in the truth grid is :func:`lookup_true_value` (also used by
``benchmarks/bench_policy.py``'s logic).

:func:`crossfit_oracle` values the oracle without the upward bias of taking a maximum of Monte
Carlo means (its choice is made on one set of replicas and valued on another).

:func:`held_out_evaluation` gives the off-policy estimates of a policy on the logged decisions
after an instant; :func:`action_mix_by` the policy's action mix by segment or days past due.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.calendar import local_times
from scoring.cases import CaseSet
from scoring.contract import HARSH_ACTIONS

#: the synthetic world's default slot grid (local hours)
GRID_HOURS = ["09:00", "12:00", "15:00", "18:00"]
HARSH = HARSH_ACTIONS


def lookup_true_value(
    truth: pd.DataFrame, chosen: pd.DataFrame, departments: pd.Series
) -> pd.DataFrame:
    """True value of each debtor's chosen (action, local day, nearest grid hour).

    ``truth`` is the output of ``true_action_values``; ``chosen`` has ``debtor_id, action,
    scheduled_at``; ``departments`` maps debtor id to département. Returns ``debtor_id,
    action, value, harm, compliant`` (NaN/None where the slot is outside the world's grid).
    """
    t = truth.copy()
    lt = local_times(t["scheduled_at"], departments.reindex(t["debtor_id"]).to_numpy())
    t["day"] = lt.dt.normalize()
    t["hour"] = lt.dt.hour
    c = chosen.copy()
    lc = local_times(
        pd.to_datetime(c["scheduled_at"], utc=True), departments.reindex(c["debtor_id"]).to_numpy()
    )
    c["day"] = lc.dt.normalize()
    grid = np.array([int(h[:2]) for h in GRID_HOURS])
    c["hour"] = [grid[np.argmin(np.abs(grid - h))] if h == h else np.nan for h in lc.dt.hour]
    wait_t = t[t["action"] == "wait"].set_index("debtor_id")
    contact_t = t[t["action"] != "wait"].set_index(["debtor_id", "action", "day", "hour"])
    rows = []
    for r in c.itertuples():
        if r.action == "wait":
            tr = wait_t.loc[r.debtor_id]
        else:
            key = (r.debtor_id, r.action, r.day, r.hour)
            if key not in contact_t.index:  # outside the world's slot grid: not evaluated
                rows.append((r.debtor_id, r.action, np.nan, np.nan, None))
                continue
            tr = contact_t.loc[key]
        rows.append(
            (  # type: ignore[arg-type]
                r.debtor_id,
                r.action,
                float(tr["expected_reward"]),
                float(tr["p_dispute_or_complaint"]),
                bool(tr["compliant"]),
            )
        )
    return pd.DataFrame(rows, columns=["debtor_id", "action", "value", "harm", "compliant"])


def crossfit_oracle(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Truth averaged over two independent replica sets, and the cross-fitted oracle.

    ``a`` and ``b`` are outputs of ``true_action_values`` for the same debtors, instant and
    slots on disjoint replicas (``first_replica``). The best compliant (action, slot) per case
    picked on the Monte Carlo means of one set is an upward-biased estimate of its value on that
    set (the maximum of noisy means); valued on the other set it is not. The oracle's choice is
    made on each set and valued on the other, and the two are averaged. Returns the averaged
    truth (same rows as ``a``) and, per debtor with a compliant row, ``value`` and ``harm``.
    """
    key = ["debtor_id", "action", "scheduled_at"]
    if len(a) != len(b) or not a[key].reset_index(drop=True).equals(b[key].reset_index(drop=True)):
        raise ValueError("the two truth tables do not list the same (case, action, slot) rows")
    b = b.set_index(a.index)
    avg = a.copy()
    for c in ("expected_reward", "p_dispute_or_complaint"):
        avg[c] = (a[c] + b[c]) / 2
    ok = (a["has_case"] & a["compliant"]).to_numpy()
    ca, cb = a[ok], b[ok]
    pick_a = ca.groupby("debtor_id")["expected_reward"].idxmax()
    pick_b = cb.groupby("debtor_id")["expected_reward"].idxmax()
    ia = pick_a.to_numpy()
    ib = pick_b.reindex(pick_a.index).to_numpy()
    oracle = pd.DataFrame(
        {
            c: (b.loc[ia, col].to_numpy() + a.loc[ib, col].to_numpy()) / 2
            for c, col in (("value", "expected_reward"), ("harm", "p_dispute_or_complaint"))
        },
        index=pick_a.index,
    )
    return avg, oracle


@dataclass
class LadderOracleComparison:
    """Per-case true values of each strategy and the summary."""

    per_case: pd.DataFrame  # debtor_id x strategy: value, harm, action
    summary: pd.DataFrame  # strategy: value per case, harm rate, harsh actions
    gap_captured: float | None  # (policy - ladder) / (oracle - ladder)
    as_of: pd.Timestamp


def compare_with_ladder_and_oracle(
    policy,
    world,
    tables: dict[str, pd.DataFrame],
    as_of: pd.Timestamp,
    n_cases: int = 60,
    n_replicas: int = 8,
    seed: int = 0,
) -> LadderOracleComparison:
    """True 14-day value per case of the greedy policy, the ladder, always-wait and the oracle.

    Cases are ``n_cases`` debtors drawn among the cases at ``as_of``; the policy is evaluated on
    the world's slot grid (``GRID_HOURS``, next 7 days) so that every choice has a true value.
    """
    from scoring.cases import build_cases
    from scoring.features import features

    cs_all = build_cases(tables, as_of)
    if len(cs_all) == 0:
        raise ValueError(f"no case at {as_of}")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(cs_all), min(n_cases, len(cs_all)), replace=False))
    cs = cs_all.take(pick)
    X = features(cs)
    ids = cs.cases["debtor_id"].astype(str).tolist()
    deps = pd.Series(cs.cases["department"].astype(str).to_numpy(), index=ids)
    truth = world.true_action_values(ids, as_of, n_replicas=n_replicas)
    truth = truth[truth["has_case"]]
    comp = truth[truth["compliant"]]
    oracle = comp.loc[comp.groupby("debtor_id")["expected_reward"].idxmax()].set_index("debtor_id")
    wait = truth[truth["action"] == "wait"].set_index("debtor_id")
    ladder = lookup_true_value(truth, world.ladder_action(ids, as_of), deps).set_index("debtor_id")
    cfg = policy.config.with_overrides({"slots": {"hours": GRID_HOURS, "days_ahead": 6}})
    dec = policy.with_config(cfg).recommend(cs, X, explore=False).decisions
    greedy = lookup_true_value(truth, dec[["debtor_id", "action", "scheduled_at"]], deps)
    greedy = greedy.set_index("debtor_id")
    common = oracle.index.intersection(greedy.index.dropna()).intersection(ladder.index)
    common = common[greedy.loc[common, "value"].notna().to_numpy()]
    per_case = pd.DataFrame(
        {
            "policy_action": greedy.loc[common, "action"],
            "policy": greedy.loc[common, "value"],
            "ladder_action": ladder.loc[common, "action"],
            "ladder": ladder.loc[common, "value"],
            "always_wait": wait.loc[common, "expected_reward"],
            "oracle_action": oracle.loc[common, "action"],
            "oracle": oracle.loc[common, "expected_reward"],
        }
    )
    harm = {
        "policy": greedy.loc[common, "harm"],
        "ladder": ladder.loc[common, "harm"],
        "always_wait": wait.loc[common, "p_dispute_or_complaint"],
        "oracle": oracle.loc[common, "p_dispute_or_complaint"],
    }
    actions = {
        "policy": per_case["policy_action"],
        "ladder": per_case["ladder_action"],
        "always_wait": pd.Series("wait", index=common),
        "oracle": per_case["oracle_action"],
    }
    summary = pd.DataFrame(
        {
            "value_per_case_eur": [per_case[s].mean() for s in harm],
            "harm_rate": [harm[s].mean() for s in harm],
            "harsh_actions": [int(actions[s].isin(HARSH).sum()) for s in harm],
        },
        index=pd.Index(list(harm), name="strategy"),
    )
    gap = summary.loc["oracle", "value_per_case_eur"] - summary.loc["ladder", "value_per_case_eur"]
    captured = (
        float(
            (
                summary.loc["policy", "value_per_case_eur"]
                - summary.loc["ladder", "value_per_case_eur"]
            )
            / gap
        )
        if gap > 0
        else None
    )
    return LadderOracleComparison(per_case, summary, captured, pd.Timestamp(as_of))


def held_out_evaluation(policy, tables: dict[str, pd.DataFrame], since: pd.Timestamp):
    """Off-policy estimates of ``policy`` on the logged decisions decided at or after ``since``.

    Returns ``(estimates, action mix)`` of :func:`scoring.policy.train.evaluate_policy`.
    """
    from scoring.policy.train import evaluate_policy, logged_decisions

    d = logged_decisions(tables, policy.config)
    _, later = d.split_at(pd.Timestamp(since))
    if len(later) == 0:
        raise ValueError(f"no logged decision with an observable reward after {since}")
    return evaluate_policy(policy, later)


def action_mix_by(policy, cs: CaseSet, X: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """Share of each recommended action (greedy) per ``segment`` or ``dpd_bucket``."""
    from scoring.models.dataset import dpd_bucket

    dec = policy.recommend(cs, X, explore=False).decisions
    if by == "segment":
        key = cs.cases["segment"].astype(str).to_numpy()
    elif by == "dpd_bucket":
        key = np.asarray(dpd_bucket(X["max_days_past_due"]).astype(str))
    else:
        raise ValueError("by must be 'segment' or 'dpd_bucket'")
    return pd.crosstab(
        pd.Series(dec["action"].astype(str).to_numpy(), name="action"),
        pd.Series(key, name=by),
        normalize="columns",
    )
