"""Cases -> feature matrix: one vectorised function shared by training, batch and the API.

Every feature is declared once in :data:`FEATURES` with its French and English label, a short
description, its kind and (for the default-risk model) a monotone direction where the domain
is unambiguous. Categorical features use the fixed vocabularies of the contract; a value
outside them becomes ``unknown`` (see :func:`unknown_values`), never an error.

The package holds one thing per module: :mod:`~scoring.features.catalogue` (names, labels,
vocabularies, monotone directions), :mod:`~scoring.features.compute` (the feature function),
:mod:`~scoring.features.matrix` (arrays -> frame or model matrix).

The names below are imported lazily (PEP 562): a logged model loads
:mod:`~scoring.features.matrix` without :mod:`~scoring.features.compute`, whose imports
(the case builder, holidays, pydantic) a model server does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.features.catalogue import (
        CATEGORICAL,
        CATEGORY_DTYPES,
        FEATURE_BY_NAME,
        FEATURE_NAMES,
        FEATURES,
        NONE,
        UNKNOWN,
        Feature,
        monotone_constraints,
    )
    from scoring.features.compute import feature_arrays, features, unknown_values
    from scoring.features.matrix import (
        FeatureArrays,
        Features,
        as_matrix,
        feature_matrix,
        feature_values,
        frame,
        model_matrix,
        prepare,
    )

_WHERE = {
    **dict.fromkeys(
        ("CATEGORICAL", "CATEGORY_DTYPES", "FEATURE_BY_NAME", "FEATURE_NAMES", "FEATURES",
         "NONE", "UNKNOWN", "Feature", "monotone_constraints"),
        "catalogue",
    ),
    **dict.fromkeys(("feature_arrays", "features", "unknown_values"), "compute"),
    **dict.fromkeys(
        ("FeatureArrays", "Features", "as_matrix", "feature_matrix", "feature_values", "frame",
         "model_matrix", "prepare"),
        "matrix",
    ),
}  # fmt: skip

__all__ = [
    "CATEGORICAL", "CATEGORY_DTYPES", "FEATURES", "FEATURE_BY_NAME", "FEATURE_NAMES", "NONE",
    "UNKNOWN", "Feature", "FeatureArrays", "Features", "as_matrix", "feature_arrays",
    "feature_matrix", "feature_values", "features", "frame", "model_matrix", "prepare",
    "monotone_constraints", "unknown_values",
]  # fmt: skip
assert set(__all__) == set(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring.features' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"scoring.features.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
