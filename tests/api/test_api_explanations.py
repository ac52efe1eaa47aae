"""Explanations are exact: contributions add up to the model's uncalibrated log-odds."""

from __future__ import annotations

import numpy as np
import pytest
from api_support import case_json, headers

from scoring.cases import Case, CaseSet
from scoring.features import features


def test_contributions_add_up_to_the_raw_score(client, bundle, sample_cases):
    cases = sample_cases[:8]
    r = client.post(
        "/score?full_contributions=true&top_k=3",
        json=[case_json(c) for c in cases],
        headers=headers("scoring"),
    )
    assert r.status_code == 200, r.text
    X = features(CaseSet.from_cases([Case.model_validate(case_json(c)) for c in cases]))
    for key, model in bundle.risk_models.items():
        raw = model.raw_score(X)
        for i, item in enumerate(r.json()):
            e = item["explanations"][key]
            total = e["base_value"] + sum(e["all_contributions"].values())
            assert total == pytest.approx(e["raw_score"], abs=1e-9)
            assert total == pytest.approx(raw[i], abs=1e-6)
            assert list(e["all_contributions"]) == model.feature_names
            # the calibrated probability is the calibrator applied to the raw score
            p = model.calibrator(1.0 / (1.0 + np.exp(-np.array([total]))))[0]
            assert e["probability"] == pytest.approx(p, abs=1e-9)
            # the top contributions are the largest of all, with their own values
            top = {c["feature"]: c["contribution"] for c in e["contributions"]}
            ranked = sorted(e["all_contributions"].values(), key=abs, reverse=True)
            assert sorted(map(abs, top.values()), reverse=True) == pytest.approx(
                [abs(v) for v in ranked[:3]]
            )
            for f, v in top.items():
                assert e["all_contributions"][f] == pytest.approx(v)


def test_api_and_batch_give_the_same_scores(client, bundle, sample_cases):
    from scoring.service import batch_decisions

    cases = sample_cases[:5]
    batch = batch_decisions(bundle, CaseSet.from_cases(cases), explore=False)
    r = client.post(
        "/next-action?explore=false",
        json=[case_json(c) for c in cases],
        headers=headers("scoring"),
    )
    assert r.status_code == 200, r.text
    for (_, row), item in zip(batch.iterrows(), r.json(), strict=True):
        assert item["default_probability"] == pytest.approx(row["default_probability"])
        assert item["dispute_probability"] == pytest.approx(row["dispute_probability"])
        assert item["action"] == row["action"]
        assert item["expected_value"] == pytest.approx(row["expected_value"])
