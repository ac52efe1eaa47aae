"""The compliance report: group metrics by hand, then the HTML's content against the functions."""

from __future__ import annotations

import hashlib
import html
import re

import numpy as np
import pandas as pd
import pytest

from scoring import compliance_report as cr
from scoring import kpis


def test_department_groups():
    got = cr.department_group(["57", "67", "68", "75", "93", "971", "976", "2A", "13"])
    assert list(got) == [
        "Alsace-Moselle",
        "Alsace-Moselle",
        "Alsace-Moselle",
        "Île-de-France",
        "Île-de-France",
        "overseas",
        "overseas",
        "other metropolitan",
        "other metropolitan",
    ]


def test_group_metrics_and_disparities_by_hand():
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    s = np.array([0.9, 0.6, 0.1, 0.2, 0.4, 0.8, 0.7, 0.3])
    g = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    t = cr.group_metrics(y, s, {"grp": g}, threshold=0.5).set_index("group")
    # group a: flagged 0.9 (pos), 0.6 (neg) -> FPR 1/3, FNR 0
    assert t.loc["a", "fpr"] == pytest.approx(1 / 3) and t.loc["a", "fnr"] == 0
    # group b: positives 0.4 (missed), 0.8; negatives 0.7 (flagged), 0.3 -> FPR 1/2, FNR 1/2
    assert t.loc["b", "fpr"] == pytest.approx(0.5) and t.loc["b", "fnr"] == pytest.approx(0.5)
    assert t.loc["a", "mean_score"] == pytest.approx(0.45)
    assert t.loc["all", "n"] == 8 and t.loc["a", "roc_auc"] == pytest.approx(1.0)
    d = cr.disparities(y, s, {"grp": g}, 0.5, min_n=1).set_index("metric")
    assert d.loc["fpr", "difference"] == pytest.approx(0.5 - 1 / 3)
    assert d.loc["fpr", "ratio"] == pytest.approx((1 / 3) / 0.5)
    assert d.loc["fpr", "group_max"] == "b" and d.loc["fnr", "group_min"] == "a"
    # groups below min_n are listed, not compared
    d = cr.disparities(y, s, {"grp": g}, 0.5, min_n=5)
    assert d["difference"].isna().all() and set(d["groups_excluded"]) == {"a, b"}


def test_bootstrap_intervals_are_wider_for_small_groups():
    rng = np.random.default_rng(0)
    n = 3000
    g = np.where(rng.random(n) < 0.03, "overseas", "metropolitan")
    s = rng.random(n)
    y = (rng.random(n) < s).astype(int)
    t = cr.group_metrics(y, s, {"grp": g}, 0.5, n_boot=60).set_index("group")
    width = t["roc_auc_ci_high"] - t["roc_auc_ci_low"]
    assert (t["roc_auc_ci_low"] <= t["roc_auc"]).all() and (
        t["roc_auc"] <= t["roc_auc_ci_high"]
    ).all()
    assert width["overseas"] > 2 * width["metropolitan"]
    d = cr.disparities(y, s, {"grp": g}, 0.5, n_boot=60).set_index("metric")
    lo, hi = d.loc["roc_auc", "difference_ci_low"], d.loc["roc_auc", "difference_ci_high"]
    assert lo <= d.loc["roc_auc", "difference"] <= hi


def _audit_frame() -> pd.DataFrame:
    rows = [
        ("B2C", "formal_notice", True, [{"action": "sms_reminder", "rules": ["R3_consent"]}]),
        (
            "B2C",
            "letter",
            False,
            [
                {"action": "sms_reminder", "rules": ["R3_consent"]},
                {"action": "phone_call", "rules": ["R2_phone_hours", "R3_consent"]},
            ],
        ),
        ("B2B", "email_reminder", False, []),
    ]
    return pd.DataFrame(
        {
            "segment": [r[0] for r in rows],
            "action": [r[1] for r in rows],
            "requires_review": [r[2] for r in rows],
            "removed": [r[3] for r in rows],
        }
    )


def test_rule_removals_and_review_summary():
    a = _audit_frame()
    rem = cr.rule_removals(a).set_index("rule")
    assert rem.loc["R3_consent", "decisions"] == 2 and rem.loc["R3_consent", "removals"] == 3
    assert rem.loc["R3_consent", "actions"] == "sms_reminder (2), phone_call (1)"
    assert rem.loc["R2_phone_hours", "share"] == pytest.approx(1 / 3)
    rev = cr.review_summary(a)
    assert rev.iloc[-1].to_dict() == {
        "segment": "all",
        "action": "all",
        "decisions": 3,
        "flagged": 1,
        "share": pytest.approx(1 / 3),
    }
    assert rev.iloc[0]["action"] == "formal_notice"
    mix = cr.audit_action_mix(a).set_index("action")
    assert mix.loc["letter", "B2C"] == pytest.approx(0.5)
    empty = a.iloc[:0]
    assert cr.rule_removals(empty).empty and cr.review_summary(empty).empty


def _api_decisions(trained, tmp_path) -> pd.DataFrame:
    """Decisions and outcomes written through the real HTTP path into a private audit trail."""
    from fastapi.testclient import TestClient
    from support import SAMPLE_DIR

    from scoring.api.app import create_app
    from scoring.cases import build_cases
    from scoring.contract import load_tables
    from scoring.service import Bundle
    from scoring.settings import Settings

    key = "report-test-key-0123456789"
    settings = Settings(
        home=tmp_path / "home",
        api_keys=f"{hashlib.sha256(key.encode()).hexdigest()}:scoring",
        reload_seconds=0,
    )
    cs = build_cases(load_tables(SAMPLE_DIR), pd.Timestamp("2026-03-02T09:00:00+01:00"))
    cases = [c.model_dump(mode="json") for c in cs.to_cases()[:40]]
    with TestClient(create_app(bundle=Bundle.from_registry("champion"), settings=settings)) as c:
        r = c.post("/next-action", json=cases, headers={"X-API-Key": key})
        assert r.status_code == 200, r.text
        for d in r.json()[:10]:
            body = {"decision_id": d["decision_id"], "paid_amount": 10.0, "dispute": False}
            assert c.post("/outcomes", json=body, headers={"X-API-Key": key}).status_code == 201
    engine = kpis.audit_engine(settings)
    frame = kpis.read_audit_decisions(engine)
    engine.dispose()
    return frame


@pytest.fixture(scope="module")
def report(trained, tmp_path_factory):
    from support import SAMPLE_DIR

    tmp = tmp_path_factory.mktemp("report")
    audit = _api_decisions(trained, tmp)
    from scoring.contract import load_tables

    tables = load_tables(SAMPLE_DIR)
    inp = cr.gather_inputs(
        "champion", SAMPLE_DIR, training_set=trained.ts, tables=tables, audit=audit
    )
    path = cr.build_report("champion", tmp / "report.html", inputs=inp)
    return path.read_text(encoding="utf-8"), inp, audit


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_report_has_every_section_and_is_self_contained(report):
    page, _, _ = report
    for sid in ("models", "metrics", "disparities", "reasons", "actions", "rules", "kpis"):
        assert f"<section id='{sid}'>" in page
    assert "<section id='promotions'>" in page
    assert not re.search(r"(src|href)=['\"]https?://", page)  # opens offline
    assert page.count("data:image/png;base64,") >= 6
    for fn in (
        "group_metrics",
        "disparities",
        "reason_code_distribution",
        "rule_removals",
        "review_summary",
        "promotion_table",
        "audit_action_mix",
    ):
        assert f"data-source='scoring.compliance_report.{fn}'" in page
    assert "Model card: default_risk" in page and "Model card: dispute_risk" in page


def test_report_numbers_match_the_functions(report):
    page, inp, audit = report
    text = _text(page)
    tables = cr.metrics_tables(inp.evaluation, inp.thresholds)
    _, disp = tables["default_risk"]
    row = disp[(disp["grouping"] == "segment") & (disp["metric"] == "mean_score")].iloc[0]
    assert f"{row['difference']:.4f}" in text and f"{row['ratio']:.4f}" in text
    by_group, _ = tables["dispute_risk"]
    auc = by_group.loc[by_group["grouping"] == "overall", "roc_auc"].iloc[0]
    assert f"{auc:.4f}" in text
    assert len(audit) == 40 and int(audit["has_outcome"].sum()) == 10
    flagged = int(audit["requires_review"].sum())
    assert f"40 audited decisions; {flagged} flagged for human review" in text
    rem = cr.rule_removals(audit)
    assert len(rem) > 0  # real cases always lose some actions to the rules
    top = rem.iloc[0]
    assert f"{top['rule']} {top['decisions']} {top['share']:.4f} {top['removals']}" in text
    reasons = cr.reason_code_distribution(inp.bundle, inp.evaluation)
    first = reasons[reasons["model"] == "default_risk"].iloc[0]
    assert f"{first['code']} {first['feature']} {first['cases']}" in text
    summary = kpis.kpi_summary(inp.tables, inp.kpi_config)
    r = summary[(summary["segment"] == "all") & (summary["kpi"] == "recovery_rate")].iloc[0]
    assert f"all recovery_rate recovery rate {r['shown']} {r['target']}" in text
    assert "first version ever trained" in text


def test_report_cli_fails_clearly_without_models(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scoring.cli import app
    from scoring.settings import get_settings

    monkeypatch.setenv("SCORING_HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(
            app, ["report", "--model", "nope", "--out", str(tmp_path / "r.html")]
        )
    finally:
        from scoring import registry

        monkeypatch.undo()
        get_settings.cache_clear()
        registry.setup_mlflow()  # back to the session store
    assert r.exit_code == 1 and "no models under the alias 'nope'" in r.output
    assert not (tmp_path / "r.html").exists()
