"""Tuning a risk model: an Optuna study over LightGBM (early stopping, median pruning, a
size-aware choice), calibration on a later period; on a Dask cluster when given one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import roc_auc_score

from scoring.features import CATEGORICAL, FEATURE_BY_NAME, FEATURE_NAMES, monotone_constraints
from scoring.models.calibration import fit_calibrator
from scoring.models.config import FloatRange, IntRange, SearchSpec, TrainingConfig, Tuning
from scoring.models.risk import RiskModel, model_size, prepare


def _suggest(trial: optuna.Trial, space: dict[str, SearchSpec]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, IntRange):
            params[name] = trial.suggest_int(name, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, FloatRange):
            params[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        else:
            params[name] = trial.suggest_categorical(name, list(spec.choices))
    return params


def _pruning_callback(trial: optuna.Trial, every: int):
    def _callback(env: lgb.callback.CallbackEnv) -> None:
        it = env.iteration + 1
        if it % every:
            return
        for data_name, metric, value, _ in env.evaluation_result_list:  # type: ignore[misc, union-attr]
            if data_name == "valid" and metric == "auc":
                trial.report(value, step=it)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at round {it} (valid AUC {value:.4f})")

    return _callback


@dataclass
class TuningResult:
    model: RiskModel
    trials: pd.DataFrame
    best_auc: float
    chosen_trial: int


@dataclass(frozen=True)
class Periods:
    """The three periods a risk model is tuned on: fit (``train``), early stopping and Optuna
    (``valid``), calibration (``calib``); each a (features, labels) pair."""

    train: tuple[pd.DataFrame, np.ndarray]
    valid: tuple[pd.DataFrame, np.ndarray]
    calib: tuple[pd.DataFrame, np.ndarray]

    @classmethod
    def of(cls, ts, label: str) -> Periods:
        """The periods of a :class:`~scoring.models.dataset.TrainingSet` for ``label``."""
        y = ts.labels[label].to_numpy()
        return cls(
            *((ts.X.iloc[ts.period(p)], y[ts.period(p)]) for p in ("train", "valid", "calib"))
        )


def tune_and_fit(
    name: str,
    label: str,
    periods: Periods,
    config: TrainingConfig,
    monotone: bool,
    trials: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    client=None,
) -> TuningResult:
    """Optuna study (TPE, median pruning, early stopping), size-aware choice, calibration.

    ``trials`` and ``timeout`` override the configuration's. With a Dask ``client``, every
    trial is fitted with ``lightgbm.dask`` on the cluster's workers (the training rows are
    partitioned among them); early stopping is then applied after the fit, on the validation
    period, and pruning is off.
    """
    (X_train, y_train), (X_valid, y_valid), (X_calib, y_calib) = (
        periods.train,
        periods.valid,
        periods.calib,
    )
    tcfg = config.tuning
    n_trials = int(trials if trials is not None else tcfg.trials)
    budget = float(timeout if timeout is not None else tcfg.timeout_seconds)
    tol = tcfg.size_tolerance
    seed = tcfg.seed
    feature_names = list(FEATURE_NAMES)
    vocab = {c: list(FEATURE_BY_NAME[c].categories) for c in CATEGORICAL}
    Xt = prepare(X_train, feature_names, vocab)
    Xv = prepare(X_valid, feature_names, vocab)
    dtrain = lgb.Dataset(
        Xt,
        label=y_train,
        categorical_feature=CATEGORICAL,
        free_raw_data=False,
        params={"feature_pre_filter": False, "verbosity": -1},
    )
    dvalid = lgb.Dataset(
        Xv, label=y_valid, reference=dtrain, params={"feature_pre_filter": False, "verbosity": -1}
    )
    fixed = config.lightgbm_fixed()
    fixed.update({"metric": "auc", "seed": seed, "deterministic": True, "force_col_wise": True})
    if monotone:
        fixed["monotone_constraints"] = monotone_constraints(feature_names)
        fixed["monotone_constraints_method"] = "basic"
    boosters: dict[int, lgb.Booster] = {}

    if client is not None:
        dX, dy = _to_dask(Xt, y_train, client)

    def objective(trial: optuna.Trial) -> float:
        params = {**fixed, **_suggest(trial, config.search_space)}
        start = time.perf_counter()
        if client is not None:
            booster = _fit_on_dask(params, dX, dy, Xv, y_valid, tcfg, client)
            return _record(trial, booster, Xv, y_valid, start)
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=tcfg.max_rounds,
            valid_sets=[dvalid],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(tcfg.early_stopping_rounds, verbose=False),
                _pruning_callback(trial, tcfg.report_every),
            ],
        )
        booster.free_dataset()
        # keep only the trees up to the best iteration
        booster = lgb.Booster(
            model_str=booster.model_to_string(num_iteration=booster.best_iteration)
        )
        return _record(trial, booster, Xv, y_valid, start)

    def _record(trial, booster, Xv, y_valid, start) -> float:
        auc = float(roc_auc_score(y_valid, booster.predict(Xv)))
        size = model_size(booster)
        trial.set_user_attr("trees", size["trees"])
        trial.set_user_attr("leaves", size["leaves"])
        trial.set_user_attr("max_depth", size["max_depth"])
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
        boosters[trial.number] = booster
        return auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=tcfg.report_every),
        study_name=name,
    )
    study.optimize(objective, n_trials=n_trials, timeout=budget, show_progress_bar=progress)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise RuntimeError(
            f"{name}: no Optuna trial completed (time budget {budget:.0f} s too short?)"
        )
    value = {t.number: float(t.value or 0.0) for t in done}  # COMPLETE trials have a value
    best_auc = max(value.values())
    near = [t for t in done if value[t.number] >= best_auc - tol]
    chosen = min(near, key=lambda t: (t.user_attrs["leaves"], -value[t.number]))
    booster = boosters[chosen.number]
    raw_calib = booster.predict(prepare(X_calib, feature_names, vocab))
    calibrator = fit_calibrator(raw_calib, y_calib, config.calibration.method)  # type: ignore[arg-type]
    trials_df = study.trials_dataframe(
        attrs=("number", "value", "state", "params", "user_attrs", "duration")
    )
    trials_df = trials_df.rename(columns={"value": "valid_auc"})
    trials_df["chosen"] = trials_df["number"] == chosen.number
    params = {**fixed, **chosen.params}
    params.pop("monotone_constraints", None)
    info = {
        "valid_auc": float(chosen.value),  # type: ignore[arg-type]
        "best_valid_auc": float(best_auc),
        "chosen_trial": chosen.number,
        "n_trials_complete": len(done),
        "n_trials_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        **model_size(booster),
        "monotone": monotone,
    }
    model = RiskModel(name, label, booster, feature_names, vocab, calibrator, params, info)
    return TuningResult(model, trials_df, float(best_auc), chosen.number)


def _to_dask(X: pd.DataFrame, y: np.ndarray, client):
    """The training rows as Dask collections, one partition per worker."""
    import dask.dataframe as dd

    n = max(1, len(client.scheduler_info().get("workers", {})))
    dX = dd.from_pandas(X.reset_index(drop=True), npartitions=n)
    dy = dd.from_pandas(pd.Series(y, name="label"), npartitions=n)
    dX, dy = client.persist([dX, dy])
    return dX, dy


def _fit_on_dask(
    params: dict, dX, dy, Xv: pd.DataFrame, yv: np.ndarray, tcfg: Tuning, client
) -> lgb.Booster:
    """Distributed fit with ``lightgbm.dask``, then early stopping on the validation period."""
    from lightgbm import DaskLGBMClassifier

    p = {k: v for k, v in params.items() if k not in ("metric", "num_threads", "verbosity")}
    rounds = tcfg.max_rounds
    model = DaskLGBMClassifier(client=client, n_estimators=rounds, verbose=-1, **p)
    model.fit(dX, dy)
    booster = model.to_local().booster_
    every = tcfg.report_every
    patience = tcfg.early_stopping_rounds
    best_it, best_auc = every, -1.0
    for it in range(every, booster.num_trees() + 1, every):
        auc = float(roc_auc_score(yv, booster.predict(Xv, num_iteration=it)))
        if auc > best_auc:
            best_it, best_auc = it, auc
        elif it - best_it >= patience:
            break
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best_it))
