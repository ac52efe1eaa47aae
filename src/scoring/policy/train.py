"""Policy training: logged decisions -> policy (learner chosen on the log) -> held-out
off-policy evaluation, next to the current champion on the same period -> MLflow."""

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
    policy: Policy
    model_uri: str
    metrics: dict[str, float]
    version_tags: dict[str, str] = field(default_factory=dict)


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


def _champion_policy() -> tuple[Policy | None, int | None]:
    """The registered champion policy, if any (for the promotion gate)."""
    from scoring import registry

    try:
        loaded = registry.resolve("policy", registry.CHAMPION)
    except Exception:  # noqa: BLE001 - no registry, no model, no alias
        return None, None
    try:
        return Policy.load(loaded.path), loaded.version
    except Exception:  # noqa: BLE001 - an unreadable champion is not comparable
        return None, loaded.version


def train_policy(
    tables: dict[str, pd.DataFrame],
    ts,
    models: dict,
    progress: bool = True,
    workdir: Path | None = None,
    config_path: str | Path | None = None,
    max_decisions: int = 300000,
    learner: str = "auto",
) -> PolicyTrainResult:
    """Fit on decisions before the test period (the learner chosen by off-policy validation on
    the later part of them), evaluate off-policy on the test period next to the current
    champion, log everything to MLflow.

    ``max_decisions`` caps the logged decisions used (a random subset beyond it); the cap keeps
    every decision of a portfolio of about 25,000 debtors over two years.
    """
    from scoring import registry, tracking

    config = load_policy_config(config_path)
    workdir = Path(workdir or ".")
    from scoring.models.dataset import NotTrainable

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
    champion, champion_version = _champion_policy()
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
    tracking.log_policy(
        policy, config, est, mix, metrics, workdir, len(train_d), len(test_d), champ_est
    )
    path = workdir / "policy.json"
    policy.save(path)
    uri = registry.log_json_model(path, "policy")
    tags = {
        "ope_dr_value": f"{est['dr']:.6f}",
        "ope_dr_ci_low": f"{est['dr_ci_low']:.6f}",
        "ope_dr_ci_high": f"{est['dr_ci_high']:.6f}",
        "ope_logging_value": f"{est['logging']:.6f}",
        "ope_period_from": str(test_start),
        "learner": policy.info_["learner"],
        "config_version": config.version,
    }
    if champ_est is not None and champion_version is not None:
        tags["gate_champion_version"] = str(champion_version)
        tags["gate_champion_dr_value"] = f"{champ_est['dr']:.6f}"
    return PolicyTrainResult(policy, uri, metrics, tags)
