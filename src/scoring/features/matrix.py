"""The internal currency of features, :class:`FeatureArrays`, and the one builder of what a
model reads (:func:`model_matrix`); frames are a thin adapter for notebooks and training.

Every stage after the feature function (risk models, explanations, the policy) takes
:data:`Features`: :class:`FeatureArrays` (the fast path of the API and the batch) or the
feature frame (training sets, notebooks), and goes through the functions here, so that both
give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from scoring.features.catalogue import CATEGORY_DTYPES, FEATURE_BY_NAME, FEATURE_NAMES


class FeatureArrays(dict[str, np.ndarray]):
    """The features of ``n`` cases, one array per feature: numbers as float64 (NaN when
    missing), categoricals as int16 codes in the catalogue's vocabulary (-1 when missing)."""

    @property
    def n_cases(self) -> int:
        return len(next(iter(self.values()))) if self else 0

    def frame(self) -> pd.DataFrame:
        """The feature frame (categoricals as pandas categoricals)."""
        return frame(self)

    def matrix(self, names: list[str], vocab: dict[str, list[str]]) -> np.ndarray:
        """The float matrix of a model trained on ``names`` with ``vocab`` (:func:`model_matrix`)."""
        return model_matrix(self, names, vocab)

    def values_of(self, name: str) -> list[Any]:
        """One feature's values as Python objects (a category, or None when missing)."""
        return feature_values(self, name)


#: what the stages after the feature function accept
Features: TypeAlias = pd.DataFrame | Mapping[str, np.ndarray]


def frame(arrays: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Feature arrays as the feature frame."""
    return pd.DataFrame(
        {
            k: pd.Categorical.from_codes(arrays[k], dtype=CATEGORY_DTYPES[k])
            if k in CATEGORY_DTYPES
            else arrays[k]
            for k in FEATURE_NAMES
        }
    )


def prepare(X: pd.DataFrame, feature_names: list[str], vocab: dict[str, list[str]]) -> pd.DataFrame:
    """Columns in training order, categoricals in the training vocabulary (rebuilt if needed)."""
    missing = [c for c in feature_names if c not in X.columns]
    if missing:
        raise ValueError(f"feature matrix lacks columns {missing}")
    X = X[feature_names]
    rebuilt = {}
    for c, cats in vocab.items():
        dtype = X[c].dtype
        if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == cats:
            continue
        col = X[c].astype("string")
        if "unknown" in cats:
            col = col.where(col.isna() | col.isin(cats), "unknown")
        rebuilt[c] = pd.Categorical(col, categories=cats)
    return X.assign(**rebuilt) if rebuilt else X


def _frame_matrix(
    X: pd.DataFrame, feature_names: list[str], vocab: dict[str, list[str]]
) -> np.ndarray:
    X = prepare(X, feature_names, vocab)
    out = np.empty((len(X), len(feature_names)), dtype=np.float64)
    for j, c in enumerate(feature_names):
        col = X[c]
        if c in vocab:
            codes = col.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _arrays_matrix(
    arrays: Mapping[str, np.ndarray], names: list[str], vocab: dict[str, list[str]]
) -> np.ndarray | None:
    for k, cats in vocab.items():
        if k not in CATEGORY_DTYPES or list(CATEGORY_DTYPES[k].categories) != list(cats):
            return None  # a model trained with another vocabulary: recode through the frame
    n = len(next(iter(arrays.values()))) if arrays else 0
    out = np.empty((n, len(names)), dtype=np.float64)
    for j, k in enumerate(names):
        v = arrays[k]
        out[:, j] = np.where(v < 0, np.nan, v) if k in CATEGORY_DTYPES else v
    return out


def model_matrix(X: Features, names: list[str], vocab: dict[str, list[str]]) -> np.ndarray:
    """The float matrix LightGBM sees for a model trained on columns ``names`` with the
    categorical vocabularies ``vocab``: categoricals as their codes in that vocabulary (NaN
    when missing), exactly what LightGBM's pandas path builds, without its per-call overhead.
    Straight from the arrays when the model's vocabulary is the catalogue's."""
    if not isinstance(X, pd.DataFrame):
        M = _arrays_matrix(X, names, vocab)
        if M is not None:
            return M
        X = frame(X)
    return _frame_matrix(X, names, vocab)


def as_matrix(X: pd.DataFrame, feature_names: list[str], vocab: dict[str, list[str]]) -> np.ndarray:
    """:func:`model_matrix` of a frame (kept for notebooks)."""
    return model_matrix(X, feature_names, vocab)


def feature_matrix(
    arrays: Mapping[str, np.ndarray], names: list[str], vocab: dict[str, list[str]]
) -> np.ndarray | None:
    """The fast path of :func:`model_matrix` alone: None when the model's vocabulary differs
    from the catalogue's."""
    return _arrays_matrix(arrays, names, vocab)


def feature_values(X: Features, name: str) -> list[Any]:
    """A feature's values as Python objects, from the frame or the arrays (a categorical code
    becomes its category, None when missing)."""
    if isinstance(X, pd.DataFrame):
        return X[name].tolist()
    v = X[name]
    feat = FEATURE_BY_NAME[name]
    if feat.kind == "cat":
        return [feat.categories[c] if c >= 0 else None for c in v.tolist()]
    return v.tolist()
