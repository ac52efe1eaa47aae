"""Model loading, readiness, hot swap under load, alias polling, and API key configuration."""

from __future__ import annotations

import dataclasses
import re
import stat
import threading
import time

import httpx
import pytest
from api_support import KEYS, headers, keys_env, running_server
from fastapi.testclient import TestClient

from scoring.api.app import create_app
from scoring.api.auth import KeyConfigError, hash_key
from scoring.api.schemas import EXAMPLE_CASE


def _missing_champion():
    raise RuntimeError("RESOURCE_DOES_NOT_EXIST: Registered model alias champion not found.")


def test_without_models_the_service_is_alive_but_not_ready(settings, bundle):
    state = {"ok": False}
    versions = {k: None for k in ("default_risk", "dispute_risk", "policy")}

    def loader():
        if not state["ok"]:
            _missing_champion()
        return bundle

    app = create_app(
        bundle_loader=loader,
        settings=settings,
        version_probe=lambda: dict(versions),
        reload_seconds=0.05,
    )
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/ready")
        assert r.status_code == 503
        assert "alias" in r.json()["detail"][0]["problem"]
        r = c.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
        assert r.status_code == 503 and "not ready" in r.json()["detail"][0]["problem"]
        assert (
            c.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring")).status_code == 503
        )
        assert c.get("/models", headers=headers("scoring")).json()["ready"] is False
        assert "scoring_ready 0" in c.get("/metrics").text
        r = c.post("/admin/reload", headers=headers("admin"))
        assert r.status_code == 503
        # a champion appears: the poller loads it
        state["ok"] = True
        versions.update(bundle.versions)
        deadline = time.time() + 10
        while c.get("/ready").status_code != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert c.get("/ready").json()["model_versions"] == bundle.model_versions()
        assert c.post("/score", json=EXAMPLE_CASE, headers=headers("scoring")).status_code == 200


def test_loads_the_champion_from_the_registry(mlflow_home, bundle, settings, tmp_path):
    from scoring import registry

    s = settings.model_copy(
        update={
            "home": mlflow_home,
            "mlflow_tracking_uri": None,
            "audit_url": f"sqlite:///{tmp_path / 'a.db'}",
        }
    )
    try:
        with TestClient(create_app(settings=s)) as c:
            r = c.get("/ready")
            assert r.status_code == 200, r.text
            assert r.json()["model_versions"] == bundle.model_versions()
            models = c.get("/models", headers=headers("compliance")).json()["models"]
            assert models["default_risk"]["name"] == "collections-default-risk"
            r = c.post("/admin/reload", headers=headers("admin"))
            assert r.status_code == 200 and r.json()["reloaded"] is False
        # (mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which Settings reads: clear it)
        empty = settings.model_copy(
            update={"home": tmp_path / "empty", "mlflow_tracking_uri": None}
        )
        with TestClient(create_app(settings=empty)) as c:
            r = c.get("/ready")
            assert r.status_code == 503
            assert "champion" in r.json()["detail"][0]["problem"]
    finally:
        registry.setup_mlflow()  # back to the session's store


def test_hot_swap_under_load_fails_no_request(bundle, settings):
    """Threads hammer /score while models are swapped: every request succeeds, each with one
    consistent set of versions."""
    other = dataclasses.replace(
        bundle, versions={k: (v or 0) + 100 for k, v in bundle.versions.items()}
    )
    flip = {"n": 0}

    def loader():
        flip["n"] += 1
        time.sleep(0.02)  # loading takes time; requests keep being served meanwhile
        return other if flip["n"] % 2 else bundle

    app = create_app(bundle=bundle, bundle_loader=loader, settings=settings)
    a, b = bundle.model_versions(), other.model_versions()
    seen: list[dict] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as h:
            while not stop.is_set():
                r = h.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    seen.append(r.json()["model_versions"])

    with running_server(app) as base:
        threads = [threading.Thread(target=hammer, args=(base,)) for _ in range(4)]
        for t in threads:
            t.start()
        with httpx.Client(base_url=base, timeout=30) as h:
            for _ in range(8):
                time.sleep(0.15)
                r = h.post("/admin/reload", headers=headers("admin"))
                assert r.status_code == 200, r.text
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert len(seen) >= 10
    assert all(v in (a, b) for v in seen)
    assert a in seen and b in seen


def test_poll_once_reloads_only_when_the_alias_moves(bundle, settings):
    from scoring.api.state import BundleHolder

    calls = {"n": 0}
    versions = dict(bundle.versions)

    def loader():
        calls["n"] += 1
        return dataclasses.replace(bundle, versions=dict(versions))

    h = BundleHolder(loader, "champion", probe=lambda: dict(versions))
    h.load_at_start()
    assert calls["n"] == 1
    assert h.poll_once() is False and calls["n"] == 1
    versions["default_risk"] = 999
    assert h.poll_once() is True and calls["n"] == 2
    assert h.current.versions["default_risk"] == 999

    def broken():
        raise ConnectionError("registry unreachable")

    h.probe = broken
    assert h.poll_once() is False and h.current is not None


# --------------------------------------------------------------------------------------
# API keys


def test_dev_keys_are_generated_once_and_work(bundle, settings, capfd):
    s = settings.model_copy(update={"api_keys": None})
    with TestClient(create_app(bundle=bundle, settings=s)) as c:
        err = capfd.readouterr().err
        keys = dict(re.findall(r"^\s+(scoring|reviewer|compliance|admin)\s+(sk-\S+)$", err, re.M))
        assert set(keys) == {"scoring", "reviewer", "compliance", "admin"}
        path = s.home / "api_keys.yaml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert all(k not in text and hash_key(k) in text for k in keys.values())
        r = c.post("/score", json=EXAMPLE_CASE, headers={"X-API-Key": keys["scoring"]})
        assert r.status_code == 200
        r = c.post("/score", json=EXAMPLE_CASE, headers={"X-API-Key": keys["compliance"]})
        assert r.status_code == 403
    with TestClient(create_app(bundle=bundle, settings=s)):
        assert "sk-" not in capfd.readouterr().err  # printed once only


def test_key_file_and_bad_configurations(bundle, settings, tmp_path):
    f = tmp_path / "keys.yaml"
    f.write_text(
        f"keys:\n  - name: crm\n    sha256: {hash_key('crm-key')}\n    roles: [scoring, compliance]\n"
    )
    s = settings.model_copy(update={"api_keys": None, "api_keys_file": f})
    with TestClient(create_app(bundle=bundle, settings=s)) as c:
        assert (
            c.post("/score", json=EXAMPLE_CASE, headers={"X-API-Key": "crm-key"}).status_code == 200
        )
        assert c.post("/admin/reload", headers={"X-API-Key": "crm-key"}).status_code == 403

    for bad, match in [
        ("keys: [{sha256: abc, roles: [scoring]}]", "64 hex"),
        (f"keys: [{{sha256: {hash_key('x')}, roles: [root]}}]", "roles must be"),
        ("[unclosed", "YAML"),
        ("nothing: here", "'keys' list"),
    ]:
        f.write_text(bad)
        with (
            pytest.raises(KeyConfigError, match=match),
            TestClient(create_app(bundle=bundle, settings=s)),
        ):
            pass
    missing = settings.model_copy(update={"api_keys": None, "api_keys_file": tmp_path / "no.yaml"})
    with (
        pytest.raises(KeyConfigError, match="does not exist"),
        TestClient(create_app(bundle=bundle, settings=missing)),
    ):
        pass
    env = settings.model_copy(update={"api_keys": keys_env() + ",nocolon"})
    with (
        pytest.raises(KeyConfigError, match=f"entry {len(KEYS)}"),
        TestClient(create_app(bundle=bundle, settings=env)),
    ):
        pass


def test_the_example_key_file_parses():
    from pathlib import Path

    import scoring
    from scoring.api.auth import parse_key_file

    path = Path(scoring.__file__).parent / "config" / "api_keys.example.yaml"
    keys = parse_key_file(path)
    assert {r for k in keys for r in k.roles} == {"scoring", "reviewer", "compliance", "admin"}


def test_importing_the_entry_point_loads_nothing(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    home = tmp_path / "home"
    code = (
        "import sys, serving.app as m; "
        "assert m.app.state.services.holder.current is None; "
        "assert m.app.state.services.audit is None; "
        "assert 'mlflow' not in sys.modules"
    )
    env = {**os.environ, "SCORING_HOME": str(home), "PYTHONPATH": str(root)}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, check=True)
    assert not home.exists()


def test_no_actions_log_trains_the_risk_models_only_and_serves_them(settings, tmp_path):
    """A data set without an actions log: `scoring train` trains and registers the two risk
    models, says the policy was not trained and why; the service serves /score and answers
    /next-action with 503 and the reason."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd
    from support import SAMPLE_DIR

    from scoring import registry
    from scoring.api.schemas import EXAMPLE_CASE

    data = tmp_path / "data"
    data.mkdir()
    for name in ("debtors", "invoices"):
        shutil.copy(SAMPLE_DIR / f"{name}.parquet", data / f"{name}.parquet")
    pd.read_parquet(SAMPLE_DIR / "actions.parquet").head(0).to_parquet(data / "actions.parquet")
    home = tmp_path / "home2"
    env = {**os.environ, "SCORING_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    res = subprocess.run(
        [str(Path(sys.executable).parent / "scoring"), "train", "--data", str(data),
         "--trials", "2", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "registered default_risk version 1" in res.stdout
    assert "policy" not in res.stdout.split("registered")[-1].split("\n")[0]
    assert "NOT trained: policy: the actions table is empty" in res.stderr
    s = settings.model_copy(update={"home": home, "mlflow_tracking_uri": None, "audit_url": None})
    try:
        with TestClient(create_app(settings=s)) as c:
            assert c.get("/ready").status_code == 200
            r = c.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
            assert r.status_code == 200, r.text
            r = c.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
            assert r.status_code == 503, r.text
            assert "no policy model" in r.json()["detail"][0]["problem"]
    finally:
        registry.setup_mlflow()


def test_no_default_in_the_history_serves_the_other_models(settings, tmp_path):
    """A portfolio where every invoice was paid (as in public accounts-receivable samples):
    `scoring train` trains the dispute model and the policy, says the default model was not
    trained and why, registers nothing for it; the service starts, /score answers the dispute
    probability with a null default probability and the reason, /ready and /models say what
    is missing, /next-action still decides."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd
    from support import SAMPLE_DIR

    from scoring import registry
    from scoring.api.schemas import EXAMPLE_CASE

    data = tmp_path / "data"
    data.mkdir()
    for name in ("debtors", "actions"):
        shutil.copy(SAMPLE_DIR / f"{name}.parquet", data / f"{name}.parquet")
    inv = pd.read_parquet(SAMPLE_DIR / "invoices.parquet")
    due = pd.to_datetime(inv["due_date"])
    paid = pd.to_datetime(inv["paid_date"])
    on_time = (due + pd.Timedelta(days=60)).dt.date  # never 90 days late
    inv["paid_date"] = [
        min(p.date(), o) if pd.notna(p) else o for p, o in zip(paid, on_time, strict=True)
    ]
    inv["legal_date"] = None
    inv.to_parquet(data / "invoices.parquet")
    import scoring

    # the small sample has few disputes in its test period: accept 3 of each class
    cfg = (Path(scoring.__file__).parent / "config" / "training.yaml").read_text()
    assert "min_positives: 10" in cfg
    (tmp_path / "training.yaml").write_text(cfg.replace("min_positives: 10", "min_positives: 3"))
    home = tmp_path / "home3"
    env = {**os.environ, "SCORING_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    res = subprocess.run(
        [str(Path(sys.executable).parent / "scoring"), "train", "--data", str(data),
         "--trials", "2", "--no-progress", "--config", str(tmp_path / "training.yaml")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "NOT trained: default_risk" in res.stderr
    assert "registered dispute_risk version 1" in res.stdout
    assert "default_risk version" not in res.stdout
    out = tmp_path / "batch.csv"
    res = subprocess.run(
        [str(Path(sys.executable).parent / "scoring"), "batch", "--data", str(data),
         "--as-of", "2026-06-15T09:00:00+02:00", "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "default_risk is not served: not trained on this data set" in res.stderr
    batch = pd.read_csv(out)
    assert len(batch) > 0 and batch["default_probability"].isna().all()
    assert batch["dispute_probability"].between(0, 1).all()
    assert batch["reasons"].str.contains("Risque de défaut : modèle non disponible").all()
    res = subprocess.run(
        [str(Path(sys.executable).parent / "scoring"), "report", "--out", str(tmp_path / "r.html")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    page = (tmp_path / "r.html").read_text()
    assert "default_risk is not served: not trained on this data set" in page
    s = settings.model_copy(update={"home": home, "mlflow_tracking_uri": None, "audit_url": None})
    try:
        with TestClient(create_app(settings=s)) as c:
            r = c.get("/ready")
            assert r.status_code == 200, r.text
            why = r.json()["unavailable"]["default_risk"]
            assert "not trained on this data set" in why and "single class" in why
            assert "policy" in r.json()["model_versions"]
            r = c.get("/models", headers=headers("scoring"))
            assert r.json()["models"]["default_risk"]["unavailable"] == why
            assert r.json()["models"]["dispute_risk"]["unavailable"] is None
            r = c.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["default_probability"] is None and body["risk_grade"] is None
            assert 0 <= body["dispute_probability"] <= 1
            assert set(body["explanations"]) == {"dispute_risk"}
            assert body["unavailable"] == {"default_risk": why}
            assert "default_risk" not in body["model_versions"]
            r = c.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
            assert r.status_code == 200, r.text
            assert r.json()["action"]
            d = c.get(f"/decisions/{r.json()['decision_id']}", headers=headers("compliance"))
            assert d.status_code == 200, d.text
    finally:
        registry.setup_mlflow()


def test_docs_work_offline(tiny_client):
    """/docs and /redoc load their scripts and styles from the app, not from a CDN."""
    import re

    for path in ("/docs", "/redoc"):
        page = tiny_client.get(path)
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
        assert assets, page.text[:300]
        for url in assets:
            assert url.startswith("/"), url  # no https://cdn...
            assert tiny_client.get(url).status_code == 200, url


def test_json_logs_carry_the_request_id(tiny_client, caplog):
    """Every line logged during a request carries its id; the access line names the path but
    never the query string (where a key sent by mistake would be)."""
    import json
    import logging

    from scoring.api.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="scoring.access"):
        r = tiny_client.get(
            "/models?api_key=secret-in-url",
            headers={"X-Request-ID": "req-42", **headers("scoring")},
        )
    assert r.headers["x-request-id"] == "req-42"
    lines = [
        json.loads(JsonFormatter().format(rec))
        for rec in caplog.records
        if rec.name == "scoring.access"
    ]
    line = next(x for x in lines if x["path"] == "/models")
    assert line["request_id"] == "req-42" and line["status"] == 200 and line["ms"] >= 0
    assert "secret-in-url" not in json.dumps(lines)
    assert len(tiny_client.get("/health").headers["x-request-id"]) == 32  # one is made up


def test_serve_log_configuration_is_valid():
    import logging.config

    from scoring.api.logs import log_config

    for fmt in ("json", "text"):
        logging.config.dictConfig(log_config("info", fmt))
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def test_metrics_add_up_across_workers(tmp_path):
    """With two worker processes every scrape, whichever worker answers, counts the requests
    of both (prometheus_client's multiprocess mode)."""
    import os
    import re
    import subprocess
    import sys
    import time

    import httpx
    from api_support import free_port, keys_env

    port = free_port()
    env = {**os.environ, "SCORING_HOME": str(tmp_path / "home"), "SCORING_API_KEYS": keys_env(),
           "SCORING_RELOAD_SECONDS": "0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoring", "serve", "--port", str(port), "--workers", "2",
         "--log-format", "json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("the service did not start")
        n = 40
        with httpx.Client(base_url=base) as c:  # new connections spread over the workers
            for _ in range(n):
                assert httpx.get(f"{base}/health", timeout=5).status_code == 200
            pat = re.compile(
                r'scoring_requests_total\{endpoint="/health",method="GET",status="200"\} (\S+)'
            )
            counts = set()
            for _ in range(6):
                text = httpx.get(f"{base}/metrics", timeout=5).text
                counts.add(float(pat.search(text).group(1)))
            assert c is not None
        assert len(counts) == 1 and counts.pop() >= n + 1, counts
        assert len(os.listdir(tmp_path / "prom")) >= 2  # one file set per worker
    finally:
        proc.terminate()
        proc.wait(20)
