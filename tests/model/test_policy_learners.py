"""Effect learners, reach, off-policy estimators, learner selection and the promotion gate, on
hand-made data whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.contract import ACTIONS
from scoring.features import CATEGORICAL, FEATURE_NAMES
from scoring.policy.evaluate import off_policy_estimates
from scoring.policy.learners import ArmData, make_learner
from scoring.policy.reach import Evidence, ReachModel

PHONE, LETTER, FN, EMAIL = (
    ACTIONS.index(a) for a in ("phone_call", "letter", "formal_notice", "email_reminder")
)
SEG = FEATURE_NAMES.index("segment")
BIG = FEATURE_NAMES.index("open_amount")


def planted_arms(n: int = 24000, seed: int = 0) -> ArmData:
    """Random logging over wait / email / phone / letter / formal notice. Paid share: 0.3 for
    everyone, +0.5 for a phone call that reaches a debtor of the small segment (segment code 1
    and a large open amount: 8 % of rows), +0.05 for an e-mail; a formal notice *lowers* it by
    0.15 and raises disputes to 30 %."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, len(FEATURE_NAMES)))
    for c in CATEGORICAL:
        M[:, FEATURE_NAMES.index(c)] = rng.integers(0, 3, n)
    M[:, SEG] = rng.integers(0, 2, n)
    M[:, BIG] = rng.exponential(1.0, n)
    arms = np.array([0, EMAIL, PHONE, LETTER, FN])
    arm = arms[rng.integers(0, len(arms), n)]
    segment = (M[:, SEG] == 1) & (M[:, BIG] > 1.8)
    share = 0.3 + 0.05 * (arm == EMAIL) + 0.5 * ((arm == PHONE) & segment) - 0.15 * (arm == FN)
    paid = (rng.random(n) < share).astype(float)
    dispute = (rng.random(n) < np.where(arm == FN, 0.3, 0.02)).astype(float)
    return ArmData(
        M=M,
        arm=arm,
        lead=np.where(arm == 0, np.nan, 1.0),
        reached=np.ones(n, dtype=bool),
        y={"share": paid, "dispute": dispute, "complaint": np.zeros(n)},
        propensity=np.full(n, 1 / len(arms)),
        p_reach=np.ones(n),
        group=np.arange(n),
    )


@pytest.fixture(scope="module")
def arms() -> ArmData:
    return planted_arms()


def _effects(model, d: ArmData, arm: int) -> np.ndarray:
    n = len(d.arm)
    a = model.predict(d.M, np.full(n, arm), np.ones(n))
    w = model.predict(d.M, np.zeros(n, dtype=np.int64), np.full(n, np.nan))
    return a["share"] - w["share"], a["dispute"] - w["dispute"]


@pytest.mark.parametrize("name", ["t", "dr"])
def test_learners_recover_an_effect_confined_to_a_small_segment(arms, name):
    model = make_learner(name).fit(arms)
    seg = (arms.M[:, SEG] == 1) & (arms.M[:, BIG] > 1.8)
    eff, _ = _effects(model, arms, PHONE)
    # planted: +0.5 in a segment of ~5 % of the rows, among ~60 noise columns
    assert eff[seg].mean() > 0.25, eff[seg].mean()
    assert abs(eff[~seg].mean()) < 0.08, eff[~seg].mean()
    # the harmful action: lower payment, more disputes
    eff_fn, disp_fn = _effects(model, arms, FN)
    assert eff_fn.mean() < -0.08 and disp_fn.mean() > 0.15


def test_bagged_s_learner_also_sees_the_harmful_action(arms):
    model = make_learner("s_bagged").fit(arms)
    eff_fn, disp_fn = _effects(model, arms, FN)
    assert eff_fn.mean() < -0.08 and disp_fn.mean() > 0.15


def test_unknown_learner_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown learner"):
        make_learner("magic")


def test_off_policy_estimators_on_a_log_with_known_values():
    """Two actions chosen 70/30; reward 10 for action 1, 2 for action 0 (plus noise). The target
    policy plays action 1 always: its value is 10; the logging policy's is 0.7 x 2 + 0.3 x 10."""
    rng = np.random.default_rng(1)
    n = 20000
    a = (rng.random(n) < 0.3).astype(int)
    p = np.where(a == 1, 0.3, 0.7)
    r = np.where(a == 1, 10.0, 2.0) + rng.normal(0, 1, n)
    pi = (a == 1).astype(float)
    # an exact outcome model: DR equals DM equals the truth up to noise
    q_logged = np.where(a == 1, 10.0, 2.0)
    est = off_policy_estimates(r, p, pi, q_logged, np.full(n, 10.0), n_boot=50)
    assert est["logging"] == pytest.approx(0.7 * 2 + 0.3 * 10, abs=0.1)
    assert est["ips"] == pytest.approx(10.0, abs=0.3)
    assert est["snips"] == pytest.approx(10.0, abs=0.05)
    assert est["dr"] == pytest.approx(10.0, abs=0.05)
    assert est["dr_ci_low"] < 10.0 < est["dr_ci_high"]
    # a wrong outcome model: DR stays right (the propensities are right)
    est = off_policy_estimates(r, p, pi, q_logged + 3.0, np.full(n, 13.0), n_boot=50)
    assert est["dr"] == pytest.approx(10.0, abs=0.1)
    assert est["dm"] == pytest.approx(13.0)


def _reach(p: float = 0.5) -> ReachModel:
    table = np.full((2, len(ACTIONS), 7, 48, 4), p)
    return ReachModel(table, 4.0, 1.5, 0.3, known_actions=tuple(ACTIONS[1:]))


def test_per_debtor_reach_with_and_without_history():
    # debtor 0 answered 3 calls of 4 on Tuesday mornings (10:00), debtor 1 has no history
    ev = Evidence(
        case=np.zeros(4, dtype=np.int64),
        group=np.full(4, 3),
        weekday=np.full(4, 1),
        hour=np.full(4, 10.0),
        reached=np.array([1.0, 1.0, 1.0, 0.0]),
    )
    model = _reach(0.3)
    q = dict(
        seg=np.zeros(3, dtype=np.int64), code=np.full(3, PHONE), bucket=np.zeros(3, dtype=np.int64)
    )
    out = model.predict(
        ev,
        np.array([0, 0, 1]),
        q["seg"],
        q["code"],
        np.array([1, 3, 1]),
        np.array([10.0, 16.0, 10.0]),
        q["bucket"],
    )
    p_tue, p_thu, p_new = out["p"]
    assert p_tue == pytest.approx((3 + 4 * 0.3) / (4 + 4), rel=1e-6)  # 0.525
    assert p_tue > 0.5 > p_thu
    assert p_new == pytest.approx(0.3)  # no history: the population's
    assert out["near_n"][0] == 4 and out["near_y"][0] == 3
    # another channel is not informed by phone answers
    other = model.predict(
        ev,
        np.array([0]),
        q["seg"][:1],
        np.array([EMAIL]),
        np.array([1]),
        np.array([10.0]),
        q["bucket"][:1],
    )
    assert other["p"][0] == pytest.approx(0.3)


def test_selection_picks_the_better_learner(monkeypatch):
    """A learner that ignores the arm (every action worth the same) against the T-learner on a
    world where one action clearly pays: the selection keeps the T-learner."""
    from policy_worlds import planted_world

    from scoring.policy import learners as L

    class Blind(L.SLearner):
        def predict(self, M, arm, lead, num_threads=0):
            out = super().predict(
                M, np.zeros(len(M), dtype=np.int64), np.full(len(M), np.nan), num_threads
            )
            return out

    monkeypatch.setitem(L.LEARNER_CLASSES, "blind", Blind)
    monkeypatch.setattr(L, "LEARNERS", ("t", "blind"))
    from scoring.policy import recommend as R

    monkeypatch.setattr(R, "LEARNERS", ("t", "blind"))
    from scoring.policy.config import load_policy_config
    from scoring.policy.history import logged_decisions
    from scoring.policy.select import select_learner

    tables = planted_world(300, seed=2)
    cfg = load_policy_config()
    d = logged_decisions(tables, cfg)
    template = R.Policy(cfg, candidates=("t", "blind"), valid_fraction=0.3)
    sel = select_learner(d, cfg, template)
    table = sel.table.set_index("learner")
    assert sel.chosen == "t", table
    assert table.loc["t", "dr"] > table.loc["blind", "dr"]


def test_policy_parameters_are_validated():
    from scoring.policy.recommend import Policy

    with pytest.raises(ValueError, match="learner"):
        Policy(learner="magic")._validate()
    with pytest.raises(ValueError, match="valid_fraction"):
        Policy(valid_fraction=0.9)._validate()
    with pytest.raises(RuntimeError, match="not fitted"):
        Policy().recommend(None)


def test_harm_cap_removes_harmful_actions():
    from scoring.policy.config import load_policy_config

    cfg = load_policy_config().with_overrides({"harm_cap": 0.1})
    assert cfg.harm_cap == 0.1
    with pytest.raises(ValueError):
        load_policy_config().with_overrides({"harm_cap": -1})


def test_promotion_gate(trained):
    """The policy challenger is promoted only when its DR lower bound beats the champion's
    estimate on the same period; the figures go into the promotion history."""
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    name = registry.registered_name("policy")
    champ = int(client.get_model_version_by_alias(name, "champion").version)
    src = client.get_model_version(name, str(champ))
    original = registry.read_release("champion")

    def challenger(low: float, champ_dr: float, evaluated: int) -> str:
        mv = client.create_model_version(name, src.source, run_id=src.run_id)
        for k, v in {
            "ope_dr_value": low + 5,
            "ope_dr_ci_low": low,
            "gate_champion_dr_value": champ_dr,
            "gate_champion_version": evaluated,
            "ope_period_from": "2026-01-01",
        }.items():
            client.set_model_version_tag(name, mv.version, k, str(v))
        rel = registry.release_versions(registry.ALL_MODELS, "champion", client)
        versions = {k: v for k, v in rel.items() if v is not None} | {"policy": int(mv.version)}
        registry.write_release(client, "challenger", versions, "test", "test")
        client.set_registered_model_alias(name, "challenger", mv.version)
        return mv.version

    challenger(10.0, 12.0, champ)
    (d,) = registry.promote(("policy",), who="analyst")
    assert not d.promoted and "lower bound" in d.reason
    challenger(13.0, 12.0, champ + 99)  # compared with another version than the champion
    (d,) = registry.promote(("policy",), who="analyst")
    assert not d.promoted and "compared with" in d.reason
    v = challenger(13.0, 12.0, champ)
    (d,) = registry.promote(("policy",), who="analyst")
    assert d.promoted
    assert int(client.get_model_version_by_alias(name, "champion").version) == int(v)
    rec = registry.promotion_history("policy")[-1]
    assert rec["figures"]["challenger_dr_ci_low"] == 13.0
    assert rec["figures"]["champion_dr_same_period"] == 12.0
    # put the original champion back for the other tests
    assert original is not None
    for alias in ("champion", "challenger"):
        registry.write_release(client, alias, original["versions"], "test", "test")
    client.set_registered_model_alias(name, "champion", str(champ))
    client.set_registered_model_alias(name, "challenger", str(champ))
    pd.Series(dtype=float)  # keep pandas imported for the helpers above


def test_ensemble_is_the_mean_of_its_members_and_round_trips(arms):
    from scoring.policy.learners import ENSEMBLE_MEMBERS, EffectModel, EnsembleLearner

    small = arms.take(np.arange(6000))
    members = [make_learner(m).fit(small) for m in ENSEMBLE_MEMBERS]
    ens = EnsembleLearner.from_members(members)
    n = 500
    arm = np.full(n, PHONE)
    lead = np.ones(n)
    got = ens.predict(small.M[:n], arm, lead)
    want = np.mean([m.predict(small.M[:n], arm, lead)["share"] for m in members], axis=0)
    np.testing.assert_allclose(got["share"], want)
    again = EffectModel.from_dict(ens.to_dict())
    assert isinstance(again, EnsembleLearner)
    np.testing.assert_allclose(again.predict(small.M[:n], arm, lead)["share"], got["share"])
    assert again.not_reached == ens.not_reached


def test_paired_difference_resamples_debtors_not_decisions():
    """Twenty decisions per debtor sharing one noise draw: the per-decision bootstrap is far too
    sure of itself; resampling debtors gives the honest, wider interval."""
    from scoring.policy.evaluate import paired_difference

    rng = np.random.default_rng(0)
    debtors = np.repeat(np.arange(200), 20)
    a = rng.normal(0, 1, 200)[debtors] + 0.05
    b = np.zeros(len(a))
    naive = paired_difference(a, b)
    grouped = paired_difference(a, b, groups=debtors)
    strict = paired_difference(a, b, groups=debtors, level=0.99)
    assert grouped["diff"] == pytest.approx(naive["diff"])
    width = lambda r: r["high"] - r["low"]  # noqa: E731
    assert width(grouped) > 3 * width(naive)
    assert width(strict) > width(grouped)
    assert grouped["low"] < 0 < grouped["high"]
