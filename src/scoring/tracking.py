"""Everything a training run logs to MLflow: parameters, metrics, tables, plots and model
cards. The pipeline (:mod:`scoring.pipeline`) calls these; no other module logs to a run.
(Logging a model's artifact for the registry is :mod:`scoring.registry`'s.)"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.reporting import markdown_table

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# The run


def start_run(experiment_id: str, data_dir, distributed: bool) -> str:
    """Start the training run; its id."""
    import mlflow

    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"train-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}",
    )
    mlflow.set_tags({"data_dir": str(data_dir), "engine": "dask" if distributed else "local"})
    return run.info.run_id


def set_stage(name: str) -> None:
    """Record the stage the run is in (a failed run shows where it stopped)."""
    import mlflow

    mlflow.set_tag("stage", name)


def finish_run(seconds: float) -> None:
    import mlflow

    mlflow.set_tag("stage", "done")
    mlflow.log_metric("train_seconds", seconds)
    mlflow.end_run("FINISHED")


def fail_run(exc: BaseException) -> None:
    """Mark the run FAILED with the error (nothing of it is registered)."""
    import mlflow

    try:
        mlflow.set_tag("error", f"{type(exc).__name__}: {exc}"[:4000])
    finally:
        mlflow.end_run("FAILED")


def log_not_trained(not_trained: dict[str, str]) -> None:
    """``not_trained.<model>`` tags: why a model was not trained on this data set."""
    import mlflow

    if not_trained:
        mlflow.set_tags({f"not_trained.{k}": v[:4000] for k, v in not_trained.items()})


def log_registered(versions: dict[str, int]) -> None:
    import mlflow

    mlflow.set_tags({f"registered.{k}": str(v) for k, v in versions.items()})


# --------------------------------------------------------------------------------------
# Data


def log_data(
    tables: dict[str, pd.DataFrame], fp: str, config_file: Path, config=None, data_dir=None
) -> None:
    """The training configuration (file, version, fingerprint) and what the data set holds:
    each contract table as an MLflow dataset input of the run (name, source file, digest,
    schema, rows), so the MLflow UI shows what a version was trained on."""
    import mlflow

    mlflow.log_artifact(str(config_file), "config")
    if config is not None:
        mlflow.log_params(
            {
                "training.config_version": config.version,
                "training.config_fingerprint": config.fingerprint(),
            }
        )
    mlflow.log_params(
        {
            "data_fingerprint": fp,
            "n_debtors": len(tables["debtors"]),
            "n_invoices": len(tables["invoices"]),
            "n_actions": len(tables["actions"]),
        }
    )
    log_inputs(tables, fp, data_dir)


def log_inputs(tables: dict[str, pd.DataFrame], fp: str, data_dir=None) -> None:
    """``mlflow.log_input`` of every table (context ``training``, tagged with the data set's
    fingerprint); the source is the table's file when the data set is a folder."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from scoring.contract import find_table

    for name, df in tables.items():
        source = "in-memory tables"
        if data_dir is not None:
            path = find_table(Path(data_dir), name)
            source = str(path.resolve()) if path is not None else str(Path(data_dir).resolve())
        try:
            ds = from_pandas(df, source=source, name=name)
            mlflow.log_input(ds, context="training", tags={"data_fingerprint": fp})
        except Exception as exc:  # noqa: BLE001 - informative only (MLflow fails on e.g. an
            # empty table with pandas string columns): never fails a training run
            log.warning("table %s not logged as a run input: %s", name, exc)


def log_kpis(
    tables: dict[str, pd.DataFrame], workdir: str | Path, config_path: str | Path | None = None
) -> dict[str, float]:
    """The data set's collection KPIs (metrics, CSVs, chart, configuration)."""
    import mlflow

    from scoring import kpis

    workdir = Path(workdir)
    config = kpis.load_kpi_config(config_path)
    monthly = kpis.compute_kpis(tables, config)
    summary = kpis.kpi_summary(tables, config)
    metrics = kpis.kpi_metrics(summary)
    mlflow.log_metrics(metrics)
    mlflow.log_param("kpi_config_version", config.version)
    monthly.to_csv(workdir / "kpis_by_month.csv", index=False)
    summary.to_csv(workdir / "kpis_summary.csv", index=False)
    for p in (
        workdir / "kpis_by_month.csv",
        workdir / "kpis_summary.csv",
        kpis.plot_kpis(monthly, config, workdir / "kpis.png"),
        Path(config_path) if config_path else kpis.CONFIG_PATH,
    ):
        mlflow.log_artifact(str(p), "kpis")
    return metrics


def log_periods(summary: pd.DataFrame, workdir: Path, step_days: int | None = None) -> None:
    """Cases, default and dispute rates, and dates of each period of the time split, and the
    sampling step used."""
    import mlflow

    if step_days is not None:
        mlflow.log_param("sampling_step_days_used", step_days)

    summary.to_csv(workdir / "periods.csv")
    mlflow.log_artifact(str(workdir / "periods.csv"), "data")
    for period, row in summary.iterrows():
        mlflow.log_metrics(
            {
                f"{period}_cases": float(row["cases"]),
                f"{period}_default_rate": float(row["default_rate"]),
                f"{period}_dispute_rate": float(row["dispute_rate"]),
            }
        )
    mlflow.log_params(
        {f"period_{p}": f"{r['from']:%Y-%m-%d}..{r['to']:%Y-%m-%d}" for p, r in summary.iterrows()}
    )


# --------------------------------------------------------------------------------------
# Risk models


def log_risk_model(
    key: str, model, trials: pd.DataFrame, table: pd.DataFrame, metrics: dict[str, float],
    ts, p: np.ndarray, summary: pd.DataFrame, fp: str, data_dir: str, workdir: Path,
) -> None:  # fmt: skip
    """A risk model's tuning trials, parameters, test metrics, plots (ROC, calibration, AUC by
    group, SHAP summary, Optuna) and model card."""
    import mlflow

    from scoring import reporting

    tmp = workdir
    trials.to_csv(tmp / f"{key}_optuna_trials.csv", index=False)
    mlflow.log_artifact(str(tmp / f"{key}_optuna_trials.csv"), f"{key}/tuning")
    mlflow.log_params(
        {f"{key}.{k}": v for k, v in model.params.items() if k not in ("monotone_constraints",)}
    )
    mlflow.log_metrics(
        {
            f"{key}_{k}": float(v)
            for k, v in model.info.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    )
    table.to_csv(tmp / f"{key}_test_metrics.csv", index=False)
    mlflow.log_metrics(metrics)
    idx = ts.period("test")
    y = ts.labels[model.label].to_numpy()[idx]
    Xt = ts.X.iloc[idx]
    raw = 1 / (1 + np.exp(-model.raw_score(Xt)))
    sample = np.random.default_rng(0).choice(len(idx), min(2000, len(idx)), replace=False)
    contrib, _ = model.contributions(Xt.iloc[sample])
    top = [model.feature_names[j] for j in np.argsort(-np.abs(contrib).mean(axis=0))[:8]]
    plots = [
        reporting.plot_roc(y, p, f"{key}: ROC, test period", tmp / f"{key}_roc.png"),
        reporting.plot_calibration(
            y, p, raw, f"{key}: calibration, test period", tmp / f"{key}_calibration.png"
        ),
        reporting.plot_metrics_by_group(table, f"{key}: AUC by group", tmp / f"{key}_by_group.png"),
        reporting.plot_shap_summary(
            contrib, Xt.iloc[sample], f"{key}: SHAP (log-odds)", tmp / f"{key}_shap_summary.png"
        ),
        reporting.plot_optuna(trials, f"{key}: accuracy vs size", tmp / f"{key}_optuna.png"),
        reporting.plot_calibration_by_month(
            y,
            p,
            pd.to_datetime(ts.meta["as_of"].to_numpy()[idx], utc=True).strftime("%Y-%m"),
            f"{key}: calibration by month, test period",
            tmp / f"{key}_calibration_by_month.png",
        ),
        reporting.plot_lift(y, p, f"{key} (test period)", tmp / f"{key}_lift.png"),
    ]
    for path in plots:
        mlflow.log_artifact(str(path), f"{key}/plots")
    card = reporting.model_card(key, model, summary, table, fp, data_dir, top)
    reporting.write_text(tmp / f"{key}_model_card.md", card)
    reporting.write_text(
        tmp / f"{key}_model_card.html", reporting.markdown_to_html(card, f"{key} model card")
    )
    mlflow.log_artifact(str(tmp / f"{key}_model_card.md"), f"{key}")
    mlflow.log_artifact(str(tmp / f"{key}_model_card.html"), f"{key}")
    mlflow.log_artifact(str(tmp / f"{key}_test_metrics.csv"), f"{key}")


# --------------------------------------------------------------------------------------
# Policy


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


# --------------------------------------------------------------------------------------
# Invoice models


def log_invoice_models(res, forecast, realized: np.ndarray | None, workdir: Path) -> None:
    """The invoice models' metrics, the comparison of the case-probability candidates, the
    payment-curve calibration and a cash-forecast backtest (forecast at the first instant of
    the test period next to what was paid)."""
    import mlflow

    from scoring import reporting

    mlflow.log_metrics({k: float(v) for k, v in res.metrics.items() if v == v})
    mlflow.log_metrics({f"invoices_seconds_{k}": float(v) for k, v in res.seconds.items()})
    mlflow.log_params(
        {f"invoices.selection.{k}": v for k, v in res.models.selection.items()}
        | {f"invoices.{k}": v for k, v in res.models.info.items()}
    )
    mlflow.set_tags({f"invoices.selection.{k}": v for k, v in res.models.selection.items()})
    d = workdir / "invoices"
    d.mkdir(exist_ok=True)
    res.comparison.to_csv(d / "case_probability_candidates.csv", index=False)
    res.calibration.to_csv(d / "payment_curve_test.csv", index=False)
    paths = [
        d / "case_probability_candidates.csv",
        d / "payment_curve_test.csv",
        reporting.plot_payment_curve(res.calibration, d / "payment_curve_test.png"),
    ]
    if len(res.comparison):
        paths.append(
            reporting.plot_candidates(res.comparison, d / "case_probability_candidates.png")
        )
    if forecast is not None:
        weekly = forecast.weekly.copy()
        if realized is not None:
            weekly["realized"] = np.nan
            m = weekly["segment"] == "all"
            weekly.loc[m, "realized"] = realized[: int(m.sum())]
        weekly.to_csv(d / "cash_forecast_backtest.csv", index=False)
        forecast.dso.to_csv(d / "dso_forecast_backtest.csv", index=False)
        title = f"Cash forecast at {forecast.as_of:%Y-%m-%d} (test period) vs paid"
        paths += [
            d / "cash_forecast_backtest.csv",
            d / "dso_forecast_backtest.csv",
            reporting.plot_cash_forecast(
                forecast.weekly, d / "cash_forecast_backtest.png", realized, title
            ),  # fmt: skip
        ]
        mlflow.log_metrics(
            {f"forecast_backtest_{k}": float(v) for k, v in forecast.summary.items()}
        )
        if realized is not None:
            w = forecast.weekly[forecast.weekly["segment"] == "all"]
            err = np.abs(w["expected"].to_numpy() - realized[: len(w)])
            inside = (realized[: len(w)] >= w["p10"].to_numpy()) & (
                realized[: len(w)] <= w["p90"].to_numpy()
            )
            mlflow.log_metrics(
                {
                    "forecast_backtest_weekly_mae": float(err.mean()),
                    "forecast_backtest_weekly_wape": float(err.sum() / max(realized.sum(), 1e-9)),
                    "forecast_backtest_coverage_80": float(inside.mean()),
                }
            )
    for p in paths:
        mlflow.log_artifact(str(p), "invoice_risk")
