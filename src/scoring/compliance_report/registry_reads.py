"""What the registry says about the aliases: versions, promotions, model cards, training data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def promotion_table(keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every move of the ``champion`` alias (from :func:`scoring.registry.promotion_history`)
    and the current ``champion``/``challenger`` versions. Columns: ``model``, ``at``, ``by``,
    ``version``, ``previous``, ``reason``."""
    from scoring import registry

    keys = keys or registry.ALL_MODELS
    rows = []
    for key in keys:
        for r in registry.promotion_history(key):
            rows.append({"model": key, **{k: r.get(k) for k in ("at", "by", "version")}})
            rows[-1].update(previous=r.get("previous"), reason=r.get("reason"))
    df = pd.DataFrame(rows, columns=["model", "at", "by", "version", "previous", "reason"])
    # version numbers are integers; "previous" is missing for a first version, which would
    # otherwise turn the column into floats (printed "1.0000")
    df = df.astype({"version": "Int64", "previous": "Int64"})
    return df.sort_values(["at", "model"]).reset_index(drop=True)


def alias_table(keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Current version behind ``champion`` and ``challenger`` for each model."""
    from scoring import registry

    keys = keys or registry.ALL_MODELS
    champ = registry.alias_versions(keys, registry.CHAMPION)
    chall = registry.alias_versions(keys, registry.CHALLENGER)
    return pd.DataFrame(
        {
            "model": list(keys),
            "registered_name": [registry.registered_name(k) for k in keys],
            "champion": pd.array([champ[k] for k in keys], dtype="Int64"),
            "challenger": pd.array([chall[k] for k in keys], dtype="Int64"),
        }
    )


def model_card_markdown(key: str, version: int) -> str | None:
    """The model card logged with the training run of ``key`` version ``version``, else the
    version's description in the registry (:mod:`scoring.model_card`), else None."""
    import mlflow
    from mlflow import MlflowClient

    from scoring import registry

    mv = MlflowClient().get_model_version(registry.registered_name(key), str(version))
    fallback = mv.description or None
    if not mv.run_id:
        return fallback
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{key}/{key}_model_card.md"
        )
    except Exception:  # noqa: BLE001 - a missing card is reported, not fatal
        return fallback
    return Path(path).read_text(encoding="utf-8")


def training_data_dir(key: str, version: int) -> str | None:
    """``data_dir`` tag of the run that trained a model version."""
    import mlflow
    from mlflow import MlflowClient

    from scoring import registry

    mv = MlflowClient().get_model_version(registry.registered_name(key), str(version))
    if not mv.run_id:
        return None
    return mlflow.get_run(mv.run_id).data.tags.get("data_dir")
