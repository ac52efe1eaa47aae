"""MLflow: tracking set-up, model logging and registration, aliases, promotion, loading.

Every model is registered as a custom pyfunc whose artifact is the model's own JSON file, so
``mlflow models serve -m models:/NAME@champion`` serves probabilities (the pyfunc carries the
few modules it imports and pins its complete dependency closure, so it also serves from a
fresh environment, outside this repository), and the service loads the same file directly
(no pyfunc overhead on the hot path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring.settings import Settings, get_settings

RISK_MODELS = ("default_risk", "dispute_risk")
ALL_MODELS = (*RISK_MODELS, "policy", "invoice_risk")
#: models a service can do without (older registries have none)
OPTIONAL_MODELS = ("invoice_risk",)
CHAMPION, CHALLENGER = "champion", "challenger"
PROMOTION_TAG_PREFIX = "promotion."


class RegistryError(RuntimeError):
    """The model registry could not answer (base of the registry's errors)."""


class ModelNotFound(RegistryError):
    """No version of a model under an alias (or no such registered model)."""

    def __init__(self, key: str, alias: str, detail: str = "") -> None:
        self.key, self.alias = key, alias
        super().__init__(
            f"no version of {key} under the alias {alias!r} (run `scoring train`)"
            + (f": {detail}" if detail else "")
        )


class RegistryUnavailable(RegistryError):
    """The tracking server or store cannot be reached or read."""


def _registry_call(key: str, alias: str, fn):
    """``fn()``, with MLflow's errors turned into :class:`ModelNotFound` (the resource does
    not exist) or :class:`RegistryUnavailable` (anything else)."""
    from mlflow.exceptions import MlflowException

    try:
        return fn()
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise ModelNotFound(key, alias, exc.message.splitlines()[0]) from exc
        raise RegistryUnavailable(f"model registry: {exc.message.splitlines()[0]}") from exc
    except (OSError, ConnectionError) as exc:
        raise RegistryUnavailable(f"model registry unreachable: {exc}") from exc


def setup_mlflow(settings: Settings | None = None):
    """Point MLflow at the embedded SQLite store under ``models/`` or ``MLFLOW_TRACKING_URI``.

    Returns the experiment id. Called by commands, never at import.
    """
    import mlflow

    s = settings or get_settings()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not s.mlflow_tracking_uri:
        s.home.mkdir(parents=True, exist_ok=True)
    uri = s.tracking_uri()
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if before is None:
        # mlflow exports the URI to the environment; later Settings() would take the embedded
        # store for a user-chosen server and ignore a different SCORING_HOME
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    exp = mlflow.get_experiment_by_name(s.experiment)
    if exp is None:
        return mlflow.create_experiment(s.experiment, artifact_location=artifact_location(s))
    return exp.experiment_id


def artifact_location(s: Settings) -> str | None:
    """Where a new experiment keeps its artifacts. A tracking server decides for itself
    (``None``); a database URI would otherwise make MLflow write to ``./mlruns`` of whatever
    folder the command runs in: next to a SQLite file, else under ``home/artifacts``."""
    uri = s.mlflow_tracking_uri
    if not uri:
        return s.artifact_root()
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("http", "https", "databricks", "file") or ":" not in uri:
        return None
    if scheme == "sqlite" and uri.startswith("sqlite:///") and len(uri) > len("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return (db.resolve().parent / "artifacts").as_uri()
    return s.artifact_root()


def registered_name(key: str, settings: Settings | None = None) -> str:
    s = settings or get_settings()
    return f"{s.model_prefix}-{key.replace('_', '-')}"


# --------------------------------------------------------------------------------------
# The pyfunc wrapper


def signature_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The feature frame as the pyfunc receives it: categoricals as plain strings."""
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), "none").astype(object)
    return out


#: the modules a logged risk model imports when loaded (``RiskModel.load`` and predict), shipped
#: with it as ``code_paths``: a model server needs neither the rest of the package nor its
#: dependencies (the case builder, holidays, pydantic, Optuna, SHAP, FastAPI)
PYFUNC_MODULES = (
    "scoring/__init__.py",
    "scoring/contract.py",
    "scoring/features/__init__.py",
    "scoring/features/catalogue.py",
    "scoring/features/matrix.py",
    "scoring/models/__init__.py",
    "scoring/models/calibration.py",
    "scoring/models/risk.py",
)
#: the distributions the loading path imports; their whole dependency closure is logged
PYFUNC_ROOTS = ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "scipy")


def pyfunc_code(dest: Path) -> Path:
    """Copy :data:`PYFUNC_MODULES` under ``dest/scoring``; returns that package folder."""
    import shutil

    src = Path(__file__).resolve().parent.parent
    for rel in PYFUNC_MODULES:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
    return dest / "scoring"


def log_risk_model(model, X_example: pd.DataFrame, key: str) -> str:
    """Log a :class:`RiskModel` as a pyfunc in the active run; returns the model URI.

    The pyfunc carries the code it loads (:data:`PYFUNC_MODULES`) and pins the complete
    dependency closure of what that code imports (:func:`pyfunc_requirements`), so that
    ``mlflow models serve`` with its default virtualenv manager serves it outside this
    repository."""
    import mlflow
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{key}.json"
        model.save(path)
        example = signature_frame(X_example.head(5))
        out = pd.DataFrame({"probability": model.predict_proba(X_example.head(5))})
        info = mlflow.pyfunc.log_model(
            name=key,
            python_model=str(Path(__file__).parent / "mlflow_models" / "risk_pyfunc.py"),
            artifacts={"model": str(path)},
            code_paths=[str(pyfunc_code(Path(tmp) / "code"))],
            signature=infer_signature(example, out),
            input_example=example,
            pip_requirements=pyfunc_requirements(),
        )
    return info.model_uri


def log_json_model(obj_path: Path, key: str) -> str:
    """Log a JSON-serialised model (the policy) as an artifact-backed pyfunc."""
    import mlflow

    info = mlflow.pyfunc.log_model(
        name=key,
        python_model=str(Path(__file__).parent / "mlflow_models" / "artifact_pyfunc.py"),
        artifacts={"model": str(obj_path)},
        pip_requirements=pyfunc_requirements(("mlflow",)),
    )
    return info.model_uri


def pyfunc_requirements(roots: tuple[str, ...] = PYFUNC_ROOTS) -> list[str]:
    """``name==version`` for every distribution ``roots`` need, transitively, at the versions
    installed here (the versions of ``requirements.lock`` that CI tests; a test checks they
    agree). Extras are not followed; environment markers are evaluated for this machine."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = canonicalize_name(name)
        if key in pins:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            if name in roots:
                raise
            continue  # an optional dependency not installed here
        pins[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{k}=={v}" for k, v in sorted(pins.items())]


# --------------------------------------------------------------------------------------
# Registration and aliases


def register_all(
    model_uris: dict[str, str],
    tags: dict[str, dict[str, str]],
    descriptions: dict[str, str] | None = None,
) -> dict[str, int]:
    """Register every model or none: on failure, versions created so far are deleted.

    Each new version gets its ``tags`` and its ``descriptions`` entry (the model card,
    :mod:`scoring.model_card`, shown by the MLflow UI) before any alias moves; a version
    without its card is not complete, so failing to write a description fails the whole
    registration like any other step (versions deleted, the error raised). New versions
    then get the alias ``challenger``; a model's first version also becomes ``champion``
    (recorded as a promotion).
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    created: list[tuple[str, int]] = []
    try:
        for key, uri in model_uris.items():
            name = registered_name(key)
            mv = mlflow.register_model(uri, name)
            version = int(mv.version)
            created.append((name, version))
            for k, v in tags.get(key, {}).items():
                client.set_model_version_tag(name, str(version), k, str(v))
            if descriptions and descriptions.get(key):
                client.update_model_version(name, str(version), description=descriptions[key])
        for name, version in created:
            client.set_registered_model_alias(name, CHALLENGER, str(version))
            if _alias_version(client, name, CHAMPION) is None:
                _set_champion(client, name, version, "first version ever trained", "system")
    except BaseException:
        for name, version in created:
            with contextlib.suppress(Exception):  # best effort rollback
                client.delete_model_version(name, str(version))
        raise
    return {name: v for name, v in created}


def _alias_version(client, name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # noqa: BLE001 - missing alias or model
        return None


def _set_champion(
    client,
    name: str,
    version: int,
    reason: str,
    who: str,
    previous: int | None = None,
    figures: dict | None = None,
) -> dict:
    stamp = dt.datetime.now(dt.UTC)
    now = stamp.isoformat(timespec="seconds")
    record = {"at": now, "by": who, "version": version, "previous": previous, "reason": reason}
    if figures:
        record["figures"] = figures
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(
        name, f"{PROMOTION_TAG_PREFIX}{stamp:%Y%m%dT%H%M%S.%f}Z", json.dumps(record)
    )
    client.set_model_version_tag(name, str(version), "promoted_at", now)
    client.set_model_version_tag(name, str(version), "promoted_by", who)
    client.set_model_version_tag(name, str(version), "promotion_reason", reason)
    return record


def promotion_history(key: str) -> list[dict]:
    """Every move of ``champion`` for a model, oldest first (MLflow keeps no alias history)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    try:
        rm = client.get_registered_model(registered_name(key))
    except Exception:  # noqa: BLE001
        return []
    recs = [json.loads(v) for k, v in rm.tags.items() if k.startswith(PROMOTION_TAG_PREFIX)]
    return sorted(recs, key=lambda r: r["at"])


@dataclass
class PromotionDecision:
    key: str
    name: str
    champion: int | None
    challenger: int | None
    promoted: bool
    reason: str


#: the metric that decides promotion, and whether higher is better
PROMOTION_METRIC = {
    "default_risk": ("test_roc_auc", True),
    "dispute_risk": ("test_roc_auc", True),
    "policy": ("ope_dr_value", True),
}


def promote(
    keys: tuple[str, ...],
    force: bool = False,
    who: str | None = None,
    note: str = "",
    tolerance: float = 0.0,
) -> list[PromotionDecision]:
    """Move ``champion`` to ``challenger`` where the challenger is not worse on its test metric.

    The comparison uses the metric recorded on each version (``test_roc_auc`` for risk models,
    the doubly robust off-policy value for the policy); ``force`` promotes regardless.
    Every promotion is recorded with who, when and why.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    who = who or getpass.getuser()
    out = []
    for key in keys:
        name = registered_name(key)
        champ = _alias_version(client, name, CHAMPION)
        chall = _alias_version(client, name, CHALLENGER)
        if chall is None:
            out.append(PromotionDecision(key, name, champ, chall, False, "no challenger version"))
            continue
        if champ == chall:
            out.append(
                PromotionDecision(key, name, champ, chall, False, "challenger is already champion")
            )
            continue
        figures: dict = {}
        if key == "policy" and champ is not None:
            ok, why, figures = _policy_gate(client, name, champ, chall)
        else:
            metric, higher = PROMOTION_METRIC.get(key, ("test_roc_auc", True))
            c_val = _version_metric(client, name, chall, metric)
            h_val = _version_metric(client, name, champ, metric) if champ is not None else None
            if champ is None:
                ok, why = True, "no champion yet"
            elif c_val is None or h_val is None:
                ok, why = False, f"{metric} missing on a version"
            else:
                diff = (c_val - h_val) if higher else (h_val - c_val)
                ok = diff >= -tolerance
                why = f"{metric}: challenger v{chall} {c_val:.4f} vs champion v{champ} {h_val:.4f}"
        if force and not ok:
            ok, why = True, f"forced ({why})"
        if ok:
            _set_champion(
                client, name, chall, (note + "; " if note else "") + why, who, champ, figures
            )
        out.append(
            PromotionDecision(key, name, champ, chall, ok, why if ok else f"not promoted: {why}")
        )
    return out


def _policy_gate(client, name: str, champ: int, chall: int) -> tuple[bool, str, dict]:
    """The policy's promotion gate: the challenger's doubly robust lower bound on its held-out
    period must beat the champion's estimate on the same period (both computed by
    ``scoring train`` with the same cross-fitted outcome model)."""
    tags = client.get_model_version(name, str(chall)).tags
    low = tags.get("ope_dr_ci_low")
    champ_dr = tags.get("gate_champion_dr_value")
    evaluated = tags.get("gate_champion_version")
    figures = {
        "challenger_dr": _float(tags.get("ope_dr_value")),
        "challenger_dr_ci_low": _float(low),
        "champion_dr_same_period": _float(champ_dr),
        "period_from": tags.get("ope_period_from"),
        "champion_evaluated": evaluated,
    }
    if low is None or champ_dr is None or evaluated is None:
        return (
            False,
            (
                f"challenger v{chall} was not evaluated against a champion on its held-out period "
                "(retrain with the current champion registered, or --force)"
            ),
            figures,
        )
    if int(evaluated) != champ:
        return (
            False,
            (
                f"challenger v{chall} was compared with v{evaluated}, but the champion is now "
                f"v{champ} (retrain, or --force)"
            ),
            figures,
        )
    ok = float(low) > float(champ_dr)
    why = (
        f"policy DR lower bound: challenger v{chall} {float(low):.2f} EUR/decision vs champion "
        f"v{champ} {float(champ_dr):.2f} on the period from {tags.get('ope_period_from')}"
    )
    return ok, why, figures


def _float(v: str | None) -> float | None:
    return float(v) if v is not None else None


def _version_metric(client, name: str, version: int, metric: str) -> float | None:
    mv = client.get_model_version(name, str(version))
    v = mv.tags.get(metric)
    return float(v) if v is not None else None


# --------------------------------------------------------------------------------------
# Loading


@dataclass
class LoadedModel:
    key: str
    name: str
    version: int
    alias: str
    path: Path
    tags: dict[str, str]


def resolve(key: str, alias: str) -> LoadedModel:
    """Download the artifact of ``NAME@alias`` and return where it is; :class:`ModelNotFound`
    when there is none, :class:`RegistryUnavailable` when the registry cannot answer."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    name = registered_name(key)
    mv = _registry_call(key, alias, lambda: client.get_model_version_by_alias(name, alias))
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}"))
    candidates = list(local.rglob(f"{key}.json"))
    if not candidates:
        raise FileNotFoundError(f"{name} v{mv.version}: no {key}.json in its artifacts")
    return LoadedModel(key, name, int(mv.version), alias, candidates[0], dict(mv.tags))


def champion_policy():
    """The registered champion policy and its version, if any (for the promotion gate):
    ``(None, None)`` without one, ``(None, version)`` when it cannot be read."""
    from scoring.policy.recommend import Policy

    try:
        loaded = resolve("policy", CHAMPION)
    except Exception:  # noqa: BLE001 - no registry, no model, no alias
        return None, None
    try:
        return Policy.load(loaded.path), loaded.version
    except Exception:  # noqa: BLE001 - an unreadable champion is not comparable
        return None, loaded.version


def not_trained_reason(key: str, loaded) -> str | None:
    """The ``not_trained.<key>`` tag of the run that trained any of the ``loaded`` models
    (:class:`LoadedModel`): why ``key`` was not trained with them, if that run says."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for lm in loaded:
        try:
            mv = client.get_model_version(lm.name, str(lm.version))
            why = (
                client.get_run(mv.run_id).data.tags.get(f"not_trained.{key}") if mv.run_id else None
            )
        except Exception:  # noqa: BLE001 - the reason is best effort
            why = None
        if why:
            return why
    return None


#: version tags shown by ``scoring models`` (when a version has them)
OVERVIEW_TAGS = (
    "test_roc_auc", "test_brier", "test_ece", "ope_dr_value", "ope_dr_ci_low", "ope_dr_ci_high",
    "trees", "learner", "promoted_at", "promoted_by",
)  # fmt: skip


def models_overview(aliases: tuple[str, ...] = (CHAMPION, CHALLENGER)) -> pd.DataFrame:
    """One row per model and alias: the version behind it, when it was registered, its test
    metrics (version tags) and who promoted it. A model without the alias has an empty row."""
    from mlflow import MlflowClient

    client = MlflowClient()
    rows = []
    for key in ALL_MODELS:
        name = registered_name(key)
        for alias in aliases:
            row: dict = {"model": key, "alias": alias, "version": None, "registered": None}
            try:
                mv = client.get_model_version_by_alias(name, alias)
            except Exception:  # noqa: BLE001 - no such model or alias: an empty row
                rows.append(row)
                continue
            row["version"] = int(mv.version)
            row["registered"] = dt.datetime.fromtimestamp(
                mv.creation_timestamp / 1000, dt.UTC
            ).isoformat(timespec="seconds")
            row.update({t: mv.tags.get(t) for t in OVERVIEW_TAGS if t in mv.tags})
            rows.append(row)
    cols = ["model", "alias", "version", "registered", *OVERVIEW_TAGS]
    return pd.DataFrame(rows).reindex(columns=cols)


def alias_versions(keys: tuple[str, ...], alias: str) -> dict[str, int | None]:
    """Current version behind ``alias`` for each model (for hot-swap polling)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    return {k: _alias_version(client, registered_name(k), alias) for k in keys}
