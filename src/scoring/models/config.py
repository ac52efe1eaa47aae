"""The versioned training configuration (``scoring/config/training.yaml``) as a frozen model.

:func:`load_training_config` reads and validates it (path ``None``: the packaged default). A
missing or misspelt field, a search-space entry of an unknown type or an empty range is an
error naming the field, before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from scoring.configuration import (
    ConfigError,
    FrozenConfig,
    merge,
    read_yaml_mapping,
    validate_config,
)

#: Packaged configuration files.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
PERIODS = ("train", "valid", "calib", "test")


class Sampling(FrozenConfig):
    """Instants ``as_of`` at which cases are built across the history."""

    step_days: int = Field(14, ge=1, le=365, description="One instant every this many days.")
    warmup_days: int = Field(90, ge=0, description="First instant after the first invoice.")
    hour: int = Field(9, ge=0, le=23, description="Local hour (Europe/Paris) of each instant.")
    max_cases_per_as_of: int = Field(8000, ge=0, description="Subsample beyond (0: never).")


class Split(FrozenConfig):
    """Consecutive periods of instants (fractions), never a random split across time."""

    train: float = Field(0.60, gt=0)
    valid: float = Field(0.14, gt=0)
    calib: float = Field(0.12, gt=0)
    test: float = Field(0.14, gt=0)
    min_cases: int = Field(200, ge=1, description="Cases each period needs at least.")
    min_positives: int = Field(10, ge=0, description="Positives and negatives per period.")

    def fractions(self) -> tuple[float, ...]:
        return tuple(getattr(self, p) for p in PERIODS)


class Tuning(FrozenConfig):
    trials: int = Field(20, ge=1, description="Optuna trials per model (--trials).")
    timeout_seconds: float = Field(600, gt=0, description="Budget per model (--timeout).")
    size_tolerance: float = Field(
        0.002, ge=0, description="Keep the smallest model within this validation AUC of the best."
    )
    early_stopping_rounds: int = Field(50, ge=1)
    max_rounds: int = Field(600, ge=1)
    report_every: int = Field(25, ge=1, description="Rounds between pruning checks.")
    seed: int = 42


class _Range(FrozenConfig):
    @model_validator(mode="after")
    def _bounds(self):
        low, high = getattr(self, "low"), getattr(self, "high")  # noqa: B009 - set by subclasses
        if low >= high:
            raise ValueError(f"low ({low}) must be below high ({high})")
        if getattr(self, "log") and low <= 0:  # noqa: B009
            raise ValueError("a log-scale range needs low > 0")
        return self


class IntRange(_Range):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False


class FloatRange(_Range):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False


class Choice(FrozenConfig):
    type: Literal["categorical"]
    choices: tuple[str | int | float | bool, ...] = Field(min_length=1)


SearchSpec = Annotated[IntRange | FloatRange | Choice, Field(discriminator="type")]


class Calibration(FrozenConfig):
    method: Literal["isotonic", "platt", "auto"] = Field(
        "auto", description="auto: isotonic when the calibration period has >= 2000 cases."
    )


class ModelSpec(FrozenConfig):
    label: Literal["default", "dispute"]
    monotone: bool = Field(False, description="Apply the features' monotone constraints.")


class InvoiceModelsConfig(FrozenConfig):
    """The invoice models (payment date, dispute per invoice), trained after the case models."""

    enabled: bool = Field(True, description="Train the invoice models with the case models.")
    horizon_weeks: int = Field(
        15, ge=2, le=26, description="Weeks after as_of of the payment-date distribution."
    )
    max_panel_rows: int = Field(
        1_500_000, ge=10_000, description="Invoice-week rows of the hazard panel (sampled beyond)."
    )
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=255)
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    dispute_num_leaves: int = Field(
        15, ge=2, le=255, description="Leaves of the dispute model's trees (TreeSHAP cost)."
    )
    dispute_max_depth: int = Field(5, ge=1, le=20)
    max_rounds: int = Field(800, ge=1)
    early_stopping_rounds: int = Field(40, ge=1)
    simulations: int = Field(
        1000, ge=100, le=20000, description="Monte Carlo draws of the cash forecast's intervals."
    )


class TrainingConfig(FrozenConfig):
    """Everything ``scoring train`` reads besides the data (logged with every run)."""

    version: str = Field("1", description="Version of this configuration (logged).")
    sampling: Sampling = Sampling()
    split: Split = Split()
    tuning: Tuning = Tuning()
    search_space: dict[str, SearchSpec] = Field(min_length=1)
    fixed_params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    calibration: Calibration = Calibration()
    models: dict[Literal["default_risk", "dispute_risk"], ModelSpec] = Field(min_length=1)
    invoices: InvoiceModelsConfig = InvoiceModelsConfig()

    def lightgbm_fixed(self) -> dict[str, Any]:
        return dict(self.fixed_params)


def default_training_path() -> Path:
    return CONFIG_DIR / "training.yaml"


def load_training_config(path: str | Path | None = None) -> TrainingConfig:
    """Read and validate a training configuration (``None``: the packaged default).

    A file that starts with ``extends: default`` (the packaged configuration) or ``extends:
    other.yaml`` (relative to the file) holds only what it changes: its values are merged
    over the base's, mapping by mapping, and the result is validated as a whole.
    """
    p = Path(path) if path is not None else default_training_path()
    data = _read_with_base(p, seen=())
    return validate_config(TrainingConfig, data, p, "training configuration")


def _read_with_base(p: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    data = read_yaml_mapping(p, "training configuration")
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"training configuration {p}: extends must be 'default' or a file path")
    base_path = default_training_path() if base == "default" else (p.parent / base)
    if base_path.resolve() in seen or base_path.resolve() == p.resolve():
        raise ConfigError(f"training configuration {p}: extends {base!r} forms a cycle")
    return merge(_read_with_base(base_path, (*seen, p.resolve())), data)
