"""MLflow run logging of the policy: parameters, metrics, tables, plots and its model card."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.reporting import markdown_table


def policy_card(policy, est: dict, champ_est: dict | None, n_train: int, n_test: int) -> str:
    """Markdown model card of a trained policy: what it does, which learner and why, figures."""
    info = policy.info
    sel = getattr(policy, "selection_", None)
    reach = info.get("reach", {})
    lines = [
        "# Model card: policy (next best action)",
        "",
        "## Intended use",
        "Recommends, for a debtor with open invoices, the collection action, its channel and time",
        "among those the compliance rules allow (CONTRACT §4), with the expected 14-day value of",
        "every allowed action. B2C formal notices and legal escalations require human review.",
        "",
        "## How it values an action",
        "P(reach | debtor, channel, weekday, time) x value if reached + (1 - P(reach)) x value if",
        "not reached - cost. Reach: population model shrunk toward the debtor's own outcomes",
        f"(prior strength {reach.get('eb_prior_strength', 'n/a')}, kernel "
        f"{reach.get('eb_sigma_hours', 'n/a')} h, chosen by held-out log-likelihood: "
        f"{reach.get('valid_logloss_population', float('nan')):.4f} population vs "
        f"{reach.get('valid_logloss_debtor', float('nan')):.4f} with the debtor's history).",
        "",
        "## Learner",
        f"- chosen: **{info.get('learner')}** ({info.get('learner_choice')})",
        f"- training decisions: {n_train:,}; held-out test decisions: {n_test:,}",
    ]
    if sel is not None:
        lines += [
            "",
            "Candidates on the validation period (later part of the training history), doubly",
            "robust value per decision (EUR) with a 95 % bootstrap interval:",
            "",
            markdown_table(sel.round(3)),
        ]
    lines += [
        "",
        "## Test period (off-policy, cross-fitted doubly robust)",
        f"- new policy: {est['dr']:.2f} EUR per decision "
        f"[{est['dr_ci_low']:.2f}, {est['dr_ci_high']:.2f}]",
        f"- logging policy (observed): {est['logging']:.2f} EUR per decision",
        f"- effective sample size: {est['ess']:.0f} of {est['n']:.0f}",
    ]
    if champ_est is not None:
        lines.append(
            f"- current champion on the same period: {champ_est['dr']:.2f} EUR per decision"
        )
    lines += [
        "",
        "## Limits",
        "Off-policy estimates are per action (a logged slot is never exactly the one chosen);",
        "actions the logging policy rarely explored have wide intervals. The value of a slot",
        "rests on the reach model and is not validated off-policy.",
    ]
    return "\n".join(lines) + "\n"


def log_policy(
    policy,
    config,
    est: dict,
    mix: pd.DataFrame,
    metrics: dict,
    workdir: Path,
    n_train: int,
    n_test: int,
    champ_est: dict | None = None,
) -> None:
    """Everything the policy stage logs to the active MLflow run."""
    import mlflow
    import yaml

    from scoring import reporting

    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    mlflow.log_params(
        {
            "policy.config_version": config.version,
            "policy.config_fingerprint": config.fingerprint(),
            "policy.train_decisions": n_train,
            "policy.test_decisions": n_test,
            "policy.learner": policy.info.get("learner"),
            "policy.learner_choice": policy.info.get("learner_choice"),
        }
    )
    cfg_path = workdir / "policy_config.yaml"
    cfg_path.write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    mlflow.log_artifact(str(cfg_path), "policy")
    mix.to_csv(workdir / "policy_action_mix.csv")
    mlflow.log_artifact(str(workdir / "policy_action_mix.csv"), "policy")
    plots = [
        reporting.plot_action_mix(mix, workdir / "policy_action_mix.png"),
        reporting.plot_reach_heatmap(policy.reach_.table, workdir / "policy_reach_heatmap.png"),
        reporting.plot_ope(est, workdir / "policy_ope.png"),
    ]
    sel = getattr(policy, "selection_", None)
    if sel is not None:
        sel.to_csv(workdir / "policy_learners.csv", index=False)
        mlflow.log_artifact(str(workdir / "policy_learners.csv"), "policy")
        for row in sel.itertuples():
            mlflow.log_metrics(
                {
                    f"policy_learner_{row.learner}_dr": float(row.dr),
                    f"policy_learner_{row.learner}_dr_ci_low": float(row.dr_ci_low),
                    f"policy_learner_{row.learner}_dr_ci_high": float(row.dr_ci_high),
                }
            )
        plots.append(
            reporting.plot_learner_selection(sel, workdir / "policy_learner_selection.png")
        )
    for path in plots:
        mlflow.log_artifact(str(path), "policy/plots")
    card = policy_card(policy, est, champ_est, n_train, n_test)
    reporting.write_text(workdir / "policy_model_card.md", card)
    reporting.write_text(
        workdir / "policy_model_card.html", reporting.markdown_to_html(card, "policy model card")
    )
    mlflow.log_artifact(str(workdir / "policy_model_card.md"), "policy")
    mlflow.log_artifact(str(workdir / "policy_model_card.html"), "policy")
