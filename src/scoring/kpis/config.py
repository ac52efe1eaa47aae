"""The KPI configuration (``config/kpis.yaml``): horizons and targets, validated."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from scoring.configuration import FrozenConfig, load_yaml_config

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "kpis.yaml"


KPI_NAMES: tuple[str, ...] = (
    "recovery_rate",
    "days_to_pay",
    "unpaid_rate",
    "cost_of_recovery",
    "dispute_rate",
)


KPI_LABELS: dict[str, str] = {
    "recovery_rate": "recovery rate",
    "days_to_pay": "average days to pay (DSO)",
    "unpaid_rate": "unpaid rate",
    "cost_of_recovery": "cost of recovery",
    "dispute_rate": "dispute rate",
}


#: KPIs expressed as fractions (shown as %); the others are in days.
RATE_KPIS = frozenset(KPI_NAMES) - {"days_to_pay"}


ALL = "all"


KpiName = Literal["recovery_rate", "days_to_pay", "unpaid_rate", "cost_of_recovery", "dispute_rate"]


class Target(FrozenConfig):
    """A KPI target: ``direction`` ``above`` or ``below`` ``value`` (None: no target)."""

    kpi: KpiName
    direction: Literal["above", "below"] = "below"
    value: float | None = None

    def met(self, v: float | None) -> bool | None:
        """Whether ``v`` meets the target (None when there is no target or no value)."""
        if self.value is None or v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return bool(v > self.value) if self.direction == "above" else bool(v < self.value)

    def describe(self) -> str:
        """``> 90 %``, ``< 45 days`` or ``-``."""
        if self.value is None:
            return "-"
        op = ">" if self.direction == "above" else "<"
        return f"{op} {format_kpi(self.kpi, self.value)}"


class Horizons(FrozenConfig):
    recovery_days: int = Field(60, ge=0, description="Paid within this many days after due.")
    unpaid_days: int = Field(90, ge=0, description="Still unpaid this many days after due.")
    dispute_days: int = Field(90, ge=0, description="Disputed before this many days after due.")


class KpiConfig(FrozenConfig):
    """Horizons of the KPI definitions and the targets (``config/kpis.yaml``)."""

    version: str = "unversioned"
    horizons: Horizons = Horizons()
    #: every KPI has a target (``value`` None: none set)
    targets: dict[KpiName, Target] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _targets(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        raw = data.get("targets") or {}
        if not isinstance(raw, dict):
            return data
        targets = {
            k: ({"kpi": k, **v} if isinstance(v, dict) else v if v is not None else {"kpi": k})
            for k, v in raw.items()
        }
        for k in KPI_NAMES:
            targets.setdefault(k, {"kpi": k})
        return {**data, "version": str(data.get("version", "unversioned")), "targets": targets}

    @property
    def recovery_days(self) -> int:
        return self.horizons.recovery_days

    @property
    def unpaid_days(self) -> int:
        return self.horizons.unpaid_days

    @property
    def dispute_days(self) -> int:
        return self.horizons.dispute_days

    @property
    def max_horizon(self) -> int:
        return max(self.recovery_days, self.unpaid_days, self.dispute_days)


def load_kpi_config(path: str | Path | None = None) -> KpiConfig:
    """Read ``config/kpis.yaml`` (or ``path``); :class:`~scoring.configuration.ConfigError`
    (a ``ValueError``) naming each wrong field, ``FileNotFoundError`` for a missing file."""
    p = Path(path) if path else CONFIG_PATH
    if not p.exists():
        raise FileNotFoundError(f"KPI configuration {p} does not exist")
    return load_yaml_config(KpiConfig, p, "KPI configuration")


def format_kpi(kpi: str, v: float | None) -> str:
    """``93.1 %`` for rates, ``41.2 days`` for days to pay, ``-`` for missing values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kpi in RATE_KPIS:
        return f"{100 * v:.1f} %" if abs(v) >= 0.001 or v == 0 else f"{100 * v:.3f} %"
    return f"{v:.1f} days"


def default_costs() -> dict[str, float]:
    """Action costs of the policy configuration (CONTRACT §2)."""
    from scoring.policy.config import load_policy_config

    return {str(k): float(v) for k, v in load_policy_config().costs.items()}
