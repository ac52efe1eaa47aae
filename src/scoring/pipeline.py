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
from scoring.model_card import version_descriptions
from scoring.models.config import TrainingConfig, default_training_path, load_training_config
from scoring.models.dataset import TrainingDataError, TrainingSet, build_training_set
from scoring.models.drift import reference_profile
from scoring.models.metrics import flat_metrics, metrics_by_group
from scoring.models.risk import RiskModel
from scoring.models.tuning import Periods, tune_and_fit

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
    #: label -> where the served case probability comes from (case, invoices, blend)
    selection: dict[str, str] = field(default_factory=dict)


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
    from scoring import registry, tracking

    start = time.perf_counter()
    exp_id = registry.setup_mlflow()
    config = load_training_config(config_path)
    config_file = Path(config_path) if config_path else default_training_path()
    run_id = tracking.start_run(exp_id, data_dir, client is not None)
    tmp = Path(tempfile.mkdtemp(prefix="scoring-train-"))
    try:
        tables, fp = stage_load(data_dir, config_file, tmp, config)
        ts = stage_cases(tables, config, progress, client, tmp)
        risk = stage_risk_models(
            ts, config, trials, timeout, progress, client, fp, str(data_dir), tmp
        )
        not_trained = dict(risk.not_trained)
        uris = stage_log_models(risk.models, ts)
        version_tags, metrics = dict(risk.version_tags), dict(risk.metrics)
        selection: dict[str, str] = {}
        if config.invoices.enabled:
            inv = stage_invoice_models(tables, ts, config, risk.models, progress, tmp)
            if isinstance(inv, str):
                not_trained["invoice_risk"] = inv
            else:
                uris["invoice_risk"], version_tags["invoice_risk"] = inv.uri, inv.version_tags
                metrics.update(inv.metrics)
                selection = inv.selection
        if with_policy:
            pol = stage_policy(tables, ts, progress, tmp)
            if isinstance(pol, str):
                not_trained["policy"] = pol
            else:
                uris["policy"], version_tags["policy"] = pol.uri, pol.version_tags
                metrics.update(pol.metrics)
        tracking.log_not_trained(not_trained)
        if not uris:
            raise TrainingDataError(
                "no model can be trained on this data set:\n  - "
                + "\n  - ".join(f"{k}: {v}" for k, v in not_trained.items())
            )
        versions: dict[str, int] = {}
        if register:
            cards = version_descriptions(
                uris, ts.summary(), risk.tables, metrics, version_tags, str(data_dir), fp
            )
            versions = stage_register(uris, version_tags, cards)
        elapsed = time.perf_counter() - start
        tracking.finish_run(elapsed)
        return TrainResult(
            run_id, risk.models, versions, metrics, risk.tables, elapsed, not_trained, selection
        )
    except BaseException as exc:
        tracking.fail_run(exc)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# The stages of a training run, in order (each logs through scoring.tracking)


def stage_load(
    data_dir, config_file: Path, workdir: Path, config: TrainingConfig | None = None
) -> tuple[dict[str, pd.DataFrame], str]:
    """Read and validate the tables (CONTRACT §1); log the data and its KPIs."""
    from scoring import tracking

    tracking.set_stage("validate")
    tables = load_tables(data_dir)
    fp = fingerprint(tables)
    tracking.log_data(tables, fp, config_file, config, data_dir)
    tracking.log_kpis(tables, workdir)
    return tables, fp


def stage_cases(
    tables, config: TrainingConfig, progress: bool, client, workdir: Path
) -> TrainingSet:
    """Cases at every instant, their features and labels, split in time; log the periods."""
    from scoring import tracking

    tracking.set_stage("cases")
    ts = build_training_set(tables, config, progress=progress, client=client)
    tracking.log_periods(ts.summary(), workdir, ts.step_days)
    return ts


@dataclass
class RiskStage:
    """What :func:`stage_risk_models` produced."""

    models: dict[str, RiskModel]
    metrics: dict[str, float]
    version_tags: dict[str, dict[str, str]]
    tables: dict[str, pd.DataFrame]
    not_trained: dict[str, str]


def stage_risk_models(
    ts: TrainingSet, config: TrainingConfig, trials, timeout, progress: bool, client, fp: str, data_dir: str,
    workdir: Path,
) -> RiskStage:  # fmt: skip
    """Tune, fit and calibrate each risk model the data allows, evaluate it on the test period,
    log its metrics, plots and model card."""
    from scoring import tracking

    out = RiskStage({}, {}, {}, {}, dict(ts.untrainable))
    summary = ts.summary()
    for key, spec in config.models.items():
        if key in out.not_trained:
            continue
        tracking.set_stage(f"tune {key}")
        label = spec.label
        res = tune_and_fit(
            key, label, Periods.of(ts, label), config=config, monotone=spec.monotone,
            trials=trials, timeout=timeout, progress=progress, client=client,
        )  # fmt: skip
        model = res.model
        model.info["data_fingerprint"] = fp
        # the training period's profile: the reference of the service's drift monitor
        M_train = model.matrix(ts.X.iloc[ts.period("train")])
        model.info["reference"] = reference_profile(
            M_train, model.feature_names, model.predict_proba(M_train), key
        )
        del M_train
        out.models[key] = model
        table, p = evaluate_risk_model(model, ts, "test")
        out.tables[key] = table
        m = flat_metrics(table, f"{key}_test")
        out.metrics.update(m)
        tracking.log_risk_model(
            key, model, res.trials, table, m, ts, p, summary, fp, data_dir, workdir
        )
        out.version_tags[key] = {
            **champion_same_period(key, ts, out.metrics),
            "test_period_from": str(ts.meta.loc[ts.meta["period"] == "test", "as_of"].min())[:10],
            "test_roc_auc": f"{m[f'{key}_test_roc_auc']:.6f}",
            "test_brier": f"{m[f'{key}_test_brier']:.6f}",
            "test_ece": f"{m[f'{key}_test_ece']:.6f}",
            "data_fingerprint": fp,
            "trees": str(model.info["trees"]),
            "leaves": str(model.info["leaves"]),
        }
    return out


def champion_same_period(key: str, ts: TrainingSet, metrics: dict[str, float]) -> dict[str, str]:
    """The champion in use evaluated on this run's test period (same cases, same labels), so
    that ``scoring promote`` compares challenger and champion on the same, latest period:
    version tags ``gate_champion_version`` and ``gate_champion_test_roc_auc``, and the metric
    ``<key>_champion_test_roc_auc`` (nothing without a readable champion)."""
    import mlflow

    from scoring import registry

    champion, version = registry.champion_risk_model(key)
    if champion is None or version is None:
        return {}
    try:
        table, _ = evaluate_risk_model(champion, ts, "test")
    except Exception as exc:  # noqa: BLE001 - e.g. a feature the data no longer has
        log.warning("champion %s v%s cannot be evaluated on this data: %s", key, version, exc)
        return {}
    auc = flat_metrics(table, "c").get("c_roc_auc")
    if auc is None:
        return {}
    metrics[f"{key}_champion_test_roc_auc"] = auc
    if mlflow.active_run() is not None:
        mlflow.log_metric(f"{key}_champion_test_roc_auc", auc)
    return {"gate_champion_version": str(version), "gate_champion_test_roc_auc": f"{auc:.6f}"}


def stage_log_models(models: dict[str, RiskModel], ts: TrainingSet) -> dict[str, str]:
    """Log each risk model as an MLflow pyfunc in the run; their URIs by key."""
    from scoring import registry, tracking

    tracking.set_stage("log models")
    example = ts.X.iloc[ts.period("test")]
    return {key: registry.log_risk_model(model, example, key) for key, model in models.items()}


@dataclass
class InvoiceStage:
    """What :func:`stage_invoice_models` produced."""

    uri: str
    version_tags: dict[str, str]
    metrics: dict[str, float]
    selection: dict[str, str] = field(default_factory=dict)


def stage_invoice_models(
    tables, ts: TrainingSet, config: TrainingConfig, case_models: dict[str, RiskModel],
    progress: bool, workdir: Path,
) -> InvoiceStage | str:  # fmt: skip
    """Train the invoice models (payment date, dispute), choose each case probability's source
    on the validation period, backtest the cash forecast at the start of the test period, log
    it all and the model; or the reason they could not be trained (a string)."""
    from scoring import registry, tracking
    from scoring.invoices.forecast import cash_forecast, realized_cash
    from scoring.invoices.train import InvoiceTrainingError, train_invoice_models

    tracking.set_stage("invoice models")
    try:
        res = train_invoice_models(ts, tables, config, case_models, progress=progress)
    except InvoiceTrainingError as exc:
        return str(exc)
    first_test = pd.Timestamp(ts.meta.loc[ts.meta["period"] == "test", "as_of"].min())
    weeks = min(13, config.invoices.horizon_weeks)
    fc = cash_forecast(res.models, tables, first_test, weeks, config.invoices.simulations)
    realized = realized_cash(fc.invoices, tables, first_test, weeks)
    tracking.log_invoice_models(res, fc, realized, workdir)
    path = workdir / "invoice_risk.json"
    res.models.save(path)
    uri = registry.log_json_model(path, "invoice_risk")
    m = res.metrics
    tags = {
        f"selection_{k}": v for k, v in res.models.selection.items()
    } | {
        "payment_calibration_max_gap": f"{m['invoices_payment_calibration_max_gap']:.4f}",
        "rho_debtor": f"{res.models.rho:.4f}",
    }  # fmt: skip
    if "invoices_dispute_invoice_test_roc_auc" in m:
        tags["test_roc_auc"] = f"{m['invoices_dispute_invoice_test_roc_auc']:.6f}"
    return InvoiceStage(
        uri, tags, {k: float(v) for k, v in m.items() if v == v}, dict(res.models.selection)
    )


@dataclass
class PolicyStage:
    """What :func:`stage_policy` produced: the logged policy's URI, tags and metrics."""

    uri: str
    version_tags: dict[str, str]
    metrics: dict[str, float]


def stage_policy(tables, ts: TrainingSet, progress: bool, workdir: Path) -> PolicyStage | str:
    """Train the policy next to the champion in use and log it; or the reason it could not
    be trained (a string)."""
    from scoring import registry, tracking
    from scoring.models.dataset import NotTrainable
    from scoring.policy.train import train_policy

    tracking.set_stage("policy")
    champion, champion_version = registry.champion_policy()
    try:
        res = train_policy(tables, ts, champion, progress=progress)
    except NotTrainable as exc:
        return str(exc)
    tags = dict(res.version_tags)
    if res.champion_estimates is not None and champion_version is not None:
        tags["gate_champion_version"] = str(champion_version)
    tracking.log_policy(
        res.policy, res.config, res.estimates, res.action_mix, res.metrics, workdir,
        res.n_train, res.n_test, res.champion_estimates,
    )  # fmt: skip
    path = workdir / "policy.json"
    res.policy.save(path)
    uri = registry.log_json_model(path, "policy")
    return PolicyStage(uri, tags, {k: float(v) for k, v in res.metrics.items()})


def stage_register(
    uris: dict[str, str],
    version_tags: dict[str, dict[str, str]],
    descriptions: dict[str, str] | None = None,
) -> dict[str, int]:
    """Register every logged model or none (``challenger``; a first version is ``champion``),
    each version with its model card as description (:mod:`scoring.model_card`)."""
    from scoring import registry, tracking

    tracking.set_stage("register")
    registered = registry.register_all(uris, version_tags, descriptions)
    versions = {k: registered[registry.registered_name(k)] for k in uris}
    tracking.log_registered(versions)
    return versions
