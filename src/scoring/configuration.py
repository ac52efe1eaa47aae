"""Base of the versioned YAML configurations (training, policy, KPIs): frozen pydantic models
that forbid unknown fields, name the field in every error, and carry a fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and each field."""


class FrozenConfig(BaseModel):
    """Frozen, extra fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def with_overrides(self, overrides: dict[str, Any]) -> Self:
        """A copy with nested values replaced, e.g. ``{"split": {"min_cases": 50}}``
        (validated like the file)."""
        return type(self).model_validate(merge(self.model_dump(), overrides))

    def fingerprint(self) -> str:
        """Short stable hash of the content (logged with the models that use it)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_yaml(self, path: str | Path) -> Path:
        """Write the configuration as YAML (readable back with the matching loader)."""
        path = Path(path)
        path.write_text(
            yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
        return path


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s values, nested mappings merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


C = TypeVar("C", bound=FrozenConfig)


def load_yaml_config(model: type[C], path: str | Path, what: str) -> C:
    """Read ``path`` and validate it as ``model``; :class:`ConfigError` naming the file and
    every wrong field otherwise."""
    p = Path(path)
    return validate_config(model, read_yaml_mapping(p, what), p, what)


def read_yaml_mapping(p: Path, what: str) -> dict[str, Any]:
    """The YAML mapping in ``p``; :class:`ConfigError` when missing, unreadable or not a
    mapping."""
    if not p.exists():
        raise ConfigError(f"{what} {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {p} must be a YAML mapping")
    return data


def validate_config(model: type[C], data: dict[str, Any], p: Path, what: str) -> C:
    """``model`` from ``data``; :class:`ConfigError` naming ``p`` and each wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{what} {p}:\n" + describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line per problem: ``  - field.path: message``."""
    lines = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        lines.append(f"  - {loc}: {e['msg']}")
    return "\n".join(lines)
