"""Population drift: the population stability index (PSI) of every feature and score between
the training period and the cases scored since.

At training, :func:`reference_profile` bins each model input column on the training period
(deciles of its values, or each value when it has few, plus a bin for missing values) and the
model's calibrated probability (deciles), and keeps the share of training cases in each bin;
the profile is stored with the model (``RiskModel.info["reference"]``), so it travels with the
registered version. At serving, :func:`case_bins` puts each scored case in those bins (a few
small integers per case, no feature value is kept) and :func:`psi_table` compares the bin
shares of a window of scored cases with the reference:

    PSI = sum over bins of (observed share - reference share) * ln(observed / reference)

with shares floored at 1e-4. Common reading: below 0.1 stable, 0.1-0.25 worth a look, above
0.25 a shift that calls for retraining (the thresholds are configuration,
``scoring/config/monitoring.yaml``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

FLOOR = 1e-4
MAX_DISTINCT = 12


def _edges(values: np.ndarray) -> list[float]:
    """Bin edges of one column: midpoints between values when it has few, else deciles."""
    v = values[np.isfinite(values)]
    if not len(v):
        return []
    distinct = np.unique(v)
    if len(distinct) <= MAX_DISTINCT:
        return ((distinct[1:] + distinct[:-1]) / 2).tolist()
    return np.unique(np.quantile(v, np.linspace(0.1, 0.9, 9))).tolist()


def _bin(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin index of each value: 0..len(edges) by value, len(edges) + 1 for missing."""
    values = np.asarray(values, dtype=float)
    out = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    out[~np.isfinite(values)] = len(edges) + 1
    return out


def _shares(bins: np.ndarray, n_bins: int) -> list[float]:
    counts = np.bincount(bins, minlength=n_bins)[:n_bins]
    total = max(int(counts.sum()), 1)
    return (counts / total).round(6).tolist()


def reference_profile(
    M: np.ndarray, names: list[str], probability: np.ndarray, model: str
) -> dict[str, Any]:
    """The training-period profile of a model: bins and shares of each input column of the
    matrix ``M`` (rows = training cases) and of the calibrated ``probability``."""
    feats = []
    for j, name in enumerate(names):
        col = np.asarray(M[:, j], dtype=float)
        edges = _edges(col)
        feats.append(
            {"name": name, "edges": edges, "ref": _shares(_bin(col, edges), len(edges) + 2)}
        )
    p = np.asarray(probability, dtype=float)
    edges = _edges(p)
    profile = {
        "model": model,
        "n": len(p),
        "features": feats,
        "score": {"edges": edges, "ref": _shares(_bin(p, edges), len(edges) + 2)},
    }
    text = json.dumps(profile, sort_keys=True).encode()
    profile["id"] = hashlib.sha256(text).hexdigest()[:16]
    return profile


def case_bins(profile: dict[str, Any], M: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """``[n_cases, n_features + 1]`` bin indices (the last column: the score), int16."""
    cols = [_bin(M[:, j], f["edges"]) for j, f in enumerate(profile["features"])]
    cols.append(_bin(probability, profile["score"]["edges"]))
    return np.stack(cols, axis=1).astype(np.int16)


def psi(reference: list[float], counts: np.ndarray) -> float:
    """PSI of observed bin ``counts`` against reference shares (see the module doc)."""
    ref = np.maximum(np.asarray(reference, dtype=float), FLOOR)
    total = counts.sum()
    if total == 0:
        return float("nan")
    obs = np.maximum(counts[: len(ref)] / total, FLOOR)
    return float(np.sum((obs - ref) * np.log(obs / ref)))


def psi_table(profile: dict[str, Any], bins: np.ndarray) -> list[dict[str, Any]]:
    """PSI of each feature and of the score over the cases of ``bins`` (rows of
    :func:`case_bins` with this profile), largest first."""
    rows = []
    n = len(bins)
    parts = [*((f["name"], f["ref"]) for f in profile["features"]),
             (f"score:{profile['model']}", profile["score"]["ref"])]  # fmt: skip
    for j, (name, ref) in enumerate(parts):
        counts = (
            np.bincount(bins[:, j].astype(np.int64), minlength=len(ref))
            if n
            else np.zeros(len(ref))
        )
        rows.append({"name": name, "psi": psi(ref, counts), "n": n})
    rows.sort(key=lambda r: -r["psi"] if np.isfinite(r["psi"]) else 0.0)
    return rows
