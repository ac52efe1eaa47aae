"""The synthetic generator re-declares the contract's facts on purpose (it is an independent
producer of the contract and imports nothing from the models): each re-declared fact must agree
with the one source the models use."""

from __future__ import annotations

import numpy as np

from scoring import calendar, contract
from scoring.policy.config import load_policy_config
from scoring.synthetic import params


def test_catalogues_agree():
    assert tuple(params.ACTIONS) == contract.ACTIONS
    assert tuple(params.OUTCOMES) == contract.OUTCOMES
    assert sorted(params.DEPARTMENTS) == sorted(contract.DEPARTMENTS)
    assert set(params.DEFAULT_COSTS) == set(contract.ACTIONS)


def test_time_zones_and_holidays_agree():
    for dep in contract.DEPARTMENTS:
        assert params.DEPARTMENT_TZ.get(dep, contract.REFERENCE_TZ) == calendar.time_zone(dep), dep
        assert params.HOLIDAY_SUBDIV.get(dep) == calendar.HOLIDAY_SUBDIVISIONS.get(dep), dep
    assert calendar.DEFAULT_TIME_ZONE == contract.REFERENCE_TZ


def test_domain_facts_have_one_source():
    from scoring.models.dataset import dpd_bucket
    from scoring.policy import benchmark, reach, recommend

    rules = load_policy_config().compliance  # the packaged configuration names them too
    assert rules.reliable_customer.restricted_actions == contract.HARSH_ACTIONS
    assert rules.review.actions["B2C"] == contract.HARSH_ACTIONS
    assert recommend.HARSH == benchmark.HARSH == contract.HARSH_ACTIONS
    assert reach.BUCKETS == contract.DPD_BUCKETS
    days = np.array([-3.0, 0.0, 1.0, 29.0, 30.0, 59.0, 60.0, 400.0])
    labels = ["not_yet_due", "not_yet_due", "0-29", "0-29", "30-59", "30-59", "60+", "60+"]
    assert list(contract.dpd_bucket_labels(days)) == labels
    assert list(dpd_bucket(days)) == labels
    assert list(dpd_bucket(days).categories) == list(contract.DPD_BUCKETS)
