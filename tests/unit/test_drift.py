"""The drift monitor's PSI on hand-made distributions."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.models.drift import case_bins, psi, psi_table, reference_profile


def _profile(rng, n=5000):
    M = np.column_stack([rng.normal(size=n), rng.integers(0, 3, size=n).astype(float)])
    M[rng.random(n) < 0.1, 0] = np.nan  # 10 % missing
    p = rng.beta(2, 8, size=n)
    return M, p, reference_profile(M, ["amount", "channel"], p, "default_risk")


def test_psi_by_hand():
    # PSI of (0.5, 0.5) observed against (0.25, 0.75): 0.25 ln 2 + (-0.25) ln(2/3)
    expected = 0.25 * np.log(2) - 0.25 * np.log(2 / 3)
    assert psi([0.25, 0.75], np.array([50, 50])) == pytest.approx(expected)
    assert psi([0.5, 0.5], np.array([10, 10])) == pytest.approx(0.0)
    assert np.isnan(psi([0.5, 0.5], np.array([0, 0])))


def test_same_population_is_stable_and_a_shift_is_flagged():
    rng = np.random.default_rng(0)
    M, p, prof = _profile(rng)
    assert [f["name"] for f in prof["features"]] == ["amount", "channel"]
    # few distinct values: one bin per value (+ below/above + missing)
    assert prof["features"][1]["edges"] == [0.5, 1.5]
    assert sum(prof["features"][0]["ref"]) == pytest.approx(1.0, abs=1e-5)
    assert prof["features"][0]["ref"][-1] == pytest.approx(0.1, abs=0.02)  # the missing bin

    M2, p2, _ = _profile(np.random.default_rng(1))
    table = {r["name"]: r["psi"] for r in psi_table(prof, case_bins(prof, M2, p2))}
    assert max(table.values()) < 0.02

    M3 = M2.copy()
    M3[:, 0] = M3[:, 0] + 1.0  # amounts shifted by one standard deviation
    p3 = np.clip(p2 + 0.2, 0, 1)
    rows = psi_table(prof, case_bins(prof, M3, p3))
    table = {r["name"]: r["psi"] for r in rows}
    assert table["amount"] > 0.25 and table["score:default_risk"] > 0.25
    assert table["channel"] < 0.02
    assert rows[0]["name"] in ("amount", "score:default_risk")  # largest first
    assert all(r["n"] == len(M3) for r in rows)


def test_bins_of_unseen_values_and_missing():
    rng = np.random.default_rng(2)
    M, p, prof = _profile(rng)
    X = np.array([[1e9, 7.0], [np.nan, np.nan], [-1e9, 0.0]])
    b = case_bins(prof, X, np.array([0.0, 1.0, np.nan]))
    n0 = len(prof["features"][0]["edges"])
    assert b[0, 0] == n0 and b[1, 0] == n0 + 1 and b[2, 0] == 0
    assert b[0, 1] == 2 and b[1, 1] == 3  # above every category, missing
    assert b[2, 2] == len(prof["score"]["edges"]) + 1
