"""Invoice models: panels without leakage, hazards to distributions, the cash forecast on a
hand-made portfolio, the per-invoice answers of /score and the batch."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from support import SAMPLE_DIR, tiny_tables

from scoring.cases import build_cases
from scoring.contract import load_tables, validate_tables
from scoring.invoices.features import MATRIX_COLUMNS, invoice_matrix, invoice_phrase
from scoring.invoices.forecast import cash_forecast, simulate_weekly, weekly_distribution
from scoring.invoices.model import (
    HAZARD_COLUMNS,
    InvoiceModels,
    distribution_from_hazards,
    roll_up,
    survival_at,
)
from scoring.invoices.train import hazard_panel, invoice_outcomes

AS_OF = "2026-02-01T10:00:00+01:00"


# --------------------------------------------------------------------------------------
# No leakage: rows and facts dated after as_of change nothing in the invoice matrix


def _later_rows(tables, rng: np.random.Generator, n_new: int, shift_days: int):
    """The tables with facts after as_of added: new invoices issued later, and payments,
    disputes and litigation of the existing ones dated after as_of."""
    t = {k: v.copy() for k, v in tables.items()}
    inv = t["invoices"]
    day = pd.Timestamp("2026-02-01")
    later = day + pd.Timedelta(days=shift_days)
    unpaid = inv["paid_date"].isna() | (inv["paid_date"] >= day)
    inv.loc[unpaid, "paid_date"] = later
    no_dispute = inv["dispute_date"].isna()
    inv.loc[no_dispute, "dispute_date"] = later + pd.Timedelta(days=1)
    inv.loc[no_dispute, "dispute_reason"] = "quality"
    new = inv.sample(n_new, replace=True, random_state=int(rng.integers(1 << 30))).copy()
    new["invoice_id"] = [f"NEW{i}" for i in range(n_new)]
    new["issue_date"] = later
    new["due_date"] = later + pd.Timedelta(days=30)
    t["invoices"] = pd.concat([inv, new], ignore_index=True)
    return t


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_new=st.integers(1, 5), shift=st.integers(0, 200), seed=st.integers(0, 1000))
def test_invoice_rows_ignore_everything_after_as_of(n_new, shift, seed):
    tables = validate_tables(tiny_tables())[0]
    base = invoice_matrix(build_cases(tables, AS_OF))
    more = _later_rows(tables, np.random.default_rng(seed), n_new, shift)
    again = invoice_matrix(build_cases(more, AS_OF))
    np.testing.assert_array_equal(base.X, again.X)
    np.testing.assert_array_equal(base.case, again.case)
    np.testing.assert_array_equal(base.disputed, again.disputed)


def test_hazard_panel_follows_each_invoice_until_it_is_paid():
    tables = validate_tables(tiny_tables())[0]
    cs = build_cases(tables, AS_OF)
    M = invoice_matrix(cs)
    out = invoice_outcomes(cs, tables)
    ids = cs.invoices["invoice_id"].tolist()
    # I3 (D1) is never paid; I4 (D2) is paid 2026-02-10, 9 days after the as_of day: week 1
    i3, i4 = ids.index("I3"), ids.index("I4")
    assert np.isnan(out.pay_days[i3]) and out.pay_days[i4] == 9
    H, y = hazard_panel(M, out, np.array([i4]), K=15)
    assert H.shape == (2, len(HAZARD_COLUMNS)) and y.tolist() == [0, 1]
    assert H[:, HAZARD_COLUMNS.index("week")].tolist() == [0, 1]
    # a never-paid invoice is followed until the data ends (last paid date in the tables)
    H3, y3 = hazard_panel(M, out, np.array([i3]), K=15)
    assert y3.sum() == 0 and 0 < len(y3) <= 15
    assert (out.last_day[i3] - 6) // 7 + 1 == len(y3)


# --------------------------------------------------------------------------------------
# Hazards -> distribution


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 20)),
              elements=st.floats(0, 1)))  # fmt: skip
def test_hazards_give_a_distribution(h):
    d = distribution_from_hazards(h)
    assert d.shape == (h.shape[0], h.shape[1] + 1)
    assert (d >= 0).all()
    np.testing.assert_allclose(d.sum(axis=1), 1.0, atol=1e-12)
    cum = np.cumsum(d, axis=1)
    assert (np.diff(cum, axis=1) >= -1e-15).all()
    # the survival at each week boundary is what is left of the distribution
    K = h.shape[1]
    for k in range(1, K + 1):
        s = survival_at(d, np.full(len(d), 7.0 * k - 1))
        np.testing.assert_allclose(s, 1.0 - cum[:, k - 1], atol=1e-12)
    # and it decreases with time
    days = np.arange(-3, 7 * K + 10)
    curves = np.stack([survival_at(d, np.full(len(d), float(x))) for x in days], axis=1)
    assert (np.diff(curves, axis=1) <= 1e-12).all()
    assert (curves[:, :3] == 1.0).all()  # nothing is paid before as_of


def test_roll_up_is_some_invoice():
    p = np.array([0.5, 0.5, 0.2, 0.0])
    case = np.array([0, 0, 1, 2])
    np.testing.assert_allclose(roll_up(p, case, 4), [0.75, 0.2, 0.0, 0.0])


def test_weekly_distribution_extends_with_the_last_hazard():
    d = distribution_from_hazards(np.full((1, 3), 0.5))  # 0.5, 0.25, 0.125 | 0.125
    w = weekly_distribution(d, 5)
    np.testing.assert_allclose(w[0], [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125])
    np.testing.assert_allclose(weekly_distribution(d, 2)[0], [0.5, 0.25, 0.25])


# --------------------------------------------------------------------------------------
# The cash forecast on a hand-made portfolio


def _constant_hazard_booster(h: float, width: int = len(HAZARD_COLUMNS)) -> lgb.Booster:
    """A real LightGBM booster that predicts the hazard ``h`` whatever the invoice: no split
    can be made (``min_data_in_leaf`` above half the rows), the prediction is the base rate."""
    n = 200
    y = np.zeros(n)
    y[: int(h * n)] = 1
    X = np.random.default_rng(0).normal(size=(n, width))
    params = {"objective": "binary", "min_data_in_leaf": n, "verbosity": -1,
              "boost_from_average": True}  # fmt: skip
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=1)


def test_forecast_of_a_hand_made_portfolio():
    """Every open invoice is paid with probability 1/2 each week: the expected cash of week k
    is (open amount) / 2^k exactly, whatever the dependence; intervals surround it."""
    tables = validate_tables(tiny_tables())[0]
    cs = build_cases(tables, AS_OF)
    models = InvoiceModels(_constant_hazard_booster(0.5), None, None, horizon_weeks=4)
    assert models.hazards(invoice_matrix(cs)) == pytest.approx(0.5)
    fc = cash_forecast(models, tables, AS_OF, weeks=6, sims=2000, seed=1)
    total = float(cs.invoices["amount"].sum())
    w = fc.weekly[fc.weekly["segment"] == "all"]
    np.testing.assert_allclose(w["expected"], total * 0.5 ** np.arange(1, 7), rtol=1e-9)
    assert (w["p2_5"] <= w["p10"]).all() and (w["p10"] <= w["p90"]).all()
    assert (w["p90"] <= w["p97_5"]).all()
    by_seg = fc.weekly[fc.weekly["segment"] != "all"].groupby("week")["expected"].sum()
    np.testing.assert_allclose(by_seg.to_numpy(), w["expected"].to_numpy())
    assert fc.summary["open_amount"] == pytest.approx(total)
    assert fc.summary["expected_cash_in"] == pytest.approx(total * (1 - 0.5**6))
    assert fc.summary["expected_unpaid_after_horizon"] == pytest.approx(total * 0.5**6)
    assert len(fc.dso) == 7 and fc.dso["dso"].notna().all()


def test_models_trained_on_fewer_features_still_serve(tmp_path):
    """A model saved before a feature was added reads its own columns by name; one that needs
    a feature this version does not compute is refused with a clear message."""
    tables = validate_tables(tiny_tables())[0]
    M = invoice_matrix(build_cases(tables, AS_OF))
    older = [c for c in HAZARD_COLUMNS if c != "days_contact_to_payment"]
    m = InvoiceModels(_constant_hazard_booster(0.25, len(older)), None, None, 3, columns=older)
    m.save(tmp_path / "m.json")
    again = InvoiceModels.load(tmp_path / "m.json")
    assert again.hazards(M) == pytest.approx(0.25)
    d = m.to_dict()
    d["columns"] = [*older, "a_feature_from_the_future"]
    with pytest.raises(ValueError, match="retrain"):
        InvoiceModels.from_dict(d)


def test_intervals_reflect_the_dependence_between_a_debtors_invoices():
    """Two invoices of 100 EUR, each paid in week 1 with probability 1/2: independent, the
    week's cash is 0, 100 or 200 (100 half the time); fully dependent, 0 or 200."""
    wdist = np.array([[0.5, 0.5], [0.5, 0.5]])
    amount = np.array([100.0, 100.0])
    same = np.array(["D1", "D1"])
    ind = simulate_weekly(wdist, amount, np.array(["D1", "D2"]), 0.0, 0.0, 4000, seed=2)[:, 0]
    dep = simulate_weekly(wdist, amount, same, 0.99, 0.0, 4000, seed=2)[:, 0]
    assert np.mean(ind == 100) == pytest.approx(0.5, abs=0.04)
    assert np.mean(dep == 100) < 0.05
    assert np.mean(dep) == pytest.approx(100, abs=6) and np.mean(ind) == pytest.approx(100, abs=6)


def test_invoice_phrases_read_like_a_reviewer_would_write():
    assert invoice_phrase("inv_po_ref", 0.0) == "sans référence de commande"
    assert invoice_phrase("inv_channel", 2.0) == "envoyée sur papier"
    assert invoice_phrase("inv_channel", 2.0, "en") == "sent on paper"
    assert invoice_phrase("inv_days_past_due", 34.0) == "échue depuis 34 jours"
    assert "inconnu" in invoice_phrase("inv_po_ref", float("nan"))
    assert set(MATRIX_COLUMNS) < set(HAZARD_COLUMNS)


# --------------------------------------------------------------------------------------
# Trained on the sample: /score, the batch, scoring forecast


@pytest.fixture(scope="module")
def invoice_bundle(trained):
    from scoring.service import Bundle

    b = Bundle.from_registry("champion")
    if b.invoice_models is None:
        pytest.fail("scoring train registered no invoice models")
    return b


def test_training_logs_the_candidates_and_keeps_one_per_label(trained, invoice_bundle):
    m = trained.result.metrics
    im = invoice_bundle.invoice_models
    assert set(im.selection) == {"default", "dispute"}
    for label, chosen in im.selection.items():
        assert chosen in ("case", "invoices", "blend")
        v = {c: m[f"invoices_{label}_{c}_valid_log_loss"] for c in ("case", "invoices", "blend")}
        assert v[chosen] == min(v.values())  # chosen on the validation period
        assert f"invoices_{label}_case_test_roc_auc" in m
    assert "invoices_payment_calibration_max_gap" in m
    assert 0 <= im.rho <= 0.95


def test_score_answers_per_invoice(invoice_bundle):
    from scoring.api import responses

    tables = load_tables(SAMPLE_DIR)
    cases = build_cases(tables, pd.Timestamp("2026-03-02T09:00:00+01:00")).to_cases()[:20]
    _, s, results = responses.score(invoice_bundle, cases)
    for case, r in zip(cases, results, strict=True):
        assert [i.invoice_id for i in r.invoices] == [i.invoice_id for i in case.open_invoices]
        assert set(r.probability_sources) == {"default_risk", "dispute_risk"}
        for inv, src in zip(r.invoices, case.open_invoices, strict=True):
            assert sum(inv.payment_weeks) == pytest.approx(1.0)
            assert 0 <= inv.p_paid_by_due_date <= inv.p_paid_by_due_date_30 <= 1
            if src.due_date < case.as_of.date():  # overdue: can no longer be paid by its due date
                assert inv.p_paid_by_due_date == 0
            if src.dispute_date is not None:  # already contested
                assert inv.dispute_probability == 0
        word, named = r.invoice_to_check.split()[:2]
        assert word == ("facture" if r.lang == "fr" else "invoice")
        p = {i.invoice_id: i.dispute_probability for i in r.invoices}
        assert p[named.rstrip(":")] == max(p.values())
        # the served probabilities come from the chosen source
        if r.probability_sources["default_risk"] == "case":
            assert r.default_probability == pytest.approx(
                r.explanations["default_risk"].probability
            )


def test_batch_names_the_invoice_to_check(invoice_bundle):
    from scoring.service import batch_decisions

    cs = build_cases(load_tables(SAMPLE_DIR), pd.Timestamp("2026-03-02T09:00:00+01:00"))
    out = batch_decisions(invoice_bundle, cs)
    assert out["invoice_to_check"].notna().all()
    ids = set(cs.invoices["invoice_id"])
    assert set(out["invoice_to_check"]) <= ids
    review = out["action"] == "dispute_review"
    assert out.loc[review, "reasons"].str.contains("facture").all()


def test_forecast_command(trained, tmp_path):
    from typer.testing import CliRunner

    from scoring.cli import app

    out = tmp_path / "forecast.csv"
    args = ["forecast", "--data", str(SAMPLE_DIR), "--as-of", "2026-03-02T09:00:00+01:00",
            "--weeks", "8", "--simulations", "200", "--output", str(out)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "DSO now" in res.output
    weekly = pd.read_csv(out)
    assert set(weekly["segment"]) >= {"all"} and len(weekly[weekly["segment"] == "all"]) == 8
    assert (weekly["p10"] <= weekly["p90"]).all()
    assert Path(out.with_suffix(".png")).stat().st_size > 1000
    assert "dso" in out.with_suffix(".json").read_text()
    bad = CliRunner().invoke(app, [*args[:4], "2026-03-02", *args[5:]])
    assert bad.exit_code != 0 and "offset" in bad.output


def test_batch_writes_one_row_per_open_invoice(invoice_bundle, tmp_path):
    from scoring.batch import run_batch

    as_of = "2026-03-02T09:00:00+01:00"
    out = run_batch(SAMPLE_DIR, as_of, tmp_path / "b.parquet", bundle=invoice_bundle,
                    invoices_output=tmp_path / "inv.csv")  # fmt: skip
    inv = pd.read_csv(tmp_path / "inv.csv")
    cs = build_cases(load_tables(SAMPLE_DIR), pd.Timestamp(as_of))
    assert sorted(inv["invoice_id"]) == sorted(cs.invoices["invoice_id"])
    assert set(inv["debtor_id"]) == set(out["debtor_id"])
    assert inv["dispute_probability"].between(0, 1).all()
    assert (inv["p_paid_by_due_date"] <= inv["p_paid_by_due_date_30"] + 1e-12).all()
    with pytest.raises(ValueError, match="local engine"):
        run_batch(SAMPLE_DIR, as_of, tmp_path / "c.csv", bundle=invoice_bundle, engine="dask",
                  invoices_output=tmp_path / "i.csv")  # fmt: skip


def test_a_blend_is_served_only_with_the_case_model_it_was_fitted_with(invoice_bundle):
    import copy

    from scoring.invoices import invoice_matrix as matrix

    im = copy.deepcopy(invoice_bundle.invoice_models)
    b = invoice_bundle
    assert im.pair_with({"default": b.default_risk, "dispute": b.dispute_risk}) == []
    im.blends.setdefault("default", copy.deepcopy(next(iter(im.blends.values()), None)))
    im.selection["default"] = "blend"
    if "default" not in im.case_calibrators or im.blends["default"] is None:
        pytest.skip("no default blend on this sample")
    # another case model in use (e.g. promoted on its own): the blend is not served
    assert im.pair_with({"default": b.dispute_risk, "dispute": b.dispute_risk}) == ["default"]
    cs = build_cases(load_tables(SAMPLE_DIR), pd.Timestamp("2026-03-02T09:00:00+01:00"))
    s = im.score(matrix(cs))
    p_case = np.full(len(cs), 0.1)
    p, src = im.case_probability("default", p_case, s)
    assert src == "case" and (p == p_case).all()
