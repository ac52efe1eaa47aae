"""The one place where the stages are chained: validate -> cases -> features -> models -> MLflow."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.contract import fingerprint, load_tables
from scoring.models.dataset import (
    CONFIG_DIR,
    TrainingDataError,
    TrainingSet,
    build_training_set,
    load_training_config,
)
from scoring.models.metrics import flat_metrics, metrics_by_group
from scoring.models.risk import RiskModel, tune_and_fit

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_id: str
    models: dict[str, RiskModel]
    versions: dict[str, int]
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    #: model key -> why it was not trained on this data set (nothing of it registered)
    not_trained: dict[str, str] = field(default_factory=dict)


def evaluate_risk_model(
    model: RiskModel, ts: TrainingSet, period: str = "test"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Metrics overall, by segment and by days-past-due bucket on a period."""
    idx = ts.period(period)
    X = ts.X.iloc[idx]
    y = ts.labels[model.label].to_numpy()[idx]
    p = model.predict_proba(X)
    groups = {
        "segment": ts.meta["segment"].to_numpy()[idx],
        "bucket": ts.meta["bucket"].astype(str).to_numpy()[idx],
    }
    return metrics_by_group(y, p, groups), p


def train(
    data_dir: str | Path,
    config_path: str | Path | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    register: bool = True,
    with_policy: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
) -> TrainResult:
    """Train every model from a data set, log the run to MLflow and register new versions.

    On any failure the run is marked FAILED and nothing is registered. ``engine="dask"`` builds
    the cases and fits the risk models on a Dask cluster (local unless ``scheduler`` is given).
    """
    if engine not in ("local", "dask"):
        raise ValueError(f"--engine must be local or dask, not {engine!r}")
    if engine == "dask":
        from scoring.dask_engine import dask_client

        with dask_client(scheduler) as client:
            return _train(
                data_dir, config_path, trials, timeout, progress, register, with_policy, client
            )
    return _train(data_dir, config_path, trials, timeout, progress, register, with_policy, None)


def _train(
    data_dir, config_path, trials, timeout, progress, register, with_policy, client
) -> TrainResult:
    import mlflow

    from scoring import registry, reporting
    from scoring.kpis import log_kpis

    start = time.perf_counter()
    exp_id = registry.setup_mlflow()
    config = load_training_config(config_path)
    config_file = Path(config_path) if config_path else CONFIG_DIR / "training.yaml"
    run = mlflow.start_run(
        experiment_id=exp_id, run_name=f"train-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="scoring-train-"))
    try:
        mlflow.set_tags({"data_dir": str(data_dir), "stage": "validate"})
        mlflow.log_artifact(str(config_file), "config")
        tables = load_tables(data_dir)
        fp = fingerprint(tables)
        mlflow.log_params(
            {
                "data_fingerprint": fp,
                "n_debtors": len(tables["debtors"]),
                "n_invoices": len(tables["invoices"]),
                "n_actions": len(tables["actions"]),
            }
        )
        log_kpis(tables, workdir=tmp)
        mlflow.set_tag("stage", "cases")
        ts = build_training_set(tables, config, progress=progress, client=client)
        mlflow.set_tag("engine", "dask" if client is not None else "local")
        summary = ts.summary()
        summary.to_csv(tmp / "periods.csv")
        mlflow.log_artifact(str(tmp / "periods.csv"), "data")
        for period, row in summary.iterrows():
            mlflow.log_metrics(
                {
                    f"{period}_cases": float(row["cases"]),
                    f"{period}_default_rate": float(row["default_rate"]),
                    f"{period}_dispute_rate": float(row["dispute_rate"]),
                }
            )
        mlflow.log_params(
            {
                f"period_{p}": f"{r['from']:%Y-%m-%d}..{r['to']:%Y-%m-%d}"
                for p, r in summary.iterrows()
            }
        )

        models: dict[str, RiskModel] = {}
        metrics: dict[str, float] = {}
        version_tags: dict[str, dict[str, str]] = {}
        tables_out: dict[str, pd.DataFrame] = {}
        not_trained: dict[str, str] = dict(ts.untrainable)
        for key, spec in config["models"].items():
            if key in not_trained:
                continue
            mlflow.set_tag("stage", f"tune {key}")
            label = spec["label"]
            sets = {
                p: (ts.X.iloc[ts.period(p)], ts.labels[label].to_numpy()[ts.period(p)])
                for p in ("train", "valid", "calib")
            }
            res = tune_and_fit(
                key, label, *sets["train"], *sets["valid"], *sets["calib"],
                config=config, monotone=bool(spec.get("monotone", False)), trials=trials, timeout=timeout, progress=progress,
                client=client,
            )  # fmt: skip
            model = res.model
            model.info["data_fingerprint"] = fp
            models[key] = model
            res.trials.to_csv(tmp / f"{key}_optuna_trials.csv", index=False)
            mlflow.log_artifact(str(tmp / f"{key}_optuna_trials.csv"), f"{key}/tuning")
            mlflow.log_params(
                {
                    f"{key}.{k}": v
                    for k, v in model.params.items()
                    if k not in ("monotone_constraints",)
                }
            )
            mlflow.log_metrics(
                {
                    f"{key}_{k}": float(v)
                    for k, v in model.info.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
            )

            table, p = evaluate_risk_model(model, ts, "test")
            tables_out[key] = table
            table.to_csv(tmp / f"{key}_test_metrics.csv", index=False)
            m = flat_metrics(table, f"{key}_test")
            metrics.update(m)
            mlflow.log_metrics(m)
            idx = ts.period("test")
            y = ts.labels[label].to_numpy()[idx]
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
                reporting.plot_metrics_by_group(
                    table, f"{key}: AUC by group", tmp / f"{key}_by_group.png"
                ),
                reporting.plot_shap_summary(
                    contrib,
                    Xt.iloc[sample],
                    f"{key}: SHAP (log-odds)",
                    tmp / f"{key}_shap_summary.png",
                ),
                reporting.plot_optuna(
                    res.trials, f"{key}: accuracy vs size", tmp / f"{key}_optuna.png"
                ),
            ]
            for path in plots:
                mlflow.log_artifact(str(path), f"{key}/plots")
            card = reporting.model_card(key, model, summary, table, fp, str(data_dir), top)
            reporting.write_text(tmp / f"{key}_model_card.md", card)
            reporting.write_text(
                tmp / f"{key}_model_card.html",
                reporting.markdown_to_html(card, f"{key} model card"),
            )
            mlflow.log_artifact(str(tmp / f"{key}_model_card.md"), f"{key}")
            mlflow.log_artifact(str(tmp / f"{key}_model_card.html"), f"{key}")
            mlflow.log_artifact(str(tmp / f"{key}_test_metrics.csv"), f"{key}")
            version_tags[key] = {
                "test_roc_auc": f"{m[f'{key}_test_roc_auc']:.6f}",
                "test_brier": f"{m[f'{key}_test_brier']:.6f}",
                "test_ece": f"{m[f'{key}_test_ece']:.6f}",
                "data_fingerprint": fp,
                "trees": str(model.info["trees"]),
                "leaves": str(model.info["leaves"]),
            }

        uris: dict[str, str] = {}
        mlflow.set_tag("stage", "log models")
        example = ts.X.iloc[ts.period("test")]
        for key, model in models.items():
            uris[key] = registry.log_risk_model(model, example, key)

        if with_policy:
            from scoring.models.dataset import NotTrainable
            from scoring.policy.train import train_policy

            mlflow.set_tag("stage", "policy")
            try:
                pol = train_policy(tables, ts, models, progress=progress, workdir=tmp)
            except NotTrainable as exc:
                not_trained["policy"] = str(exc)
            else:
                uris["policy"] = pol.model_uri
                version_tags["policy"] = pol.version_tags
                metrics.update(pol.metrics)
        if not_trained:
            mlflow.set_tags({f"not_trained.{k}": v[:4000] for k, v in not_trained.items()})
        if not uris:
            raise TrainingDataError(
                "no model can be trained on this data set:\n  - "
                + "\n  - ".join(f"{k}: {v}" for k, v in not_trained.items())
            )

        versions: dict[str, int] = {}
        if register:
            mlflow.set_tag("stage", "register")
            registered = registry.register_all(uris, version_tags)
            versions = {k: registered[registry.registered_name(k)] for k in uris}
            mlflow.set_tags({f"registered.{k}": str(v) for k, v in versions.items()})
        mlflow.set_tag("stage", "done")
        elapsed = time.perf_counter() - start
        mlflow.log_metric("train_seconds", elapsed)
        mlflow.end_run("FINISHED")
        return TrainResult(
            run.info.run_id, models, versions, metrics, tables_out, elapsed, not_trained
        )
    except BaseException as exc:
        try:
            mlflow.set_tag("error", f"{type(exc).__name__}: {exc}"[:4000])
        finally:
            mlflow.end_run("FAILED")
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
