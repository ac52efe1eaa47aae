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
    reload_seconds: float = Field(
        30.0, ge=0, description="How often the service polls the alias (0: never)."
    )
    max_body_bytes: int = Field(
        5_000_000,
        ge=1024,
        description="Largest request body accepted (413 above it); checked after the API key.",
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest wait for each chunk of a request body (408 after)."
    )
    api_keys_file: Path | None = Field(
        None, description="YAML of hashed API keys; default: home/api_keys.yaml."
    )
    api_keys: str | None = Field(
        None,
        description="API keys as 'sha256hex:role[+role],...' (overrides the keys file).",
    )
    audit_url: str | None = Field(
        None, description="SQLAlchemy URL of the audit trail; default: SQLite home/audit.db."
    )
    audit_key: str | None = Field(
        None,
        description="HMAC key for debtor ids in the audit trail; default: home/audit.key "
        "(generated once). Required with a non-SQLite audit_url.",
    )

    webhook_url: str | None = Field(
        None,
        description="URL notified (POST, HMAC-signed JSON) when a review or contest is "
        "resolved and when an alert is raised; default: no notifications.",
    )
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key of the webhook signatures (16+ characters)."
    )
    webhook_retries: int = Field(5, ge=0, le=20, description="Retries of a failed delivery.")
    monitoring_config: Path | None = Field(
        None, description="YAML of the drift and alert thresholds; default: the packaged one."
    )

    kpi_data: Path | None = Field(
        None,
        description="Data set folder (the contract's tables) whose collection KPIs the "
        "console's dashboard shows; default: the service's own decisions only.",
    )

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    def artifact_root(self) -> str:
        return (self.home.resolve() / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
