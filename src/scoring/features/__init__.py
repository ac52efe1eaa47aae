"""Cases -> feature matrix: one vectorised function shared by training, batch and the API.

Every feature is declared once in :data:`FEATURES` with its French and English label, a short
description, its kind and (for the default-risk model) a monotone direction where the domain
is unambiguous. Categorical features use the fixed vocabularies of the contract; a value
outside them becomes ``unknown`` (see :func:`unknown_values`), never an error.

The package holds one thing per module: :mod:`~scoring.features.catalogue` (names, labels,
vocabularies, monotone directions), :mod:`~scoring.features.compute` (the feature function),
:mod:`~scoring.features.matrix` (arrays -> frame or model matrix).
"""

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

__all__ = [
    "CATEGORICAL", "CATEGORY_DTYPES", "FEATURES", "FEATURE_BY_NAME", "FEATURE_NAMES", "NONE",
    "UNKNOWN", "Feature", "FeatureArrays", "Features", "as_matrix", "feature_arrays",
    "feature_matrix", "feature_values", "features", "frame", "model_matrix", "prepare",
    "monotone_constraints", "unknown_values",
]  # fmt: skip
