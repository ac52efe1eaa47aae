"""Off-policy estimators against values worked out by hand (closed forms)."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.policy.evaluate import off_policy_estimates, paired_difference

# three logged decisions: reward, logging propensity, new policy's probability of the logged
# action, outcome model's value of the logged action, outcome model's value of the new policy
R = np.array([10.0, 0.0, 4.0])
P = np.array([0.5, 0.25, 1.0])
PI = np.array([1.0, 0.5, 0.0])
Q = np.array([6.0, 2.0, 3.0])
V = np.array([7.0, 1.0, 5.0])


def test_ips_snips_dr_dm_by_hand():
    est = off_policy_estimates(R, P, PI, Q, V, n_boot=50)
    w = np.array([2.0, 2.0, 0.0])  # pi / p
    assert est["logging"] == pytest.approx(14 / 3)
    assert est["ips"] == pytest.approx((2 * 10 + 2 * 0 + 0) / 3)  # 20/3
    assert est["snips"] == pytest.approx(20 / 4)  # sum(w r) / sum(w)
    # DR = mean(V + w (R - Q)) = mean(7 + 8, 1 - 4, 5 + 0) = 17/3
    assert est["dr"] == pytest.approx(np.mean(V + w * (R - Q))) == pytest.approx(17 / 3)
    assert est["dm"] == pytest.approx(13 / 3)
    assert est["dr_gain"] == pytest.approx(17 / 3 - 14 / 3)
    assert est["ess"] == pytest.approx(16 / 8)  # (sum w)^2 / sum w^2
    for k in ("ips", "dr", "dr_gain"):
        assert est[f"{k}_ci_low"] <= est[k] <= est[f"{k}_ci_high"]


def test_dr_equals_the_truth_when_the_outcome_model_is_exact():
    # Q equal to the rewards: the correction vanishes and DR is the direct method
    est = off_policy_estimates(R, P, PI, R, V, n_boot=10)
    assert est["dr"] == pytest.approx(est["dm"])


def test_ips_is_unbiased_over_the_logging_distribution():
    # two actions logged uniformly; the new policy always takes action 1 (worth 3, action 0: 1)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 200_000)
    r = np.where(a == 1, 3.0, 1.0)
    est = off_policy_estimates(
        r, np.full(len(a), 0.5), (a == 1).astype(float), r, np.full(len(a), 3.0), n_boot=5
    )
    assert est["ips"] == pytest.approx(3.0, rel=0.01)
    assert est["snips"] == pytest.approx(3.0, rel=1e-9)


def test_intervals_honour_their_level():
    rng = np.random.default_rng(1)
    r = rng.normal(5, 3, 400)
    args = (r, np.full(400, 0.5), rng.random(400), r * 0.9, r * 0.95)
    wide = off_policy_estimates(*args, n_boot=400, level=0.99)
    narrow = off_policy_estimates(*args, n_boot=400, level=0.5)
    for k in ("dr", "ips", "dr_gain"):
        assert (wide[f"{k}_ci_high"] - wide[f"{k}_ci_low"]) > 2 * (
            narrow[f"{k}_ci_high"] - narrow[f"{k}_ci_low"]
        )
    d99 = paired_difference(r, r * 0.5, level=0.99)
    d50 = paired_difference(r, r * 0.5, level=0.5)
    assert d99["diff"] == pytest.approx(np.mean(r * 0.5))
    assert d99["high"] - d99["low"] > 2 * (d50["high"] - d50["low"])
