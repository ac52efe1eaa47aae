"""The readout of a champion/challenger split from the exported actions log."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scoring.policy.train import arm_values


def _log(arms, rewards):
    log = pd.DataFrame({"arm": pd.array(arms, dtype="string")})
    return SimpleNamespace(log=log, reward=lambda _config: np.asarray(rewards, dtype=float))


def test_arms_are_compared_on_their_realised_rewards():
    rng = np.random.default_rng(0)
    arms = np.where(rng.random(4000) < 0.2, "challenger", "champion")
    rewards = np.where(arms == "challenger", 12.0, 10.0) + rng.normal(0, 3, len(arms))
    out = arm_values(_log(arms, rewards), config=None)
    assert out is not None
    assert out["arm_challenger_n"] + out["arm_champion_n"] == 4000
    assert out["arm_diff"] == pytest.approx(2.0, abs=0.4)
    assert out["arm_diff_ci_low"] > 0 and out["arm_diff_ci_low"] < out["arm_diff_ci_high"]


def test_no_readout_without_both_arms():
    assert arm_values(SimpleNamespace(log=pd.DataFrame({"x": [1]})), config=None) is None
    assert arm_values(_log(["champion", None], [1.0, 2.0]), config=None) is None
