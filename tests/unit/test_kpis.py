"""KPIs from the tiny hand-made tables (values computed by hand) and from a tiny audit trail."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest

from scoring import kpis

COSTS = {"wait": 0.0, "email_reminder": 0.05, "sms_reminder": 0.10, "phone_call": 4.0}
COSTS |= {"formal_notice": 7.5, "letter": 1.5}


def _row(df: pd.DataFrame, month: str, segment: str) -> dict:
    r = df[(df["month"] == month) & (df["segment"] == segment)]
    assert len(r) == 1, (month, segment)
    return r.iloc[0].to_dict()


def test_monthly_kpis_match_hand_computation(tables):
    k = kpis.compute_kpis(tables, kpis.load_kpi_config(), costs=COSTS)
    # invoices due in January 2026: I2 (B2B 2500, paid after 134 days, disputed),
    # I4 (B2C 90, paid after 36 days), I5 (B2C 60, never paid, disputed)
    b2b = _row(k, "2026-01", "B2B")
    assert b2b["n_invoices_due"] == 1 and b2b["amount_due"] == pytest.approx(2500)
    assert b2b["recovery_rate"] == 0 and b2b["unpaid_rate"] == 1 and b2b["dispute_rate"] == 1
    b2c = _row(k, "2026-01", "B2C")
    assert b2c["recovery_rate"] == pytest.approx(90 / 150)
    assert b2c["unpaid_rate"] == pytest.approx(60 / 150)
    assert b2c["dispute_rate"] == pytest.approx(0.5)
    both = _row(k, "2026-01", "all")
    assert both["recovery_rate"] == pytest.approx(90 / 2650)
    assert both["unpaid_rate"] == pytest.approx(2560 / 2650)
    assert both["dispute_rate"] == pytest.approx(2 / 3)
    # days to pay by payment month: I1 paid 49 days after issue, I4 52 days
    assert _row(k, "2025-10", "B2B")["days_to_pay"] == pytest.approx(49)
    assert _row(k, "2026-02", "B2C")["days_to_pay"] == pytest.approx(52)
    # cost of recovery: actions of the month / amount paid late that month
    assert _row(k, "2026-02", "all")["cost_of_recovery"] == pytest.approx(7.5 / 90)
    assert _row(k, "2026-02", "B2C")["cost_of_recovery"] == 0
    assert pd.isna(_row(k, "2026-01", "B2B")["cost_of_recovery"])  # nothing recovered
    assert _row(k, "2026-01", "all")["action_cost"] == pytest.approx(4.15)
    # data end 2026-05-15, longest horizon 90 days: only months ending by 2026-02-14 complete
    assert _row(k, "2026-01", "all")["complete"]
    assert not _row(k, "2026-03", "all")["complete"]


def test_summary_compares_complete_period_with_targets(tables):
    cfg = kpis.load_kpi_config()
    s = kpis.kpi_summary(tables, cfg, costs=COSTS)
    assert set(s["segment"]) == {"B2B", "B2C", "all"}
    assert set(s["kpi"]) == set(kpis.KPI_NAMES)
    b2c = s[s["segment"] == "B2C"].set_index("kpi")
    # complete B2C invoices: I4 and I5 (due by 2026-02-14)
    assert b2c.loc["recovery_rate", "value"] == pytest.approx(0.6)
    assert b2c.loc["recovery_rate", "target"] == "> 90.0 %"
    assert b2c.loc["recovery_rate", "met"] == False  # noqa: E712
    assert b2c.loc["recovery_rate", "shown"] == "60.0 %"
    assert s.set_index(["segment", "kpi"]).loc[("B2B", "days_to_pay"), "met"] in (True, False)


def test_targets_and_config_errors(tmp_path):
    t = kpis.Target(kpi="recovery_rate", direction="above", value=0.9)
    assert t.met(0.95) is True and t.met(0.9) is False and t.met(float("nan")) is None
    assert kpis.Target(kpi="days_to_pay", direction="below", value=None).met(10) is None
    assert kpis.Target(kpi="days_to_pay", direction="below", value=45).describe() == "< 45.0 days"
    p = tmp_path / "k.yaml"
    p.write_text("targets:\n  speed: {direction: above, value: 1}\n")
    with pytest.raises(ValueError, match=r"targets\.speed"):
        kpis.load_kpi_config(p)
    p.write_text("targets:\n  dispute_rate: {direction: sideways, value: 1}\n")
    with pytest.raises(ValueError, match=r"targets\.dispute_rate\.direction.*'above'"):
        kpis.load_kpi_config(p)
    p.write_text("horizons: {recovery_days: 30}\ntargets:\n  dispute_rate: {value: 0.1}\n")
    cfg = kpis.load_kpi_config(p)
    assert cfg.recovery_days == 30 and cfg.targets["dispute_rate"].value == 0.1
    assert cfg.targets["recovery_rate"].value is None  # not configured: no target
    with pytest.raises(FileNotFoundError):
        kpis.load_kpi_config(tmp_path / "missing.yaml")
    p.write_text("horizons: {recovery_dayz: 30}\n")
    with pytest.raises(ValueError, match=r"horizons\.recovery_dayz: Extra inputs"):
        kpis.load_kpi_config(p)


def test_chart_and_report_files(tables, tmp_path):
    res = kpis.write_kpi_report(tables, tmp_path, kpis.load_kpi_config())
    for name in ("kpis.png", "kpis_by_month.csv", "kpis_summary.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "kpis.png").read_bytes()[:4] == b"\x89PNG"
    back = pd.read_csv(tmp_path / "kpis_by_month.csv", dtype={"month": str})
    assert len(back) == len(res["monthly"])


def _audit_store(tmp_path):
    from scoring.audit import AuditStore

    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", b"k" * 32)


def _decision(segment: str, action: str, amounts: list[float], review: bool, removed: list):
    as_of = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    return {
        "decision_id": str(uuid.uuid4()),
        "decided_at": as_of,
        "as_of": as_of,
        "debtor_hash": "h" * 64,
        "action": action,
        "scheduled_at": None,
        "propensity": 0.5,
        "expected_value": 1.0,
        "requires_review": review,
        "model_versions": {"default_risk": "1"},
        "input": {
            "debtor": {"segment": segment, "department": "75"},
            "open_invoices": [{"amount": a} for a in amounts],
        },
        "output": {"removed": removed},
        "request_id": "r",
        "api_key": "test",
    }


def test_kpis_from_the_audit_trail(tmp_path):
    store = _audit_store(tmp_path)
    d1 = _decision("B2C", "phone_call", [100.0, 100.0], False, [{"action": "sms_reminder"}])
    d2 = _decision("B2C", "formal_notice", [300.0], True, [])
    d3 = _decision("B2B", "email_reminder", [1000.0], False, [])  # no outcome reported
    store.record_decisions([d1, d2, d3])
    store.add_outcome(
        d1["decision_id"], {"outcome": "reached", "dispute": False, "complaint": False}
    )
    # the last report wins: paid 150 on 2026-03-12 (10 days after as_of)
    store.add_outcome(
        d1["decision_id"],
        {
            "paid_amount": 150.0,
            "paid_at": dt.date(2026, 3, 12),
            "dispute": False,
            "complaint": False,
        },
    )
    store.add_outcome(d2["decision_id"], {"dispute": True, "complaint": False})
    frame = kpis.read_audit_decisions(store.engine)
    assert len(frame) == 3 and frame["has_outcome"].sum() == 2
    assert set(frame["month"]) == {"2026-03"}
    row = frame.set_index("decision_id").loc[d1["decision_id"]]
    assert row["open_amount"] == 200 and row["paid_amount"] == 150
    assert row["removed"] == [{"action": "sms_reminder"}]

    k = kpis.audit_kpis(frame, costs=COSTS)
    b2c = _row(k, "2026-03", "B2C")
    assert b2c["n_decisions"] == 2 and b2c["n_outcomes"] == 2
    assert b2c["recovery_rate"] == pytest.approx(150 / 500)
    assert b2c["unpaid_rate"] == pytest.approx(350 / 500)
    assert b2c["days_to_pay"] == pytest.approx(10)
    assert b2c["cost_of_recovery"] == pytest.approx((4.0 + 7.5) / 150)
    assert b2c["dispute_rate"] == pytest.approx(0.5)
    assert b2c["review_rate"] == pytest.approx(0.5)
    everyone = _row(k, "2026-03", "all")
    assert everyone["n_decisions"] == 3 and everyone["review_rate"] == pytest.approx(1 / 3)
    assert pd.isna(_row(k, "2026-03", "B2B")["recovery_rate"])  # nothing reported
    since = kpis.read_audit_decisions(store.engine, since="2026-04-01T00:00:00+00:00")
    assert since.empty and kpis.audit_kpis(since).empty
    store.close()
    assert kpis.read_audit_decisions(None).empty


def test_log_kpis_to_the_active_run(tables, tmp_path, mlflow_home):
    import mlflow

    from scoring import registry, tracking

    exp = registry.setup_mlflow()
    with mlflow.start_run(experiment_id=exp) as run:
        metrics = tracking.log_kpis(tables, tmp_path)
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["kpi_B2C_recovery_rate"] == pytest.approx(0.6)
    assert logged["kpi_B2C_recovery_rate_met"] == 0.0
    assert metrics.keys() <= logged.keys()
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "kpis")}
    assert {"kpis/kpis.png", "kpis/kpis_by_month.csv", "kpis/kpis.yaml"} <= arts


def test_cli_kpis(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scoring.cli import app
    from scoring.settings import get_settings

    monkeypatch.setenv("SCORING_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["kpis", "--out", str(tmp_path / "o")])
        assert r.exit_code == 1 and "no decision" in r.output
        r = CliRunner().invoke(app, ["kpis", "--data", str(tmp_path / "nope")])
        assert r.exit_code == 1 and "does not exist" in r.output
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
