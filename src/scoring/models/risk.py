"""Risk models (payment default, dispute): LightGBM tuned with Optuna, calibrated, explained.

:class:`RiskModel` holds a LightGBM ``Booster``, the feature vocabulary it was trained with
and a :class:`~scoring.models.calibration.Calibrator`. :func:`scoring.models.tuning.tune_and_fit` runs the Optuna
study on the fit/validation periods and keeps the *smallest* model whose validation AUC is
within a tolerance of the best (TreeSHAP cost grows with trees x leaves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from scoring.features.matrix import model_matrix, prepare  # noqa: F401 - prepare re-exported
from scoring.models.calibration import Calibrator


def model_size(booster: lgb.Booster) -> dict[str, int]:
    """Trees, total leaves and maximum depth: what drives TreeSHAP cost."""
    info = booster.dump_model(num_iteration=-1)["tree_info"]

    def depth(node: dict) -> int:
        if "split_index" not in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    leaves = sum(t["num_leaves"] for t in info)
    return {
        "trees": len(info),
        "leaves": int(leaves),
        "max_depth": int(max((depth(t["tree_structure"]) for t in info), default=0)),
    }


@dataclass
class RiskModel:
    """A fitted, calibrated risk model with the metadata needed to explain it."""

    name: str
    label: str
    booster: lgb.Booster
    feature_names: list[str]
    vocab: dict[str, list[str]]
    calibrator: Calibrator
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # -- prediction ----------------------------------------------------------------
    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's input matrix: ``X`` itself when it is one already (built by
        :func:`scoring.features.model_matrix` for this model), else that matrix."""
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self.feature_names):
                raise ValueError(
                    f"matrix of shape {X.shape} for a model of {len(self.feature_names)} features"
                )
            return X
        return model_matrix(X, self.feature_names, self.vocab)

    def raw_score(self, X: pd.DataFrame | np.ndarray, num_threads: int = 0) -> np.ndarray:
        """Log-odds of the uncalibrated model."""
        return self.booster.predict(self.matrix(X), raw_score=True, num_threads=num_threads)  # type: ignore[return-value]

    def predict_proba(self, X: pd.DataFrame | np.ndarray, num_threads: int = 0) -> np.ndarray:
        """Calibrated probability of the label."""
        raw = self.raw_score(X, num_threads=num_threads)
        return self.calibrator(1.0 / (1.0 + np.exp(-raw)))

    def as_sklearn(self) -> SklearnRiskModel:
        """A scikit-learn classifier view of this fitted model (``classes_``, two-column
        ``predict_proba``), for ``CalibrationDisplay.from_estimator``,
        ``permutation_importance`` and the like."""
        return SklearnRiskModel(self)

    def contributions(
        self, X: pd.DataFrame | np.ndarray, num_threads: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP contributions (log-odds, one column per feature) and base values.

        ``contributions.sum(axis=1) + base`` equals :meth:`raw_score`.
        """
        c = self.booster.predict(self.matrix(X), pred_contrib=True, num_threads=num_threads)
        return c[:, :-1], c[:, -1]  # type: ignore[call-overload]

    def predict_with_contributions(
        self, X: pd.DataFrame | np.ndarray, num_threads: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(calibrated probability, contributions, base) from one TreeSHAP pass."""
        contrib, base = self.contributions(X, num_threads=num_threads)
        raw = contrib.sum(axis=1) + base
        return self.calibrator(1.0 / (1.0 + np.exp(-raw))), contrib, base

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "booster": self.booster.model_to_string(),
            "feature_names": self.feature_names,
            "vocab": self.vocab,
            "calibrator": self.calibrator.to_dict(),
            "params": self.params,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskModel:
        return cls(
            name=d["name"],
            label=d["label"],
            booster=lgb.Booster(model_str=d["booster"]),
            feature_names=list(d["feature_names"]),
            vocab={k: list(v) for k, v in d["vocab"].items()},
            calibrator=Calibrator.from_dict(d["calibrator"]),
            params=d.get("params", {}),
            info=d.get("info", {}),
        )

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path) -> RiskModel:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


class SklearnRiskModel(ClassifierMixin, BaseEstimator):
    """A fitted :class:`RiskModel` seen as a scikit-learn binary classifier.

    ``fit`` does not retrain (the model is tuned and calibrated by ``scoring train``): it only
    checks the labels. ``predict_proba`` returns ``[P(0), P(1)]`` with the calibrated
    probability; ``predict`` thresholds it at 0.5.
    """

    def __init__(self, model: RiskModel | None = None) -> None:
        self.model = model

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    @property
    def feature_names_in_(self) -> np.ndarray:
        assert self.model is not None
        return np.array(self.model.feature_names, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return self.model is not None

    def fit(self, X, y=None) -> SklearnRiskModel:
        if y is not None and not set(np.unique(np.asarray(y))) <= {0, 1}:
            raise ValueError("labels must be 0/1")
        return self

    def predict_proba(self, X) -> np.ndarray:
        assert self.model is not None
        p = self.model.predict_proba(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the uncalibrated model."""
        assert self.model is not None
        return self.model.raw_score(X)
