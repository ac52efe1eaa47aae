"""Training end to end on the small sample, and behaviour of the trained models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.explain import reason_text, top_reasons


def test_contributions_are_additive(trained):
    X = trained.ts.X.iloc[:300]
    for model in trained.result.models.values():
        contrib, base = model.contributions(X)
        np.testing.assert_allclose(contrib.sum(axis=1) + base, model.raw_score(X), atol=1e-6)
        p, c2, b2 = model.predict_with_contributions(X)
        np.testing.assert_allclose(p, model.predict_proba(X), atol=1e-12)


def test_more_days_past_due_never_lowers_default_risk(trained):
    model = trained.result.models["default_risk"]
    X = trained.ts.X.iloc[:200].copy()
    base = model.predict_proba(X)
    for shift in (1, 7, 30, 90):
        later = X.copy()
        later["max_days_past_due"] = later["max_days_past_due"] + shift
        later["mean_days_past_due"] = later["mean_days_past_due"] + shift
        after = model.predict_proba(later)
        bad = after < base - 1e-12
        assert not bad.any(), (shift, base[bad], after[bad])


def test_larger_share_paid_late_never_lowers_default_risk(trained):
    model = trained.result.models["default_risk"]
    X = trained.ts.X.iloc[:200].copy()
    lo, hi = X.copy(), X.copy()
    lo["share_paid_late"], hi["share_paid_late"] = 0.1, 0.9
    assert (model.predict_proba(hi) >= model.predict_proba(lo) - 1e-12).all()


def test_debtor_id_never_changes_a_score(trained):
    from scoring.cases import CaseSet
    from scoring.features import features

    cs = trained.ts.cases.take(np.arange(50))
    renamed = CaseSet(
        cs.cases.assign(debtor_id=[f"X{i}" for i in range(len(cs))]), cs.invoices, cs.actions
    )
    for model in trained.result.models.values():
        np.testing.assert_array_equal(
            model.predict_proba(features(cs)), model.predict_proba(features(renamed))
        )


def test_models_beat_chance_and_are_calibrated(trained):
    m = trained.result.metrics
    assert m["default_risk_test_roc_auc"] > 0.6
    assert m["dispute_risk_test_roc_auc"] > 0.55
    assert m["default_risk_test_ece"] < 0.1


def test_smallest_model_within_tolerance(trained):
    for model in trained.result.models.values():
        assert model.info["valid_auc"] >= model.info["best_valid_auc"] - 0.002 - 1e-12


def test_registered_as_challenger_and_first_is_champion(trained):
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    for key, version in trained.result.versions.items():
        name = registry.registered_name(key)
        assert int(client.get_model_version_by_alias(name, "challenger").version) == version
        assert int(client.get_model_version_by_alias(name, "champion").version) == 1
        hist = registry.promotion_history(key)
        assert hist and hist[0]["reason"] == "first version ever trained"


def test_pyfunc_serves_probabilities(trained):
    import mlflow.pyfunc

    from scoring import registry

    name = registry.registered_name("default_risk")
    pyf = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    X = trained.ts.X.iloc[:20]
    out = pyf.predict(registry.signature_frame(X))
    np.testing.assert_allclose(
        out["probability"].to_numpy(),
        trained.result.models["default_risk"].predict_proba(X),
        atol=1e-9,
    )


def test_reason_texts_use_the_case_values(trained):
    model = trained.result.models["default_risk"]
    X = trained.ts.X.iloc[:5]
    contrib, _ = model.contributions(X)
    for lang in ("fr", "en"):
        reasons = top_reasons("default_risk", contrib, X, model.feature_names, k=3, lang=lang)
        assert len(reasons) == 5 and all(len(r) == 3 for r in reasons)
        assert all(r.code.startswith("DEFAULT.") for r in reasons[0])
    assert reason_text("last5_n_late", 4.0, "en") == "4 of the last 5 invoices paid late"
    assert reason_text("last5_n_late", 4.0, "fr") == "4 des 5 dernières factures payées en retard"
    assert "purchase-order" in reason_text("share_no_po_ref", 1.0, "en")


def _challenger(key: str, version) -> None:
    """Make ``version`` of ``key`` the challenger, as ``scoring train`` does (the release
    record and the alias)."""
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    rel = registry.release_versions(registry.ALL_MODELS, "champion", client)
    versions = {k: v for k, v in rel.items() if v is not None} | {key: int(version)}
    registry.write_release(client, "challenger", versions, "test", "test")
    client.set_registered_model_alias(registry.registered_name(key), "challenger", str(version))


def test_promotion_rule(trained, monkeypatch):
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    name = registry.registered_name("dispute_risk")
    champ = registry.release_versions(("dispute_risk",), "champion")["dispute_risk"]
    # a second, worse version on the same test period: not promoted unless forced
    v1 = client.get_model_version(name, str(champ))
    mv = client.create_model_version(name, v1.source, run_id=v1.run_id)
    for k, v in {"test_roc_auc": "0.5", "gate_champion_test_roc_auc": "0.7",
                 "gate_champion_version": str(champ)}.items():  # fmt: skip
        client.set_model_version_tag(name, mv.version, k, v)
    _challenger("dispute_risk", mv.version)
    (d,) = registry.promote(("dispute_risk",), who="analyst")
    assert not d.promoted and "not promoted" in d.reason and "same test period" in d.reason
    (d,) = registry.promote(("dispute_risk",), force=True, who="analyst", note="test")
    assert d.promoted
    assert int(client.get_model_version_by_alias(name, "champion").version) == int(mv.version)
    assert registry.release_versions(("dispute_risk",), "champion")["dispute_risk"] == int(
        mv.version
    )
    hist = registry.promotion_history("dispute_risk")
    assert (
        hist[-1]["by"] == "analyst"
        and hist[-1]["previous"] == champ
        and "forced" in hist[-1]["reason"]
    )


def test_a_comparison_on_another_period_or_champion_is_refused(trained):
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    name = registry.registered_name("default_risk")
    champ = registry.release_versions(("default_risk",), "champion")["default_risk"]
    src = client.get_model_version(name, str(champ))
    mv = client.create_model_version(name, src.source, run_id=src.run_id)
    client.set_model_version_tag(name, mv.version, "test_roc_auc", "0.99")
    _challenger("default_risk", mv.version)
    (d,) = registry.promote(("default_risk",), who="analyst")
    assert not d.promoted and "not evaluated against a champion" in d.reason
    client.set_model_version_tag(name, mv.version, "gate_champion_test_roc_auc", "0.7")
    client.set_model_version_tag(name, mv.version, "gate_champion_version", str(champ + 50))
    (d,) = registry.promote(("default_risk",), who="analyst")
    assert not d.promoted and "compared with" in d.reason
    _challenger("default_risk", champ)  # leave the registry as it was


def test_the_models_of_a_release_go_live_together(trained):
    """One refused model keeps the whole release out; a promotion is one write of the
    release record, which is what the service reads (a lone alias move is not)."""
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    before = registry.release_versions(registry.ALL_MODELS, "champion")
    new = {}
    for key, auc in (("default_risk", "0.9"), ("dispute_risk", "0.4")):
        name = registry.registered_name(key)
        src = client.get_model_version(name, str(before[key]))
        mv = client.create_model_version(name, src.source, run_id=src.run_id)
        for k, v in {"test_roc_auc": auc, "gate_champion_test_roc_auc": "0.6",
                     "gate_champion_version": str(before[key])}.items():  # fmt: skip
            client.set_model_version_tag(name, mv.version, k, v)
        new[key] = int(mv.version)
    versions = {k: v for k, v in before.items() if v is not None} | new
    registry.write_release(client, "challenger", versions, "test", "test")
    out = {d.key: d for d in registry.promote(who="analyst")}
    assert (
        not out["default_risk"].promoted and "kept with its release" in out["default_risk"].reason
    )
    assert not out["dispute_risk"].promoted
    assert registry.release_versions(registry.ALL_MODELS, "champion") == before
    # a lone alias move (another tool, a half-finished promotion) changes nothing served
    name = registry.registered_name("default_risk")
    client.set_registered_model_alias(name, "champion", str(new["default_risk"]))
    assert registry.release_versions(registry.ALL_MODELS, "champion") == before
    client.set_registered_model_alias(name, "champion", str(before["default_risk"]))
    # once the refused one is fixed, both go live in one release
    client.set_model_version_tag(
        registry.registered_name("dispute_risk"), str(new["dispute_risk"]), "test_roc_auc", "0.7"
    )
    out = {d.key: d for d in registry.promote(who="analyst")}
    assert out["default_risk"].promoted and out["dispute_risk"].promoted
    live = registry.read_release("champion")
    assert live is not None and live["previous"] == {k: v for k, v in before.items() if v}
    assert {k: live["versions"][k] for k in new} == new
    # put the original release back for the other tests
    registry.write_release(client, "champion", live["previous"], "test", "test")
    registry.write_release(client, "challenger", live["previous"], "test", "test")
    for key, v in live["previous"].items():
        client.set_registered_model_alias(registry.registered_name(key), "champion", str(v))


def test_training_evaluates_the_champion_on_its_own_test_period(trained):
    from scoring import pipeline, registry

    metrics: dict[str, float] = {}
    tags = pipeline.champion_same_period("default_risk", trained.ts, metrics)
    champ = registry.release_versions(("default_risk",), "champion")["default_risk"]
    assert tags["gate_champion_version"] == str(champ)
    # the champion is the model trained here: the same AUC on the same period
    assert float(tags["gate_champion_test_roc_auc"]) == pytest.approx(
        trained.result.metrics["default_risk_test_roc_auc"], abs=1e-6
    )


def test_failed_training_registers_nothing(tmp_path, mlflow_home, raw_tables):
    import mlflow
    from mlflow import MlflowClient

    from scoring.contract import ContractError
    from scoring.pipeline import train

    bad = raw_tables
    bad["invoices"].loc[0, "amount"] = -1.0
    for name, df in bad.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    before = {
        m.name: len(MlflowClient().search_model_versions(f"name='{m.name}'"))
        for m in MlflowClient().search_registered_models()
    }
    with pytest.raises(ContractError):
        train(tmp_path, trials=1, progress=False)
    runs = mlflow.search_runs(
        experiment_names=["debt-collection"], order_by=["start_time DESC"], max_results=1
    )
    assert runs.iloc[0]["status"] == "FAILED"
    after = {
        m.name: len(MlflowClient().search_model_versions(f"name='{m.name}'"))
        for m in MlflowClient().search_registered_models()
    }
    assert before == after


def test_too_little_data_is_a_clear_error(tmp_path, mlflow_home, raw_tables):
    from scoring.models.dataset import TrainingDataError
    from scoring.pipeline import train

    for name, df in raw_tables.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    with pytest.raises(TrainingDataError, match="cannot train|too little time"):
        train(tmp_path, trials=1, progress=False)


def test_cli_train_reports_failure(tmp_path, mlflow_home, raw_tables):
    from typer.testing import CliRunner

    from scoring.cli import app

    for name, df in raw_tables.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    res = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path), "--trials", "1", "--no-progress"]
    )
    assert res.exit_code == 1
    assert "nothing registered" in res.output


def test_training_periods_are_ordered_in_time(trained):
    meta = trained.ts.meta
    spans = meta.groupby("period", observed=True)["as_of"].agg(["min", "max"])
    order = ["train", "valid", "calib", "test"]
    for a, b in zip(order, order[1:], strict=False):
        assert spans.loc[a, "max"] < spans.loc[b, "min"]
    assert isinstance(meta["as_of"].iloc[0], pd.Timestamp)


def test_a_small_portfolio_is_sampled_more_densely():
    """When a period of the time split has too few cases at the configured step, instants are
    sampled every step / 2 days (then / 4 ...) instead of failing: a portfolio of 100
    customers (the public accounts-receivable sample) trains at 7 days instead of 14."""
    from support import SAMPLE_DIR

    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config

    sample_tables = load_tables(SAMPLE_DIR)
    cfg = load_training_config().with_overrides({"split": {"min_cases": 1, "min_positives": 0}})
    first = build_training_set(sample_tables, cfg, progress=False)
    assert first.step_days == cfg.sampling.step_days == 14
    smallest = int(first.meta["period"].value_counts().min())
    cfg = cfg.with_overrides({"split": {"min_cases": smallest + 1}})
    denser = build_training_set(sample_tables, cfg, progress=False)
    assert denser.step_days == 7
    assert denser.meta["period"].value_counts().min() >= smallest + 1
    assert len(denser.meta) > 1.5 * len(first.meta)


def test_scikit_learn_view(trained):
    """RiskModel.as_sklearn() works where analysts expect an estimator."""
    from sklearn.calibration import CalibrationDisplay
    from sklearn.inspection import permutation_importance

    model = trained.result.models["default_risk"]
    idx = trained.ts.period("test")[:600]
    X = trained.ts.X.iloc[idx]
    y = trained.ts.labels["default"].to_numpy()[idx]
    est = model.as_sklearn()
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2) and list(est.classes_) == [0, 1]
    np.testing.assert_allclose(proba[:, 1], model.predict_proba(X))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    disp = CalibrationDisplay.from_estimator(est, X, y, n_bins=5)
    assert len(disp.prob_pred) > 1
    imp = permutation_importance(est, X, y, scoring="roc_auc", n_repeats=2, random_state=0)
    assert imp.importances_mean.shape == (X.shape[1],)
    top = X.columns[int(np.argmax(imp.importances_mean))]
    assert top in model.feature_names


def test_a_split_pins_the_challenger_release_and_stops(trained):
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from scoring import registry
    from scoring.cli import app

    client = MlflowClient()
    champion = registry.read_release("champion")
    assert champion is not None
    registry.write_release(client, "challenger", champion["versions"], "test", "test")
    with pytest.raises(registry.ModelNotFound, match="nothing to test"):
        registry.write_split(0.2, "ana", "")
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        registry.write_split(0.9, "ana", "")
    name = registry.registered_name("policy")
    src = client.get_model_version(name, str(champion["versions"]["policy"]))
    mv = client.create_model_version(name, src.source, run_id=src.run_id)
    chall = champion["versions"] | {"policy": int(mv.version)}
    registry.write_release(client, "challenger", chall, "test", "test")
    runner = CliRunner()
    res = runner.invoke(app, ["experiment", "start", "--share", "0.2", "--note", "Q4 test"])
    assert res.exit_code == 0, res.output
    split = registry.read_split()
    assert split is not None and split["share"] == 0.2 and split["versions"] == chall
    assert split["salt"] and split["reason"] == "Q4 test"
    # a later training run moves the challenger release: the split keeps its versions
    registry.write_release(client, "challenger", champion["versions"], "test", "test")
    assert registry.read_split()["versions"] == chall
    assert "20% of debtors" in runner.invoke(app, ["experiment", "status"]).output
    assert runner.invoke(app, ["experiment", "stop"]).exit_code == 0
    assert registry.read_split() is None
    assert "no split" in runner.invoke(app, ["experiment", "status"]).output
