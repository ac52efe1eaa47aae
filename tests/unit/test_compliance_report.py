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
    assert rem.loc["R3_consent", "decisions"] == 2 and rem.loc["R3_consent", "alone"] == 3
    assert rem.loc["R3_consent", "actions"] == "sms_reminder (2), phone_call (1)"
    # consent fails on every slot of the call: the phone hours removed nothing by themselves
    assert rem.loc["R2_phone_hours", "share"] == 0 and rem.loc["R2_phone_hours", "shadowed"] == 1
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


def _removed(*items: tuple[str, list[str]]) -> list[dict]:
    return [{"action": a, "rules": r} for a, r in items]


def test_the_sunday_rule_is_not_blamed_for_what_other_rules_removed():
    """As the policy records them: the first failing rule of each candidate slot, so
    R1_sunday_holiday is on the Sunday slots of nearly every removed action."""
    removed = [
        _removed(
            ("sms_reminder", ["R3_consent", "R1_sunday_holiday"]),
            ("phone_call", ["R2_phone_hours", "R3_consent", "R1_sunday_holiday"]),
            ("legal_escalation", ["R6_legal_prerequisites", "R1_sunday_holiday"]),
        ),
        _removed(("whatsapp_reminder", ["R5_open_dispute", "R1_sunday_holiday"])),
        _removed(("letter", ["R4_daily_cap"])),
        _removed(("formal_notice", ["R1_sunday_holiday"])),  # every slot on a Sunday/holiday
    ]
    a = pd.DataFrame({"removed": removed, "segment": "B2C", "action": "wait"})
    rem = cr.rule_removals(a).set_index("rule")
    r1 = rem.loc["R1_sunday_holiday"]
    assert r1["decisions"] == 1 and r1["share"] == pytest.approx(1 / 4)  # not 100 %
    assert (r1["alone"], r1["main"], r1["partial"], r1["shadowed"]) == (1, 0, 1, 3)
    assert r1["actions"] == "formal_notice (1)"
    assert rem.loc["R3_consent", "alone"] == 2 and rem.loc["R3_consent", "decisions"] == 1
    assert rem.loc["R2_phone_hours", "decisions"] == 0
    assert rem.loc["R6_legal_prerequisites", "main"] == 1
    assert rem.loc["R5_open_dispute", "alone"] == 1 and rem.loc["R4_daily_cap", "alone"] == 1
    assert rem.index[0] == "R3_consent"
    # an explicit record of the rules failing on every slot wins
    item = {"action": "sms_reminder", "rules": ["R1_sunday_holiday", "R4_weekly_cap"]}
    assert cr.removal_attribution(item | {"blocked_by": ["R4_weekly_cap"]}) == {
        "R4_weekly_cap": "alone",
        "R1_sunday_holiday": "shadowed",
    }
    from scoring.policy.rules import RULE_IDS

    assert set(cr.SLOT_INDEPENDENT_RULES) <= set(RULE_IDS)


def test_version_numbers_print_as_integers(monkeypatch):
    from scoring import registry

    history = {
        "default_risk": [
            {"at": "2026-01-01T00:00:00+00:00", "by": "system", "version": 1, "previous": None},
            {"at": "2026-02-01T00:00:00+00:00", "by": "ana", "version": 2, "previous": 1},
        ]
    }
    monkeypatch.setattr(registry, "promotion_history", lambda key: history.get(key, []))
    t = cr.promotion_table(("default_risk", "policy"))
    page = cr.html_table(t, "x")
    assert "1.0000" not in page and "<td>2</td><td>1</td>" in page
    assert "<td>1</td><td>–</td>" in page  # the first version has no previous one


def test_model_card_markdown_renders_as_html():
    md = (
        "# Model card: x\n\n## Intended use\nProbability of payment default for a debtor,\n"
        "to prioritise actions. Data set `data/x` <b>raw</b>.\n\n- a list item that wraps\n"
        "  onto a second line\n\n| a | b |\n|---|---|\n| `c` | 1 |\n"
    )
    body = cr.markdown_body(md, "x")
    assert "<h3>Model card: x</h3>" in body and "<h4>Intended use</h4>" in body
    assert "for a debtor, to prioritise actions." in body  # one paragraph, not two lines
    assert "<code>data/x</code>" in body and "`" not in body
    assert "&lt;b&gt;raw&lt;/b&gt;" in body  # raw HTML escaped
    assert "<li>a list item that wraps onto a second line</li>" in body
    assert "<td><code>c</code></td>" in body


def _kpi_audit(n: int, n_outcomes: int, key_names: list[str] | None = None) -> pd.DataFrame:
    t = pd.Timestamp("2026-03-02T09:00:00Z")
    rep = [i < n_outcomes for i in range(n)]
    return pd.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(n)],
            "decided_at": [t + pd.Timedelta(days=i) for i in range(n)],
            "as_of": [t + pd.Timedelta(days=i) for i in range(n)],
            "month": "2026-03",
            "segment": "B2C",
            "open_amount": 100.0,
            "action": "email_reminder",
            "requires_review": False,
            "has_outcome": rep,
            "paid_amount": [0.0 if r else np.nan for r in rep],
            "paid_at": pd.NaT,
            "dispute": False,
            "complaint": False,
            "api_key": key_names if key_names is not None else "collection-software",
        }
    )


def test_service_kpis_show_their_sample_size():
    cfg = kpis.load_kpi_config()
    t = cr.audit_kpi_table(_kpi_audit(12, 7), cfg, min_n=30).set_index(["segment", "kpi"])
    row = t.loc[("all", "unpaid_rate")]
    assert row["n"] == 7 and row["shown"] == "too few (n = 7 < 30)" and row["met"] is None
    assert "%" not in " ".join(t["shown"])
    assert t.loc[("all", "days_to_pay"), "n"] == 0  # nothing paid: no payment delay measured
    t = cr.audit_kpi_table(_kpi_audit(40, 35), cfg, min_n=30).set_index(["segment", "kpi"])
    row = t.loc[("all", "unpaid_rate")]
    assert row["n"] == 35 and row["shown"] == "100.0 %" and row["met"] is False
    assert cr.rate_text(3, 7, 30) == "3 of 7 (too few for a rate: n = 7 < 30)"
    assert cr.rate_text(3, 40, 30) == "3 of 40 (7.5 %)"


def test_decisions_filtered_by_period_and_api_key():
    names = ["collection-software", "qa-TEST-runner", "load-test", None, "collection-software"]
    a = _kpi_audit(5, 0, names)  # decided on March 2, 3, 4, 5, 6
    out, scope = cr.filter_decisions(a)  # default: key names containing "test" left out
    assert list(out["decision_id"]) == ["d0", "d3", "d4"]
    assert scope.excluded_keys == {"qa-TEST-runner": 1, "load-test": 1}
    assert scope.no_key_name == 1 and "3 of 5 decisions" in scope.describe()
    out, scope = cr.filter_decisions(a, since="2026-03-03", until="2026-03-06", exclude_keys=())
    assert list(out["decision_id"]) == ["d1", "d2", "d3"] and scope.out_of_period == 2
    out, _ = cr.filter_decisions(a, include_keys=["collection-*"])
    assert list(out["decision_id"]) == ["d0", "d4"]
    with pytest.raises(ValueError, match="empty"):
        cr.filter_decisions(a, since="2026-03-05", until="2026-03-05")
    with pytest.raises(ValueError, match="API key"):
        cr.filter_decisions(a.drop(columns="api_key"), include_keys=["x"])
    _, scope = cr.filter_decisions(a.drop(columns="api_key"))
    assert not scope.key_names_known and "no key filter applied" in scope.describe()


def test_disparities_have_a_limit_and_a_verdict():
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    s = np.array([0.9, 0.6, 0.1, 0.2, 0.4, 0.8, 0.7, 0.3])
    g = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    d = cr.disparities(y, s, {"grp": g}, 0.5, min_n=1).set_index("metric")
    # FPR 1/3 vs 1/2: a difference of 0.17 > 0.10
    assert d.loc["fpr", "criterion"] == "difference ≤ 0.10" and d.loc["fpr", "verdict"] == "exceeds"
    # flagged 2/4 vs 2/4: ratio 1
    assert d.loc["flagged_rate", "criterion"].startswith("ratio ≥ 0.80 (four-fifths")
    assert d.loc["flagged_rate", "verdict"] == "within"
    d = cr.disparities(y, s, {"grp": g}, 0.5, min_n=1, limits={"fpr": ("difference", 0.2)})
    d = d.set_index("metric")
    assert d.loc["fpr", "verdict"] == "within" and d.loc["fnr", "verdict"] == "not assessed"
    d = cr.disparities(y, s, {"grp": g}, 0.5, min_n=5)  # too few cases per group
    assert set(d["verdict"]) == {"not assessed"}
    d = cr.disparities(y, s, {"grp": g, "bucket": g}, 0.5, min_n=1, judged=("grp",))
    assert set(d.loc[d["grouping"] == "bucket", "verdict"]) == {"not assessed"}
    assert "exceeds" in set(d.loc[d["grouping"] == "grp", "verdict"])
    with pytest.raises(ValueError, match="ratio"):
        cr.disparity_verdict(0.1, 0.9, ("max", 0.1))


def _api_decisions(trained, tmp_path):
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
    frame = cr.with_key_names(kpis.read_audit_decisions(engine), engine)
    engine.dispose()
    return frame, settings


@pytest.fixture(scope="module")
def report(trained, tmp_path_factory):
    from support import SAMPLE_DIR

    tmp = tmp_path_factory.mktemp("report")
    audit, settings = _api_decisions(trained, tmp)
    from scoring.contract import load_tables

    tables = load_tables(SAMPLE_DIR)
    engine = kpis.audit_engine(settings)
    try:
        inp = cr.gather_inputs(
            "champion", SAMPLE_DIR, training_set=trained.ts, tables=tables, audit=audit,
            audit_engine=engine,
        )  # fmt: skip
    finally:
        engine.dispose()
    path = cr.build_report("champion", tmp / "report.html", inputs=inp)
    return path.read_text(encoding="utf-8"), inp, audit


def test_report_scope_filters_the_audit_trail(report, trained):
    from support import SAMPLE_DIR

    _, inp, audit = report
    assert set(inp.audit["api_key"]) == {"env-0"}  # the key name, read from the audit trail
    late = cr.gather_inputs(
        "champion",
        SAMPLE_DIR,
        training_set=trained.ts,
        tables=inp.tables,
        audit=audit.assign(api_key=["load-test"] * 5 + ["env-0"] * 35),
        since=audit["decided_at"].min(),
        min_n=5,
        disparity_limits={"fpr": ("difference", 0.5)},
    )
    assert len(late.audit) == 35 and late.scope.excluded_keys == {"load-test": 5}
    assert late.min_n == 5 and late.disparity_limits == {"fpr": ("difference", 0.5)}
    none = cr.gather_inputs(
        "champion", SAMPLE_DIR, training_set=trained.ts, tables=inp.tables, audit=audit,
        until=audit["decided_at"].min(),
    )  # fmt: skip
    assert none.audit.empty and none.scope.out_of_period == 40


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_report_has_every_section_and_is_self_contained(report):
    page, _, _ = report
    for sid in ("models", "metrics", "disparities", "reasons", "actions", "rules", "review"):
        assert f"<section id='{sid}'>" in page
    for sid in ("drift", "kpis", "promotions"):
        assert f"<section id='{sid}'>" in page
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
    review = cr.rate_text(flagged, 40, inp.min_n)
    assert f"40 audited decisions; flagged for human review: {review}" in text
    assert "40 of 40 decisions" in text  # the scope of the audit trail, in the header
    rem = cr.rule_removals(audit)
    assert len(rem) > 0  # real cases always lose some actions to the rules
    top = rem.iloc[0]
    assert (
        f"{top['rule']} {top['decisions']} {top['share']:.4f} {top['alone']} {top['main']}" in text
    )
    assert rem.set_index("rule")["share"].get("R1_sunday_holiday", 0) < 1
    reasons = cr.reason_code_distribution(inp.bundle, inp.evaluation)
    first = reasons[reasons["model"] == "default_risk"].iloc[0]
    assert f"{first['code']} {first['feature']} {first['cases']}" in text
    summary = cr.dataset_kpi_table(inp.tables, inp.kpi_config)
    r = summary[(summary["segment"] == "all") & (summary["kpi"] == "recovery_rate")].iloc[0]
    same = kpis.kpi_summary(inp.tables, inp.kpi_config).set_index(["segment", "kpi"])
    assert r["shown"] == same.loc[("all", "recovery_rate"), "shown"]
    assert f"all recovery_rate recovery rate {r['n']} {r['shown']} {r['target']}" in text
    # 10 decisions with an outcome: too few for a rate
    assert "all unpaid_rate unpaid rate 10 too few (n = 10 < 30)" in text
    assert "first version ever trained" in text
    # the review loop and the drift monitor, on the same audit trail
    assert inp.review is not None and inp.review["decisions"] == 40
    assert inp.review["flagged"] == flagged and inp.review["statuses"]["pending_review"] == flagged
    assert f"still waiting for a reviewer: {cr.rate_text(flagged, flagged, inp.min_n)}" in text
    assert "0 contests by debtors" in text
    for key in inp.bundle.risk_models:  # every served case went into the drift samples
        w = inp.drift["models"][key]["windows"]
        assert {d: v["n"] for d, v in w.items()} == {7: 40, 30: 40}
        assert {v["verdict"] for v in w.values()} == {"too_few"}  # < 200 cases
    assert "7 40" in text and "too_few" in text and "The windows end now" in text
    assert "assessed disparities exceed their limit" in text
    verdicts = disp["verdict"].tolist()
    assert set(verdicts) <= {"within", "exceeds", "not assessed"} and "within" in verdicts
    assert set(disp.loc[disp["grouping"] == "bucket", "verdict"]) == {"not assessed"}


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


# -- human review and drift, on a small audit trail written through the real APIs ------------


def _store(tmp_path):
    from scoring.audit import AuditStore

    return AuditStore(f"sqlite:///{tmp_path / 'audit.db'}", b"r" * 32)


def _decision_row(decided_at, review: bool, key: str = "collection-software") -> dict:
    import uuid

    return {
        "decision_id": str(uuid.uuid4()),
        "decided_at": decided_at,
        "as_of": decided_at,
        "debtor_hash": uuid.uuid4().hex * 2,
        "action": "formal_notice" if review else "email_reminder",
        "scheduled_at": None,
        "propensity": 0.5,
        "expected_value": 1.0,
        "requires_review": review,
        "model_versions": {"default_risk": "1"},
        "input": {"debtor": {"segment": "B2C", "department": "75"}, "open_invoices": []},
        "output": {"removed": []},
        "request_id": "r",
        "api_key": key,
    }


def _inputs(**kw) -> cr.ReportInputs:
    from types import SimpleNamespace

    base = dict(
        alias="champion",
        bundle=SimpleNamespace(risk_models={}, versions={}),
        evaluation=None,
        thresholds={},
        audit=pd.DataFrame(),
        tables=None,
        kpi_config=kpis.load_kpi_config(),
        generated_at="2026-03-02T09:00:00+00:00",
    )
    return cr.ReportInputs(**(base | kw))


def test_review_section_counts_the_review_loop_of_the_period(tmp_path):
    import datetime as dt

    from scoring.monitoring import load_monitoring_config
    from scoring.review import REJECT_REASONS, Replacement, ReviewBook

    store = _store(tmp_path)
    now = dt.datetime.now(dt.UTC)
    recent = now - dt.timedelta(hours=3)
    f1, f2, f3, f4 = (_decision_row(recent, True) for _ in range(4))
    n1, n2, n3 = (_decision_row(recent, False) for _ in range(3))
    old = _decision_row(now - dt.timedelta(days=40), True)  # before the period
    store.record_decisions([f1, f2, f3, f4, n1, n2, n3, old])
    book = ReviewBook(store)
    ids = {k: d["decision_id"] for k, d in dict(f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, old=old).items()}
    book.review(ids["f1"], "approve", "ana")
    book.review(ids["f2"], "reject", "ana", reason="vulnerable_debtor")
    book.review(ids["f3"], "replace", "ana", replacement=Replacement("letter", None))
    book.contest(ids["n1"], "crm", "I paid last week")
    book.review(ids["n1"], "reject", "ana", reason="contest_upheld")
    book.contest(ids["n2"], "crm", "not my debt")  # still open
    book.review(ids["old"], "reject", "ana", reason="data_incorrect")

    since = now - dt.timedelta(days=1)
    summary = cr.review_figures(store.engine, since)
    assert summary == ReviewBook(store).summary(since=since)
    # the report's key filter: only the decisions it keeps are counted
    kept = cr.review_figures(store.engine, since, None, {ids["f1"], ids["n1"]})
    assert kept["decisions"] == 2 and kept["contests"]["contests"] == 1
    assert summary["decisions"] == 7 and summary["flagged"] == 4
    scope = cr.AuditScope(since=pd.Timestamp(since), excluded_keys={"load-test": 2})
    cfg = load_monitoring_config()
    sec = cr.section_review(_inputs(review=summary, scope=scope, min_n=2, monitoring_config=cfg))
    assert sec.id == "review" and sec.title == "Human review and contests"
    text = _text(sec.body)
    assert "7 decisions taken in the period" in text
    assert "flagged for human review by the rules: 4 of 7 (57.1 %)" in text
    # f1-f4 flagged, n1 and n2 contested: 6 entered review; f4 and n2 wait
    assert "6 decisions entered review" in text
    assert "still waiting for a reviewer: 2 of 6 (33.3 %)" in text
    st = sec.data["statuses"].set_index("status")
    assert st["decisions"].to_dict() == {
        "approved": 1, "rejected": 2, "replaced": 1, "pending_review": 1, "contested": 1,
    }  # fmt: skip
    assert st.loc["rejected", "rate"] == "2 of 6 (33.3 %)"
    assert "approved approved by a reviewer (may be executed) 1 1 of 6 (16.7 %)" in text
    reasons = sec.data["reject_reasons"].set_index("code")
    assert reasons["rejections"].to_dict() == {"contest_upheld": 1, "vulnerable_debtor": 1}
    for code in ("vulnerable_debtor", "contest_upheld"):
        assert REJECT_REASONS[code] in text
    assert REJECT_REASONS["data_incorrect"] not in text  # decided before the period
    v = sec.data["verdicts"].set_index("verdict")["count"].to_dict()
    assert v == {"approve": 1, "reject": 2, "replace": 1}
    assert "2 contests by debtors" in text
    c = sec.data["contests"].set_index("ending")
    assert c.loc["decision_withdrawn", "rate"] == "1 of 2 (50.0 %)"
    assert c.loc["open", "contests"] == 1 and c.loc["decision_upheld", "contests"] == 0
    med, p90 = summary["wait_hours_median"], summary["wait_hours_p90"]
    assert 2.9 < med < 3.1  # decided 3 hours before the verdicts (n1: from its contest)
    assert f"median {med:.1f} h, 90th percentile {p90:.1f} h (n = 4 verdicts)" in text
    assert f"longer than {cfg.alerts.review_wait_hours:g} h" in text
    assert "without the keys left out: load-test (2)" in text
    assert "data-source='scoring.review.ReviewBook.summary'" in sec.body

    # the report's min_n: below it, no rate and no wait figure
    text = _text(cr.section_review(_inputs(review=summary, scope=scope)).body)
    assert "4 of 7 (too few for a rate: n = 7 < 30)" in text
    assert "too few (n = 4 < 30)" in text and "%" not in text
    # the period's end is excluded
    assert cr.review_figures(store.engine, until=recent)["decisions"] == 1
    store.close()


def _drift_profile(rng, n=4000):
    from scoring.models.drift import reference_profile

    M = rng.normal(size=(n, 7))
    p = rng.beta(2, 8, size=n)
    names = [f"f{j}" for j in range(7)]
    return M, p, reference_profile(M, names, p, "default_risk")


def test_drift_section_per_model_and_window(tmp_path):
    import datetime as dt
    from types import SimpleNamespace

    from scoring.models.drift import case_bins, psi_table
    from scoring.monitoring import load_monitoring_config

    rng = np.random.default_rng(0)
    _, _, prof = _drift_profile(rng)
    M, p, _ = _drift_profile(np.random.default_rng(1), n=400)
    M[:300, 0] += 1.5  # the last week's cases moved on f0 (and a little on f1)
    M[:300, 1] += 0.3
    bins = case_bins(prof, M, p)
    now = dt.datetime.now(dt.UTC)
    row = {"model": "default_risk", "profile_id": prof["id"]}
    store = _store(tmp_path)
    store.queue_drift(
        [
            {**row, "recorded_at": now - dt.timedelta(days=1), "n": 300, "bins": bins[:300].tolist()},
            {**row, "recorded_at": now - dt.timedelta(days=20), "n": 100, "bins": bins[300:].tolist()},
            {**row, "recorded_at": now - dt.timedelta(days=45), "n": 100, "bins": bins[300:].tolist()},
            {**row, "profile_id": "another-profile", "recorded_at": now, "n": 100,
             "bins": bins[300:].tolist()},
        ]
    )  # fmt: skip
    store.flush()
    models = {
        "default_risk": SimpleNamespace(info={"reference": prof}),
        "dispute_risk": SimpleNamespace(info={}),  # trained before the reference profiles
    }
    bundle = SimpleNamespace(risk_models=models, versions={"default_risk": 3, "dispute_risk": 2})
    cfg = load_monitoring_config()
    drift = cr.drift_figures(store.engine, bundle, cfg)
    w = drift["models"]["default_risk"]["windows"]
    assert (w[7]["n"], w[30]["n"]) == (300, 400)  # the 45-day-old sample and the other profile out
    assert w[7]["verdict"] == "alert"
    assert w[7]["max_psi"] == pytest.approx(psi_table(prof, bins[:300])[0]["psi"])

    sec = cr.section_drift(_inputs(bundle=bundle, drift=drift, monitoring_config=cfg))
    assert sec.id == "drift" and sec.title == "Drift since training"
    text = _text(sec.body)
    assert "The windows end now" in text and "they do not follow the report's period" in text
    th = cfg.drift
    assert f"PSI below {th.warn_psi:g} stable" in text and f"from {th.alert_psi:g} alert" in text
    assert f"fewer than {th.min_cases} cases" in text and f"(version {cfg.version})" in text
    assert "dispute_risk v2: trained without a reference profile: retrain to monitor drift" in text
    assert "default_risk v3: reference profile of 4000 training cases" in text
    win = sec.data["default_risk_windows"].set_index("window (days)")
    assert win.loc[7, "cases"] == 300 and win.loc[7, "verdict"] == "alert"
    assert win.loc[30, "cases"] == 400
    assert f"7 300 {w[7]['max_psi']:.4f}" in text
    feats = sec.data["default_risk_features"]
    week = feats[feats["window (days)"] == 7]
    assert list(week["rank"]) == [1, 2, 3, 4, 5]  # the 5 most drifted of 7 features
    assert list(week["feature"][:2]) == ["f0", "f1"]
    assert not feats["feature"].str.startswith("score:").any()  # the score has its column
    assert week["PSI"].is_monotonic_decreasing
    assert "data-source='scoring.monitoring.Monitor.drift'" in sec.body
    store.close()


def test_review_and_drift_sections_render_without_decisions(tmp_path):
    from types import SimpleNamespace

    from scoring.monitoring import load_monitoring_config

    _, _, prof = _drift_profile(np.random.default_rng(0), n=500)
    bundle = SimpleNamespace(
        risk_models={"default_risk": SimpleNamespace(info={"reference": prof})},
        versions={"default_risk": 1},
    )
    cfg = load_monitoring_config()
    # no audit trail at all
    assert cr.review_figures(None) is None
    drift = cr.drift_figures(None, bundle, cfg)
    sections = [
        cr.section_review(_inputs()),
        cr.section_drift(_inputs(bundle=bundle, drift=drift, monitoring_config=cfg)),
    ]
    assert "No review figures: no audit trail yet" in _text(sections[0].body)
    text = _text(sections[1].body)
    assert "7 0 – – too_few" in text and "no case scored in the last 30 days" in text
    # an audit trail without a decision
    store = _store(tmp_path)
    summary = cr.review_figures(store.engine, "2026-01-01", "2026-02-01")
    assert summary is not None and summary["decisions"] == 0
    drift = cr.drift_figures(store.engine, bundle, cfg)
    scope = cr.AuditScope(since=pd.Timestamp("2026-01-01", tz="UTC"))
    sections = [
        cr.section_review(_inputs(review=summary, scope=scope)),
        cr.section_drift(_inputs(bundle=bundle, drift=drift, monitoring_config=cfg)),
        cr.section_drift(_inputs(drift=cr.drift_figures(store.engine, None, cfg))),
    ]
    assert "No decision in the audit trail in the period (2026-01-01T00:00:00+00:00 to now" in (
        _text(sections[0].body)
    )
    assert "too_few" in _text(sections[1].body)
    assert "No risk model under this alias" in _text(sections[2].body)
    page = cr.render_html(sections, "t", {})
    assert "<section id='review'>" in page and "<section id='drift'>" in page
    store.close()
