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
