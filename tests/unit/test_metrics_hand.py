"""Metrics checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.models.metrics import expected_calibration_error, ks_statistic


def test_ks_is_zero_when_every_score_ties():
    y = np.array([0, 1, 0, 1, 1, 0])
    assert ks_statistic(y, np.full(6, 0.3)) == 0.0


def test_ks_on_tied_plateaus_by_hand():
    # positives at 0.2, 0.5, 0.5; negatives at 0.2, 0.2, 0.5: CDFs after 0.2 are 1/3 vs 2/3
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.2, 0.5, 0.5, 0.2, 0.2, 0.5])
    assert ks_statistic(y, p) == pytest.approx(1 / 3)
    assert np.isnan(ks_statistic(np.ones(3), np.arange(3.0)))


def test_ks_separates_perfectly():
    assert ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_ece_by_hand():
    # two equal-frequency bins: (0.1, 0.1 | y 0, 1) -> |0.5 - 0.1|; (0.9, 0.9 | y 1, 1) -> 0.1
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, p, bins=2) == pytest.approx((0.4 * 2 + 0.1 * 2) / 4)


def test_isotonic_calibration_by_hand():
    from scoring.models.calibration import Calibrator, fit_calibrator

    # pool-adjacent-violators on (0.1:0, 0.2:1, 0.3:0, 0.4:1): the middle pair pools to 0.5
    cal = fit_calibrator(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]), "isotonic")
    out = cal(np.array([0.1, 0.2, 0.25, 0.3, 0.4, 0.9]))
    np.testing.assert_allclose(out, [1e-6, 0.5, 0.5, 0.5, 1 - 1e-6, 1 - 1e-6])
    assert Calibrator.from_dict(cal.to_dict())(np.array([0.25]))[0] == pytest.approx(0.5)


def test_platt_calibration_recovers_a_known_sigmoid():
    from scoring.models.calibration import fit_calibrator

    # outcomes drawn with P(y=1) = sigmoid(2 logit(p) - 1): Platt recovers a = 2, b = -1
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.98, 200_000)
    logit = np.log(p / (1 - p))
    y = (rng.random(len(p)) < 1 / (1 + np.exp(-(2 * logit - 1)))).astype(int)
    cal = fit_calibrator(p, y, "platt")
    assert cal.a == pytest.approx(2.0, abs=0.05) and cal.b == pytest.approx(-1.0, abs=0.05)
    grid = np.linspace(0.01, 0.99, 50)
    assert np.all(np.diff(cal(grid)) > 0)  # monotone: never reverses the ranking
