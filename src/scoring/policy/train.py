"""Policy training: logged decisions -> action value model -> off-policy evaluation -> MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.cases import CaseSet, action_rewards, build_cases_at
from scoring.features import features
from scoring.policy.config import PolicyConfig, load_policy_config
from scoring.policy.evaluate import off_policy_estimates
from scoring.policy.recommend import Policy
from scoring.policy.value import ActionValueModel


@dataclass
class LoggedDecisions:
    """Logged decisions that concern a case, with the case, its features and the reward."""

    cases: CaseSet
    X: pd.DataFrame
    log: (
        pd.DataFrame
    )  # action rows aligned with cases: action, scheduled_at, propensity, outcome, reward parts

    def slots(self) -> pd.DataFrame:
        from scoring.policy.calendar import local_times

        local = local_times(self.log["scheduled_at"], self.cases.cases["department"].to_numpy())
        wait = self.log["action"].to_numpy() == "wait"
        lead = (
            self.log["scheduled_at"] - self.log["decided_at"]
        ).dt.total_seconds().to_numpy() / 3600
        return pd.DataFrame(
            {
                "action": self.log["action"].astype(str).to_numpy(),
                "slot_weekday": np.where(wait, np.nan, local.dt.weekday.to_numpy(dtype=float)),
                "slot_hour": np.where(wait, np.nan, local.dt.hour.to_numpy(dtype=float)),
                "lead_hours": np.where(wait, np.nan, lead),
            }
        )


def logged_decisions(
    tables: dict[str, pd.DataFrame],
    config: PolicyConfig,
    max_decisions: int | None = None,
    seed: int = 0,
    chunk: int = 50000,
    progress: bool = False,
) -> LoggedDecisions:
    """Cases at each logged decision (``as_of = decided_at``) with the CONTRACT §3 reward."""
    acts = action_rewards(tables, dict(config.costs), penalty=config.penalties.dispute)
    acts = acts[acts["observable"].to_numpy()]
    if max_decisions and len(acts) > max_decisions:
        keep = np.sort(np.random.default_rng(seed).choice(len(acts), max_decisions, replace=False))
        acts = acts.iloc[keep]
    acts = acts.sort_values(["decided_at", "action_id"], kind="stable").reset_index(drop=True)
    sets, kept_all = [], []
    starts = range(0, len(acts), chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="logged decisions", unit="chunk")
    for s in starts:
        part = acts.iloc[s : s + chunk]
        cs, kept = build_cases_at(
            tables, part.rename(columns={"decided_at": "as_of"})[["debtor_id", "as_of"]]
        )
        sets.append(cs)
        kept_all.append(kept + s)
    cs = CaseSet.concat(sets)
    log = acts.iloc[np.concatenate(kept_all)].reset_index(drop=True) if kept_all else acts.iloc[:0]
    # penalties per kind: the value model learns disputes and complaints separately
    return LoggedDecisions(cs, features(cs), log)


@dataclass
class PolicyTrainResult:
    policy: Policy
    model_uri: str
    metrics: dict[str, float]
    version_tags: dict[str, str] = field(default_factory=dict)


def fit_policy(decisions: LoggedDecisions, config: PolicyConfig) -> Policy:
    log = decisions.log
    vm = ActionValueModel.fit(
        decisions.X,
        decisions.slots(),
        open_amount=decisions.X["open_amount"].to_numpy(),
        paid=log["paid_14d"].to_numpy(),
        disputes=log["n_disputes_14d"].to_numpy(),
        complaints=log["n_complaints_14d"].to_numpy(),
        outcome=log["outcome"],
        propensity=log["propensity"].to_numpy(dtype=float),
        segment=decisions.cases.cases["segment"].to_numpy(),
    )
    return Policy(
        vm,
        config,
        {"config_version": config.version, "config_fingerprint": config.fingerprint(), **vm.info},
    )


def evaluate_policy(
    policy: Policy, decisions: LoggedDecisions
) -> tuple[dict[str, float], pd.DataFrame]:
    """Off-policy estimates on held-out decisions, and the new policy's action mix there."""
    cfg = policy.config
    values = policy.action_values(decisions.cases, decisions.X)
    values["probability"] = policy.distribution(values)
    log = decisions.log
    logged_action = log["action"].astype(str).to_numpy()
    key = pd.MultiIndex.from_arrays(
        [values["case"].to_numpy(), values["action"].astype(str).to_numpy()]
    )
    prob = pd.Series(values["probability"].to_numpy(), index=key)
    lk = pd.MultiIndex.from_arrays([np.arange(len(log)), logged_action])
    pi_logged = prob.reindex(lk).fillna(0.0).to_numpy()
    v_direct = (
        (values["probability"] * values["expected_value"])
        .groupby(values["case"])
        .sum()
        .reindex(range(len(log)))
        .to_numpy()
    )
    pred = policy.value_model.predict(decisions.X, decisions.slots())
    costs = np.array([cfg.costs[a] for a in logged_action])
    q_logged = (
        decisions.X["open_amount"].to_numpy() * pred["paid_share"].to_numpy()
        - costs
        - cfg.penalties.dispute * pred["p_dispute"].to_numpy()
        - cfg.penalties.complaint * pred["p_complaint"].to_numpy()
    )
    reward = (
        log["paid_14d"].to_numpy()
        - costs
        - cfg.penalties.dispute * log["n_disputes_14d"].to_numpy()
        - cfg.penalties.complaint * log["n_complaints_14d"].to_numpy()
    )
    est = off_policy_estimates(
        reward, log["propensity"].to_numpy(dtype=float), pi_logged, q_logged, v_direct
    )
    mix = pd.DataFrame(
        {
            "logging": pd.Series(logged_action).value_counts(normalize=True),
            "new_policy": values.groupby(values["action"].astype(str))["probability"].sum()
            / len(log),
        }
    ).fillna(0.0)
    return est, mix


def train_policy(
    tables: dict[str, pd.DataFrame],
    ts,
    models: dict,
    progress: bool = True,
    workdir: Path | None = None,
    config_path: str | Path | None = None,
    max_decisions: int = 300000,
) -> PolicyTrainResult:
    """Fit on decisions before the test period, evaluate off-policy on the test period, log.

    ``max_decisions`` caps the logged decisions used (a random subset beyond it). Rarely logged
    actions (chosen only by the old policy's exploration) are learned from few rows, so the cap
    is set to keep every decision of a portfolio of about 25,000 debtors over two years: on the
    20,000-debtor synthetic world, 109,000 instead of 167,000 training decisions cost 16 EUR per
    case of true value (benchmarks/bench_policy.py).
    """
    import mlflow

    from scoring import registry, reporting

    config = load_policy_config(config_path)
    workdir = Path(workdir or ".")
    decisions = logged_decisions(tables, config, max_decisions=max_decisions, progress=progress)
    test_start = ts.meta.loc[ts.meta["period"] == "test", "as_of"].min()
    is_test = (decisions.log["decided_at"] >= test_start).to_numpy()
    if is_test.sum() < 50 or (~is_test).sum() < 200:
        raise ValueError(
            f"too few logged decisions to learn and evaluate the policy ({(~is_test).sum()} before "
            f"{test_start:%Y-%m-%d}, {is_test.sum()} after; need 200 and 50)"
        )
    train_d = _subset(decisions, np.flatnonzero(~is_test))
    test_d = _subset(decisions, np.flatnonzero(is_test))
    policy = fit_policy(train_d, config)
    est, mix = evaluate_policy(policy, test_d)
    metrics = {
        f"ope_{k}_value" if k in ("ips", "snips", "dr", "dm", "logging") else f"ope_{k}": v
        for k, v in est.items()
    }
    mlflow.log_metrics(metrics)
    mlflow.log_params(
        {
            "policy.config_version": config.version,
            "policy.config_fingerprint": config.fingerprint(),
            "policy.train_decisions": len(train_d.log),
            "policy.test_decisions": len(test_d.log),
        }
    )
    mlflow.log_artifact(str(_write_config(config, workdir)), "policy")
    mix.to_csv(workdir / "policy_action_mix.csv")
    mlflow.log_artifact(str(workdir / "policy_action_mix.csv"), "policy")
    for path in (
        reporting.plot_action_mix(mix, workdir / "policy_action_mix.png"),
        reporting.plot_reach_heatmap(
            policy.value_model.reach_table, workdir / "policy_reach_heatmap.png"
        ),
        reporting.plot_ope(est, workdir / "policy_ope.png"),
    ):
        mlflow.log_artifact(str(path), "policy/plots")
    policy.info.update({"ope": est, "test_from": str(test_start)})
    path = workdir / "policy.json"
    policy.save(path)
    uri = registry.log_json_model(path, "policy")
    tags = {
        "ope_dr_value": f"{est['dr']:.6f}",
        "ope_logging_value": f"{est['logging']:.6f}",
        "config_version": config.version,
    }
    return PolicyTrainResult(policy, uri, metrics, tags)


def _subset(d: LoggedDecisions, idx: np.ndarray) -> LoggedDecisions:
    return LoggedDecisions(
        d.cases.take(idx),
        d.X.iloc[idx].reset_index(drop=True),
        d.log.iloc[idx].reset_index(drop=True),
    )


def _write_config(config: PolicyConfig, workdir: Path) -> Path:
    import yaml

    p = workdir / "policy_config.yaml"
    p.write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return p
