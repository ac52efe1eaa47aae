"""The operator's files in deploy/: Prometheus rules and configuration pass promtool, the
service's /metrics passes promtool's linter, every metric the rules and the Grafana dashboard
query is one the service exports.

``.ci/run`` installs Debian's ``prometheus`` package (promtool) and sets
``SCORING_REQUIRE_PROMTOOL=1``; elsewhere the promtool checks are skipped without it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("SCORING_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool not found (apt-get install prometheus)")
        pytest.skip("promtool not installed")
    return path


def _sample_metrics() -> str:
    from scoring.api.metrics import Metrics

    m = Metrics()
    m.observe_request("/score", "POST", 200, 0.004)
    m.count_decisions(["letter"], 1)
    m.count_review("approve")
    m.count_webhook("delivered")
    m.count_reload("failed")
    m.count_batch("/score", 2)
    m.count_unknown(["department"])
    m.set_models({"default_risk": "4", "policy": "2"}, True)
    m.set_gauge(
        "scoring_drift_psi",
        "PSI",
        {(("model", "default_risk"), ("feature", "x"), ("window", "7d")): 0.1},
    )
    m.set_gauge("scoring_drift_alert", "flag", {(("model", "default_risk"), ("window", "7d")): 0.0})
    m.set_gauge("scoring_alerts", "alerts", {(("kind", "review_waiting"),): 2.0})
    return m.render()


def test_rules_config_and_metrics_pass_promtool():
    tool = _promtool()
    for args in (["check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
                 ["check", "config", str(DEPLOY / "prometheus/prometheus.yml")]):  # fmt: skip
        r = subprocess.run([tool, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([tool, "check", "metrics"], input=_sample_metrics(), capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_and_dashboard_query_metrics_that_exist():
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", _sample_metrics(), re.M))
    names = {n for n, _ in exported}
    names |= {f"{n}_bucket" for n, kind in exported if kind == "histogram"}
    names |= {f"{n}_total" for n, kind in exported if kind == "counter"}
    rules = (DEPLOY / "prometheus/alerts.yml").read_text()
    dash = json.loads((DEPLOY / "grafana/scoring.json").read_text())
    queries = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = set(re.findall(r"\b(scoring_\w+)", rules + "\n".join(queries)))
    assert used and used <= names, used - names
