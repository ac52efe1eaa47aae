"""Policy training: logged decisions -> policy (learner chosen on the log) -> held-out
off-policy evaluation, next to the current champion on the same period. MLflow logging and
registration are the pipeline's (:mod:`scoring.pipeline`, :mod:`scoring.tracking`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.policy.config import PolicyConfig, load_policy_config
from scoring.policy.evaluate import crossfit_q, policy_value
from scoring.policy.history import LoggedDecisions, logged_decisions
from scoring.policy.recommend import Policy
from scoring.policy.select import OPE_SLOT_HOURS

__all__ = [
    "LoggedDecisions",
    "PolicyTrainResult",
    "evaluate_policy",
    "fit_policy",
    "logged_decisions",
    "train_policy",
]


@dataclass
class PolicyTrainResult:
    """A fitted policy and its held-out off-policy evaluation (what the pipeline logs)."""

    policy: Policy
    config: PolicyConfig
    estimates: dict[str, float]
    action_mix: pd.DataFrame
    metrics: dict[str, float]
    version_tags: dict[str, str] = field(default_factory=dict)
    champion_estimates: dict[str, float] | None = None
    n_train: int = 0
    n_test: int = 0


def fit_policy(decisions: LoggedDecisions, config: PolicyConfig, learner: str = "auto") -> Policy:
    """``Policy(config, learner).fit(decisions)``."""
    return Policy(config, learner=learner).fit(decisions)


def evaluate_policy(
    policy: Policy, decisions: LoggedDecisions, Q: np.ndarray | None = None
) -> tuple[dict[str, float], pd.DataFrame]:
    """Off-policy estimates on held-out decisions (cross-fitted doubly robust, IPS, SNIPS), and
    the new policy's action mix there next to the logging policy's."""
    if Q is None:
        Q = crossfit_q(decisions, policy.config)
    ope_cfg = policy.config.with_overrides({"slots": {"hours": list(OPE_SLOT_HOURS)}})
    est = policy_value(policy.with_config(ope_cfg), decisions, Q)
    est.pop("terms", None)
    est.pop("ips_terms", None)
    logged = decisions.log["action"].astype(str)
    mix = pd.DataFrame(
        {
            "logging": logged.value_counts(normalize=True),
            "new_policy": pd.Series(est.pop("action_mix")),
        }
    ).fillna(0.0)
    return est, mix


def arm_values(
    decisions: LoggedDecisions, config: PolicyConfig, n_boot: int = 500, seed: int = 0
) -> dict[str, float] | None:
    """The realised reward of each arm of a champion/challenger split on held-out decisions.

    The service's export gives the actions log an ``arm`` column (``champion`` or
    ``challenger``): debtors were sent to an arm by a hash of their id, independent of their
    case, so the arms' mean rewards compare the two releases directly on the same period
    (no model needed). ``None`` without both arms in the log. Keys: ``arm_<arm>_n``,
    ``arm_<arm>_reward``, and ``arm_diff`` (challenger minus champion) with its bootstrap
    95% interval ``arm_diff_ci_low`` / ``arm_diff_ci_high``."""
    if "arm" not in decisions.log.columns:
        return None
    arm = decisions.log["arm"].astype("string").fillna("").to_numpy()
    r = np.asarray(decisions.reward(config), dtype=float)
    groups = {a: r[(arm == a) & np.isfinite(r)] for a in ("champion", "challenger")}
    if any(len(g) == 0 for g in groups.values()):
        return None
    out: dict[str, float] = {}
    for a, g in groups.items():
        out[f"arm_{a}_n"], out[f"arm_{a}_reward"] = float(len(g)), float(g.mean())
    rng = np.random.default_rng(seed)
    ch, cp = groups["challenger"], groups["champion"]
    diffs = [rng.choice(ch, len(ch)).mean() - rng.choice(cp, len(cp)).mean() for _ in range(n_boot)]
    out["arm_diff"] = float(ch.mean() - cp.mean())
    out["arm_diff_ci_low"], out["arm_diff_ci_high"] = (
        float(x) for x in np.percentile(diffs, [2.5, 97.5])
    )
    return out


def train_policy(
    tables: dict[str, pd.DataFrame],
    ts,
    champion: Policy | None = None,
    progress: bool = True,
    config_path: str | Path | None = None,
    max_decisions: int = 300000,
    learner: str = "auto",
) -> PolicyTrainResult:
    """Fit on decisions before the test period (the learner chosen by off-policy validation on
    the later part of them), evaluate off-policy on the test period, next to ``champion`` (the
    policy in use, if any) on the same period. Logs nothing: the pipeline's tracking stage does.

    ``max_decisions`` caps the logged decisions used (a random subset beyond it); the cap keeps
    every decision of a portfolio of about 25,000 debtors over two years. Raises
    :class:`~scoring.models.dataset.NotTrainable` when the log is empty or too small.
    """
    from scoring.models.dataset import NotTrainable

    config = load_policy_config(config_path)
    if len(tables["actions"]) == 0:
        raise NotTrainable("the actions table is empty: no logged decision to learn from")
    decisions = logged_decisions(tables, config, max_decisions=max_decisions, progress=progress)
    test_start = ts.meta.loc[ts.meta["period"] == "test", "as_of"].min()
    train_d, test_d = decisions.split_at(pd.Timestamp(test_start))
    if len(test_d) < 50 or len(train_d) < 400:
        raise NotTrainable(
            f"too few logged decisions to learn and evaluate the policy ({len(train_d)} before "
            f"{test_start:%Y-%m-%d}, {len(test_d)} after; need 400 and 50)"
        )
    policy = Policy(config, learner=learner).fit(train_d)
    Q = crossfit_q(test_d, config)
    est, mix = evaluate_policy(policy, test_d, Q)
    champ_est = None
    if champion is not None:
        try:
            champ_est, _ = evaluate_policy(champion, test_d, Q)
        except Exception:  # noqa: BLE001 - a champion that cannot decide here is not comparable
            champ_est = None
    policy.info_.update({"ope": est, "test_from": str(test_start)})
    metrics = {
        f"ope_{k}_value" if k in ("ips", "snips", "dr", "dm", "logging") else f"ope_{k}": v
        for k, v in est.items()
    }
    if champ_est is not None:
        metrics["ope_champion_dr_value"] = champ_est["dr"]
    arms = arm_values(test_d, config)
    if arms is not None:  # a champion/challenger split ran in production on this period
        metrics.update(arms)
    tags = {
        "ope_dr_value": f"{est['dr']:.6f}",
        "ope_dr_ci_low": f"{est['dr_ci_low']:.6f}",
        "ope_dr_ci_high": f"{est['dr_ci_high']:.6f}",
        "ope_logging_value": f"{est['logging']:.6f}",
        "ope_period_from": str(test_start),
        "learner": str(policy.info_["learner"]),
        "config_version": str(config.version),
    }
    if champ_est is not None:
        tags["gate_champion_dr_value"] = f"{champ_est['dr']:.6f}"
    return PolicyTrainResult(
        policy, config, est, mix, metrics, tags, champ_est, len(train_d), len(test_d)
    )
