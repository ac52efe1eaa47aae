"""Probability calibration on a held-out period (isotonic or Platt), stored as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A monotone map from raw model probability to calibrated probability.

    Isotonic: piecewise-linear interpolation through ``x`` -> ``y``. Platt: sigmoid of
    ``a * logit(p) + b``. Both are non-decreasing, so they never reverse the model's ranking or
    its monotone constraints.
    """

    method: str
    x: list[float]
    y: list[float]
    a: float = 1.0
    b: float = 0.0

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.method == "isotonic":
            return np.clip(np.interp(p, self.x, self.y), 1e-6, 1 - 1e-6)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))
        return p

    def to_dict(self) -> dict:
        return {"method": self.method, "x": self.x, "y": self.y, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(**d)


def fit_calibrator(p: np.ndarray, y: np.ndarray, method: str = "auto") -> Calibrator:
    """Fit on held-out raw probabilities ``p`` and labels ``y``."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=int)
    if method == "auto":
        method = "isotonic" if len(y) >= 2000 else "platt"
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        return Calibrator("isotonic", iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist())
    if method == "platt":
        lr = LogisticRegression(C=1e6).fit(_logit(p).reshape(-1, 1), y)
        return Calibrator("platt", [], [], float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    raise ValueError(f"calibration method must be isotonic, platt or auto, not {method!r}")
