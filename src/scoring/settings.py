"""Runtime settings, read from the environment when asked for (never at import)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables prefixed ``SCORING_`` (``MLFLOW_TRACKING_URI`` is read as is)."""

    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    home: Path = Field(
        Path("models"), description="Folder of the embedded MLflow store and audit database."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="Shared MLflow server; default: SQLite under home.",
    )
    experiment: str = Field("debt-collection", description="MLflow experiment name.")
    model_prefix: str = Field("collections", description="Prefix of registered model names.")
    serve_alias: str = Field("champion", description="Registry alias the service loads.")

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    def artifact_root(self) -> str:
        return (self.home.resolve() / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
