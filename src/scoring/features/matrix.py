"""Feature arrays as what a model reads: the feature frame, or the float matrix of a model's
columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features.catalogue import CATEGORY_DTYPES, FEATURE_NAMES


def frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`feature_arrays` as the feature frame."""
    return pd.DataFrame(
        {
            k: pd.Categorical.from_codes(arrays[k], dtype=CATEGORY_DTYPES[k])
            if k in CATEGORY_DTYPES
            else arrays[k]
            for k in FEATURE_NAMES
        }
    )


def feature_matrix(
    arrays: dict[str, np.ndarray], names: list[str], vocab: dict[str, list[str]]
) -> np.ndarray | None:
    """The float matrix a model trained on ``names`` sees (categoricals as codes, NaN when
    missing), straight from :func:`feature_arrays`; None when a vocabulary of the model differs
    from the current one (then go through :func:`scoring.models.risk.as_matrix`)."""
    for k, cats in vocab.items():
        if k not in CATEGORY_DTYPES or list(CATEGORY_DTYPES[k].categories) != list(cats):
            return None
    n = len(next(iter(arrays.values()))) if arrays else 0
    out = np.empty((n, len(names)), dtype=np.float64)
    for j, k in enumerate(names):
        v = arrays[k]
        out[:, j] = np.where(v < 0, np.nan, v) if k in CATEGORY_DTYPES else v
    return out
