"""Choosing the effect learner on the customer's own log (off-policy validation).

Every candidate learner (:data:`scoring.policy.learners.LEARNERS`) is fitted on the earlier
part of the history; each resulting policy is valued on the later part by the doubly robust
off-policy estimator with a cross-fitted outcome model (:func:`scoring.policy.evaluate.crossfit_q`)
and a bootstrap confidence interval. The rule:

* the *reference* learner (``Policy(prior=...)``, by default the one that did best across
  our benchmark worlds) is kept unless another candidate beats it on this log: its paired
  doubly robust difference (same decisions, same outcome model) has an interval above 0
  (bootstrap over debtors, 95 % with a Bonferroni correction for the number of candidates),
  and so does its importance-weighted (IPS) difference, which does not involve the outcome
  model (the DR difference alone favoured learners built like the outcome model: it switched
  to a truly worse learner on two of fourteen benchmark worlds);
* among the candidates that beat it, the one with the best estimate is kept.

Off-policy estimates of policies that differ mostly on rarely explored actions are noisy;
switching away from a learner that works across worlds only on significant evidence keeps
the noise from choosing. Nothing about where the data came from is used: the same code
chooses on every portfolio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.policy.config import PolicyConfig
from scoring.policy.evaluate import crossfit_q, paired_difference, policy_value

#: coarser slot grid for the off-policy comparison: the estimate is per action (a logged slot
#: is never exactly the candidate's), so a finer grid only costs time here
OPE_SLOT_HOURS = ("09:00", "11:00", "14:00", "17:00", "19:00")
MAX_VALID_DECISIONS = 30000


@dataclass
class Selection:
    chosen: str
    table: pd.DataFrame  # one row per learner: estimates and CIs on the validation period
    fitted: dict  # learner -> Policy fitted on the earlier part
    valid_from: pd.Timestamp


def time_split(history, fraction: float):
    """The history before and after the instant that leaves ``fraction`` of decisions later."""
    t = pd.to_datetime(history.log["decided_at"], utc=True)
    cut = t.quantile(1 - fraction)
    early, late = history.split_at(cut)
    return early, late, cut


def select_learner(history, config: PolicyConfig, template, progress: bool = False) -> Selection:
    """Fit each of ``template.candidates`` on the early history, value them on the later."""
    from scoring.policy.history import arm_data
    from scoring.policy.learners import ENSEMBLE_MEMBERS, EnsembleLearner, make_learner
    from scoring.policy.reach import ReachModel
    from scoring.policy.recommend import Policy

    early, late, cut = time_split(history, template.valid_fraction)
    if len(early) < 200 or len(late) < 100:
        raise ValueError(
            f"too few decisions to choose a learner ({len(early)} before {cut:%Y-%m-%d}, "
            f"{len(late)} after; need 200 and 100)"
        )
    if len(late) > MAX_VALID_DECISIONS:
        keep = np.sort(
            np.random.default_rng(0).choice(len(late), MAX_VALID_DECISIONS, replace=False)
        )
        late = late.take(keep)
    reach = ReachModel.fit_history(early)
    data = arm_data(early, reach)
    ope_config = config.with_overrides({"slots": {"hours": list(OPE_SLOT_HOURS)}})
    Q = crossfit_q(late, config, earlier=early)
    rows, fitted, terms, ips_terms = [], {}, {}, {}  # type: ignore[var-annotated]
    # the ensemble last: it reuses its members when they are candidates too
    names = sorted(template.candidates, key=lambda c: c == "ensemble")
    if progress:
        from tqdm.auto import tqdm

        names = tqdm(names, desc="policy learners", unit="learner")
    for name in names:
        t0 = time.perf_counter()
        p = Policy(config, learner=name, per_debtor_reach=template.per_debtor_reach)
        p.reach_ = reach
        if name == "ensemble" and all(m in fitted for m in ENSEMBLE_MEMBERS):
            # the members were fitted on the same rows just above
            p.effects_ = EnsembleLearner.from_members(
                [fitted[m].effects_ for m in ENSEMBLE_MEMBERS]
            )
        else:
            p.effects_ = make_learner(name).fit(data)
        p.info_ = {"learner": name}
        fit_s = time.perf_counter() - t0
        est = policy_value(p.with_config(ope_config), late, Q)
        fitted[name] = p
        terms[name] = est["terms"]
        ips_terms[name] = est["ips_terms"]
        rows.append(
            {
                "learner": name,
                "dr": est["dr"],
                "dr_ci_low": est["dr_ci_low"],
                "dr_ci_high": est["dr_ci_high"],
                "snips": est["snips"],
                "dm": est["dm"],
                "logging": est["logging"],
                "ess": est["ess"],
                "fit_seconds": fit_s,
            }
        )
    table = pd.DataFrame(rows)
    ref = (
        template.prior
        if template.prior in terms
        else str(table.loc[table["dr"].idxmax(), "learner"])
    )
    # debtor-clustered bootstrap, Bonferroni over the candidates compared with the reference
    level = 1.0 - 0.05 / max(len(table) - 1, 1)
    groups = late.log["debtor_id"].astype(str).to_numpy()
    diffs = [
        paired_difference(terms[name], terms[ref], groups=groups, level=level)
        for name in table["learner"]
    ]
    ips = [
        paired_difference(ips_terms[name], ips_terms[ref], groups=groups, level=level)
        for name in table["learner"]
    ]
    table["diff_vs_reference"] = [d["diff"] for d in diffs]
    table["diff_ci_low"] = [d["low"] for d in diffs]
    table["diff_ci_high"] = [d["high"] for d in diffs]
    table["ips_diff_vs_reference"] = [d["diff"] for d in ips]
    table["ips_diff_ci_low"] = [d["low"] for d in ips]
    table["ips_diff_ci_high"] = [d["high"] for d in ips]
    better = table[
        (table["learner"] != ref) & (table["diff_ci_low"] > 0) & (table["ips_diff_ci_low"] > 0)
    ]
    chosen = str(better.loc[better["dr"].idxmax(), "learner"]) if len(better) else ref
    table["reference"] = table["learner"] == ref
    table["chosen"] = table["learner"] == chosen
    return Selection(chosen, table, fitted, cut)
