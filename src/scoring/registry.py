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
        new = {key: v for key, (_, v) in zip(model_uris, created, strict=True)}
        champion = release_versions(ALL_MODELS, CHAMPION, client)
        firsts = {k: v for k, v in new.items() if champion.get(k) is None}
        run_id = _run_of(client, created)
        # the challenger release: this run's models, and the champion's for models this run
        # did not train (so that it is what would go live)
        carried = {k: v for k, v in champion.items() if k not in new and v is not None}
        write_release(
            client, CHALLENGER, new | carried, "registered by scoring train", "system", run_id,
            carried=sorted(carried),
        )  # fmt: skip
        if firsts:  # a model's first version is also its champion (one step for the service)
            write_release(
                client, CHAMPION, {k: v for k, v in champion.items() if v is not None} | firsts,
                "first version ever trained: " + ", ".join(sorted(firsts)), "system", run_id,
            )  # fmt: skip
        for name, version in created:
            client.set_registered_model_alias(name, CHALLENGER, str(version))
        for key, version in firsts.items():
            _set_champion(client, registered_name(key), version, "first version ever trained",
                          "system")  # fmt: skip
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


# --------------------------------------------------------------------------------------
# Releases: the set of versions that goes live together


RELEASE_TAG_PREFIX = "release."


def release_name(settings: Settings | None = None) -> str:
    """The registered model whose tags hold the releases (``release.champion``, ...)."""
    s = settings or get_settings()
    return f"{s.model_prefix}-release"


def read_release(alias: str, client=None) -> dict | None:
    """The release record behind ``alias`` (``versions`` by model key, ``run_id``, ``at``,
    ``by``, ``reason``, ``previous``), or ``None`` for a registry that has none (written before
    releases existed). One read of one tag: a promotion, one write of that tag, is seen
    whole or not at all. :class:`RegistryUnavailable` when the registry cannot answer."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        rm = client.get_registered_model(release_name())
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise RegistryUnavailable(f"model registry: {exc.message.splitlines()[0]}") from exc
    except (OSError, ConnectionError) as exc:
        raise RegistryUnavailable(f"model registry unreachable: {exc}") from exc
    raw = rm.tags.get(RELEASE_TAG_PREFIX + alias)
    if raw is None:
        return None
    record = json.loads(raw)
    record["versions"] = {k: int(v) for k, v in record["versions"].items()}
    return record


def write_release(
    client, alias: str, versions: dict[str, int], reason: str, who: str,
    run_id: str | None = None, **extra,
) -> dict:  # fmt: skip
    """Point ``alias`` at the set ``versions`` in one write (and keep a history tag)."""
    from mlflow.exceptions import MlflowException

    name = release_name()
    try:
        client.create_registered_model(
            name,
            description=(
                "Releases of the collection models: the tags release.champion and "
                "release.challenger name the versions the service loads together "
                "(written by scoring train and scoring promote)."
            ),
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    previous = read_release(alias, client)
    stamp = dt.datetime.now(dt.UTC)
    record = {
        "alias": alias,
        "versions": {k: int(v) for k, v in sorted(versions.items())},
        "run_id": run_id,
        "at": stamp.isoformat(timespec="seconds"),
        "by": who,
        "reason": reason,
        "previous": previous["versions"] if previous else None,
        **extra,
    }
    text = json.dumps(record)
    client.set_registered_model_tag(name, RELEASE_TAG_PREFIX + alias, text)  # the one step
    client.set_registered_model_tag(
        name, f"{RELEASE_TAG_PREFIX}history.{alias}.{stamp:%Y%m%dT%H%M%S.%f}Z", text
    )
    return record


def release_versions(keys: tuple[str, ...], alias: str, client=None) -> dict[str, int | None]:
    """The version of each model the service loads for ``alias``: the release record's, or
    (a registry without releases) the alias of each model."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    record = read_release(alias, client)
    if record is None:
        return {k: _alias_version(client, registered_name(k), alias) for k in keys}
    return {k: record["versions"].get(k) for k in keys}


# --------------------------------------------------------------------------------------
# Champion/challenger split in production (test and learn)

SPLIT_TAG = RELEASE_TAG_PREFIX + "split"


def read_split(client=None) -> dict | None:
    """The split in force (``share`` of debtors decided by the ``versions`` of the challenger
    release, ``salt`` of the debtor hash, who started it, when and why), or ``None``: no split,
    or stopped (``share`` 0). Shared by every replica through the registry."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        rm = client.get_registered_model(release_name())
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise RegistryUnavailable(f"model registry: {exc.message.splitlines()[0]}") from exc
    except (OSError, ConnectionError) as exc:
        raise RegistryUnavailable(f"model registry unreachable: {exc}") from exc
    raw = rm.tags.get(SPLIT_TAG)
    if raw is None:
        return None
    record = json.loads(raw)
    if not record.get("share"):
        return None
    record["versions"] = {k: int(v) for k, v in record["versions"].items()}
    return record


def write_split(share: float, who: str, reason: str, client=None) -> dict:
    """Start (``share`` > 0: the challenger release of now, pinned; a new salt) or stop
    (``share`` 0) the split; recorded in the release history. Raises ``ValueError`` on a
    share outside [0, 0.5] and :class:`ModelNotFound` without a challenger release that
    differs from the champion's."""
    import secrets

    from mlflow import MlflowClient

    if not 0.0 <= share <= 0.5:
        raise ValueError(f"share must be between 0 and 0.5 (the challenger's part), not {share}")
    client = client or MlflowClient()
    stamp = dt.datetime.now(dt.UTC)
    record: dict = {"share": share, "at": stamp.isoformat(timespec="seconds"), "by": who,
                    "reason": reason, "versions": {}}  # fmt: skip
    if share > 0:
        chall = read_release(CHALLENGER, client)
        champ = read_release(CHAMPION, client)
        if chall is None:
            raise ModelNotFound("policy", CHALLENGER, "no challenger release (run scoring train)")
        if champ is not None and chall["versions"] == champ["versions"]:
            raise ModelNotFound(
                "policy", CHALLENGER, "the challenger release is the champion's: nothing to test"
            )
        record |= {"versions": chall["versions"], "run_id": chall.get("run_id"),
                   "salt": secrets.token_hex(8)}  # fmt: skip
    name = release_name()
    text = json.dumps(record)
    client.set_registered_model_tag(name, SPLIT_TAG, text)
    client.set_registered_model_tag(
        name, f"{RELEASE_TAG_PREFIX}history.split.{stamp:%Y%m%dT%H%M%S.%f}Z", text
    )
    return record


def _run_of(client, created: list[tuple[str, int]]) -> str | None:
    for name, version in created:
        with contextlib.suppress(Exception):
            return client.get_model_version(name, str(version)).run_id
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


def promote(
    keys: tuple[str, ...] = ALL_MODELS,
    force: bool = False,
    who: str | None = None,
    note: str = "",
    tolerance: float = 0.0,
) -> list[PromotionDecision]:
    """Make the challenger release the champion where it is not worse, on the same period.

    Each model of ``keys`` whose challenger differs from its champion is judged on the
    challenger's held-out test period, where ``scoring train`` evaluated the champion of the
    time too: the ROC AUC of both risk models on the same cases, the policy's doubly robust
    lower bound against the champion's estimate. A comparison made against another champion
    than today's is refused (retrain). The models go live together: if any of them is
    refused, none is promoted (``force`` promotes regardless). The new champion release is
    written in one step (the service switches on it), then the aliases move and every
    promotion is recorded with who, when and why.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    who = who or getpass.getuser()
    champ_rel = release_versions(ALL_MODELS, CHAMPION, client)
    chall_rel = release_versions(ALL_MODELS, CHALLENGER, client)
    judged: list[tuple[PromotionDecision, dict]] = []
    out: list[PromotionDecision] = []
    for key in keys:
        name = registered_name(key)
        champ, chall = champ_rel.get(key), chall_rel.get(key)
        if chall is None:
            out.append(PromotionDecision(key, name, champ, chall, False, "no challenger version"))
            continue
        if champ == chall:
            out.append(
                PromotionDecision(key, name, champ, chall, False, "challenger is already champion")
            )
            continue
        figures: dict = {}
        if champ is None:
            ok, why = True, "no champion yet"
        elif key == "policy":
            ok, why, figures = _policy_gate(client, name, champ, chall)
        elif key in OPTIONAL_MODELS:
            ok, why = True, "goes live with the case models of its training run"
        else:
            ok, why, figures = _risk_gate(client, key, name, champ, chall, tolerance)
        if force and not ok:
            ok, why = True, f"forced ({why})"
        judged.append((PromotionDecision(key, name, champ, chall, ok, why), figures))
    refused = [d.key for d, _ in judged if not d.promoted]
    if refused:
        for d, _ in judged:
            d.promoted = False
            d.reason = (
                f"not promoted: {d.reason}"
                if d.key in refused
                else f"not promoted: kept with its release ({', '.join(refused)} refused); {d.reason}"
            )
        return out + [d for d, _ in judged]
    if judged:
        live = {k: v for k, v in champ_rel.items() if v is not None}
        live |= {d.key: int(d.challenger) for d, _ in judged if d.challenger is not None}
        chall_record = read_release(CHALLENGER, client) or {}
        write_release(
            client, CHAMPION, live, (note + "; " if note else "") + "promoted: "
            + ", ".join(f"{d.key} v{d.champion}->v{d.challenger}" for d, _ in judged),
            who, chall_record.get("run_id"),
        )  # fmt: skip
        for d, figures in judged:
            _set_champion(
                client, d.name, int(d.challenger or 0), (note + "; " if note else "") + d.reason,
                who, d.champion, figures,
            )  # fmt: skip
    return out + [d for d, _ in judged]


def _risk_gate(
    client, key: str, name: str, champ: int, chall: int, tolerance: float
) -> tuple[bool, str, dict]:
    """A risk model's promotion gate: the challenger's test ROC AUC against the champion's on
    the same test period (the challenger's), both computed by ``scoring train``."""
    tags = client.get_model_version(name, str(chall)).tags
    c_val, h_val = _float(tags.get("test_roc_auc")), _float(tags.get("gate_champion_test_roc_auc"))
    evaluated = tags.get("gate_champion_version")
    figures = {
        "challenger_test_roc_auc": c_val,
        "champion_test_roc_auc_same_period": h_val,
        "period_from": tags.get("test_period_from"),
        "champion_evaluated": evaluated,
    }
    refused = _not_comparable(chall, champ, evaluated, None not in (c_val, h_val), "test")
    if refused or c_val is None or h_val is None:
        return False, refused or "", figures
    ok = c_val - h_val >= -tolerance
    period = f" from {tags['test_period_from']}" if tags.get("test_period_from") else ""
    why = (
        f"test_roc_auc on the same test period{period}: challenger v{chall} {c_val:.4f} vs "
        f"champion v{champ} {h_val:.4f}"
    )
    return ok, why, figures


def _not_comparable(
    chall: int, champ: int, evaluated: str | None, figures_present: bool, period: str
) -> str | None:
    """Why challenger and champion cannot be compared from the challenger's tags (``None``
    when they can): never evaluated against a champion, or against another one than today's."""
    if evaluated is None or not figures_present:
        return (
            f"challenger v{chall} was not evaluated against a champion on its {period} period "
            "(retrain with the current champion registered, or --force)"
        )
    if int(evaluated) != champ:
        return (
            f"challenger v{chall} was compared with v{evaluated}, but the champion is now "
            f"v{champ} (retrain, or --force)"
        )
    return None


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
    refused = _not_comparable(chall, champ, evaluated, None not in (low, champ_dr), "held-out")
    if refused or low is None or champ_dr is None:
        return False, refused or "", figures
    ok = float(low) > float(champ_dr)
    why = (
        f"policy DR lower bound: challenger v{chall} {float(low):.2f} EUR/decision vs champion "
        f"v{champ} {float(champ_dr):.2f} on the period from {tags.get('ope_period_from')}"
    )
    return ok, why, figures


def _float(v: str | None) -> float | None:
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


def resolve(key: str, alias: str, version: int | None = None) -> LoadedModel:
    """Download the artifact of ``NAME@alias`` (or of ``version``, the one a release names)
    and return where it is; :class:`ModelNotFound` when there is none,
    :class:`RegistryUnavailable` when the registry cannot answer."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    name = registered_name(key)
    if version is None:
        mv = _registry_call(key, alias, lambda: client.get_model_version_by_alias(name, alias))
    else:
        mv = _registry_call(key, alias, lambda: client.get_model_version(name, str(version)))
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{mv.version}"))
    candidates = list(local.rglob(f"{key}.json"))
    if not candidates:
        raise FileNotFoundError(f"{name} v{mv.version}: no {key}.json in its artifacts")
    return LoadedModel(key, name, int(mv.version), alias, candidates[0], dict(mv.tags))


def resolve_release(key: str, alias: str) -> LoadedModel:
    """:func:`resolve` of the version the release behind ``alias`` names for ``key``."""
    version = _registry_call(key, alias, lambda: release_versions((key,), alias)[key])
    if version is None:
        raise ModelNotFound(key, alias, "not part of the release")
    return resolve(key, alias, version)


def champion_risk_model(key: str):
    """The champion risk model ``key`` and its version (to evaluate it on a challenger's test
    period): ``(None, None)`` without one, ``(None, version)`` when it cannot be read."""
    from scoring.models.risk import RiskModel

    try:
        loaded = resolve_release(key, CHAMPION)
    except Exception:  # noqa: BLE001 - no registry, no model, no alias
        return None, None
    try:
        return RiskModel.load(loaded.path), loaded.version
    except Exception:  # noqa: BLE001 - an unreadable champion is not comparable
        return None, loaded.version


def champion_policy():
    """The registered champion policy and its version, if any (for the promotion gate):
    ``(None, None)`` without one, ``(None, version)`` when it cannot be read."""
    from scoring.policy.recommend import Policy

    try:
        loaded = resolve_release("policy", CHAMPION)
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
    """One row per model and alias: the version the release behind the alias names (what a
    service loads), when it was registered, its test metrics (version tags) and who promoted
    it. A model without a version there has an empty row."""
    from mlflow import MlflowClient

    client = MlflowClient()
    rows = []
    release = {}
    for alias in aliases:
        try:
            release[alias] = release_versions(ALL_MODELS, alias, client)
        except RegistryError:
            release[alias] = {}
    for key in ALL_MODELS:
        name = registered_name(key)
        for alias in aliases:
            row: dict = {"model": key, "alias": alias, "version": None, "registered": None}
            try:
                version = release[alias].get(key)
                if version is None:
                    raise LookupError(alias)
                mv = client.get_model_version(name, str(version))
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
