"""HTTP serving benchmark: our API against ``mlflow models serve`` on the same models.

    python benchmarks/bench_api.py                  # trains into a temp home first
    python benchmarks/bench_api.py --home models    # uses the champion of an existing home

Loopback only. Each load run lasts ``--seconds`` (default 10). Measures, for one case:

* ``/score`` (both models with explanations) and ``/next-action``: throughput at concurrency
  8 and latency percentiles at concurrency 1, with one and two uvicorn workers;
* ``mlflow models serve -m models:/<prefix>-default-risk@champion --env-manager local``
  (prediction only, payload = the case's feature row in ``dataframe_split`` form);
* the in-process time of the models alone for that case (features + both TreeSHAP passes,
  and the policy).

The load generator is ``wrk`` when installed (``apt-get install wrk``), otherwise Python
threads with keep-alive ``httpx`` clients (which then share the CPU with the server).
Writes ``benchmarks/results/api.json`` and ``benchmarks/results/api.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
KEY = "bench-key-not-secret"
AS_OF = "2026-03-02T09:00:00+01:00"


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


@contextmanager
def server(cmd: list[str], env: dict[str, str], ready_url: str, log: Path):
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)  # fmt: skip
    try:
        wait_http(ready_url, proc=proc)
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------
# Load generators


def load_python(url: str, body: bytes, headers: dict, concurrency: int, seconds: float) -> dict:
    """Closed-loop load from threads, one keep-alive client each."""
    import httpx

    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop = threading.Event()

    def worker(i: int) -> None:
        with httpx.Client(timeout=30, headers=headers) as c:
            while not stop.is_set():
                t = time.perf_counter()
                r = c.post(url, content=body)
                lat[i].append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = np.array([x for li in lat for x in li]) * 1e3
    return {
        "tool": "python-httpx",
        "requests": int(all_lat.size),
        "errors": int(sum(errors)),
        "rps": all_lat.size / wall,
        "p50_ms": float(np.percentile(all_lat, 50)),
        "p90_ms": float(np.percentile(all_lat, 90)),
        "p99_ms": float(np.percentile(all_lat, 99)),
    }


_WRK_LUA = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
{headers}
done = function(summary, latency, requests)
  io.write(string.format("JSON {{\\"requests\\": %d, \\"errors\\": %d, \\"p50\\": %f, \\"p90\\": %f, \\"p99\\": %f, \\"seconds\\": %f}}\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), summary.duration / 1e6))
end
"""


def load_wrk(url: str, body: bytes, headers: dict, concurrency: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bf = Path(tmp) / "body.json"
        bf.write_bytes(body)
        hdr = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_LUA.format(body=bf, headers=hdr))
        out = subprocess.run(
            ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency),
             "-d", f"{seconds:.0f}s", "--timeout", "30s", "-s", str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    d = json.loads(line[5:])
    return {
        "tool": "wrk",
        "requests": d["requests"],
        "errors": d["errors"],
        "rps": d["requests"] / d["seconds"],
        "p50_ms": d["p50"] / 1e3,
        "p90_ms": d["p90"] / 1e3,
        "p99_ms": d["p99"] / 1e3,
    }


def load(url: str, body: bytes, headers: dict, concurrency: int, seconds: float) -> dict:
    headers = {"Content-Type": "application/json", **headers}
    if shutil.which("wrk"):
        return load_wrk(url, body, headers, concurrency, seconds)
    return load_python(url, body, headers, concurrency, seconds)


# --------------------------------------------------------------------------------------


def parallel_load(urls: list[str], body: bytes, headers: dict, concurrency: int, seconds: float):
    """``concurrency`` clients on each of ``urls`` at once: total rps, mean of the
    percentiles, each run."""
    out: list[dict] = [{} for _ in urls]

    def one(i: int) -> None:
        out[i] = load(urls[i], body, headers, concurrency, seconds)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = {
        "tool": out[0]["tool"],
        "requests": sum(r["requests"] for r in out),
        "errors": sum(r["errors"] for r in out),
        "rps": sum(r["rps"] for r in out),
        "clients_per_replica": concurrency,
    }
    for k in ("p50_ms", "p90_ms", "p99_ms"):
        total[k] = float(np.mean([r[k] for r in out]))
    total["each"] = out
    return total


def prepare_home(args) -> Path:
    if args.home:
        return Path(args.home).resolve()
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    data = ROOT / "data" / "synthetic" / "default"
    if not data.exists():
        data = ROOT / "data" / "synthetic" / "sample"
    print(f"training on {data} into {home} ...", flush=True)
    env = {**os.environ, "SCORING_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run(
        [sys.executable, "-m", "scoring.cli", "train", "--data", str(data),
         "--trials", str(args.trials), "--timeout", "60", "--no-progress"],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    return home


def payloads(home: Path) -> tuple[dict, dict, dict]:
    """One realistic case (JSON), its feature row for MLflow, and in-process timings."""
    os.environ["SCORING_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import pandas as pd

    from scoring import registry
    from scoring.api import responses
    from scoring.cases import Case, CaseSet, build_cases
    from scoring.contract import load_tables
    from scoring.features import feature_arrays, feature_matrix, features
    from scoring.service import Bundle, score_cases
    from scoring.settings import get_settings

    get_settings.cache_clear()
    registry.setup_mlflow()
    bundle = Bundle.from_registry("champion")
    data = ROOT / "data" / "synthetic" / "sample"
    cs = build_cases(load_tables(data), pd.Timestamp(AS_OF))
    # a case with some history and recent actions
    cases = cs.to_cases()
    case = max(cases[:200], key=lambda c: (len(c.recent_actions) > 0, len(c.open_invoices)))
    case_json = case.model_dump(mode="json")
    one = CaseSet.from_cases([Case.model_validate(case_json)])
    X = features(one)
    frame = registry.signature_frame(X)
    mlflow_body = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}

    def timed(fn, n=50) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e3

    s = score_cases(bundle, one, num_threads=1)
    arrays = feature_arrays(one)
    mats = {
        k: feature_matrix(arrays, m.feature_names, m.vocab) for k, m in bundle.risk_models.items()
    }
    validated = [Case.model_validate(case_json)]
    inproc = {
        "from_cases_ms": timed(lambda: CaseSet.from_cases([case])),
        "features_ms": timed(lambda: feature_arrays(one)),
        "both_models_treeshap_ms": timed(
            lambda: [
                m.predict_with_contributions(mats[k], num_threads=1)
                for k, m in bundle.risk_models.items()
            ]
        ),
        "default_model_predict_ms": timed(
            lambda: bundle.default_risk.predict_proba(mats["default_risk"], 1)
        ),
        "score_cases_ms": timed(lambda: score_cases(bundle, one, num_threads=1)),
        "policy_recommend_ms": timed(
            lambda: bundle.policy.recommend(one, s.X, num_threads=1).removed, 20
        ),
        # the whole /score and /next-action work of one case without HTTP and audit
        "score_response_ms": timed(lambda: responses.score(bundle, validated, None, 5, False)),
        "decide_response_ms": timed(
            lambda: responses.decide(bundle, validated, None, 5, False, True), 20
        ),
        "model_sizes": {k: m.info.get("trees") for k, m in bundle.risk_models.items()},
        "leaves": {k: m.info.get("leaves") for k, m in bundle.risk_models.items()},
    }
    return case_json, mlflow_body, inproc


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="SCORING_HOME with a champion (default: train into a temp one)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each load run")
    ap.add_argument("--trials", type=int, default=4, help="Optuna trials when training")
    ap.add_argument("--out", default=str(RESULTS / "api.json"))
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="audit trail in a throwaway PostgreSQL cluster (Debian's binaries) instead of SQLite",
    )
    args = ap.parse_args(argv)

    home = prepare_home(args)
    case, mlflow_body, inproc = payloads(home)
    print("in-process (ms):", json.dumps(inproc), flush=True)
    case_body = json.dumps(case).encode()
    logs = Path(tempfile.mkdtemp(prefix="bench-api-logs-"))
    audit = Path(tempfile.mkdtemp(prefix="bench-api-audit-"))
    stack = contextlib.ExitStack()
    audit_url = f"sqlite:///{audit / 'audit.db'}"
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_support import postgres_cluster

        audit_url = stack.enter_context(postgres_cluster(durable=True)).new_database()
    env = {
        **os.environ,
        "SCORING_HOME": str(home),
        "SCORING_API_KEYS": f"{hashlib.sha256(KEY.encode()).hexdigest()}:scoring",
        "SCORING_AUDIT_URL": audit_url,
        "SCORING_AUDIT_KEY": "bench-audit-key-0123456789abcdef",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # mlflow models serve execs `uvicorn`: the venv's bin must be on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    hdr = {"X-API-Key": KEY}
    results: dict = {"in_process": inproc, "runs": {}, "load_average_at_start": os.getloadavg(),
                     "audit_store": "postgresql" if args.postgres else "sqlite"}  # fmt: skip
    s = args.seconds

    # the validation floor: a bare endpoint validating the same body, answering a constant
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(Path(__file__).parent),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--no-access-log"]  # fmt: skip
    with server(cmd, env, f"{base}/docs", logs / "floor.log"):
        load(base + "/floor", case_body, hdr, 2, 2)
        r = load(base + "/floor", case_body, hdr, 1, s)
        results["runs"]["floor_c1"] = r
        print(f"validation floor c=1: {r}", flush=True)

    for workers in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "uvicorn", "scoring.api.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--log-level", "warning", "--no-access-log"]  # fmt: skip
        with server(cmd, env, f"{base}/ready", logs / f"api-{workers}.log"):
            for ep in ("/score", "/next-action"):
                load(base + ep, case_body, hdr, 2, 2)  # warm-up
                for c in (1, 8):
                    r = load(base + ep, case_body, hdr, c, s)
                    results["runs"][f"api{ep}_w{workers}_c{c}"] = r
                    print(f"api {ep} workers={workers} c={c}: {r}", flush=True)

    # two replicas (separate processes, one worker each) behind the same audit trail
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as replicas:
        for i, port in enumerate(ports):
            cmd = [sys.executable, "-m", "uvicorn", "scoring.api.app:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                   "--log-level", "warning", "--no-access-log"]  # fmt: skip
            replicas.enter_context(
                server(cmd, env, f"http://127.0.0.1:{port}/ready", logs / f"replica-{i}.log")
            )
        for ep in ("/score", "/next-action"):
            for c in (1, 8):
                runs = parallel_load(
                    [f"http://127.0.0.1:{p}{ep}" for p in ports], case_body, hdr, c, s
                )
                results["runs"][f"api{ep}_replicas_c{c}"] = runs
                print(f"api {ep} two replicas c={c} (total): {runs}", flush=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    from scoring.settings import Settings

    uri = Settings(home=home, mlflow_tracking_uri=None).tracking_uri()
    name = f"{Settings().model_prefix}-default-risk"
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow_bin, "models", "serve", "-m", f"models:/{name}@champion",
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    menv = {**env, "MLFLOW_TRACKING_URI": uri}
    with server(cmd, menv, f"{base}/ping", logs / "mlflow.log"):
        body = json.dumps(mlflow_body).encode()
        import httpx

        check = httpx.post(f"{base}/invocations", content=body,
                           headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
        if check.status_code != 200:
            raise RuntimeError(f"mlflow /invocations: {check.status_code} {check.text[:500]}")
        results["mlflow_prediction"] = check.json()
        load(f"{base}/invocations", body, {}, 2, 2)
        for c in (1, 8):
            r = load(f"{base}/invocations", body, {}, c, s)
            results["runs"][f"mlflow_c{c}"] = r
            print(f"mlflow c={c}: {r}", flush=True)

    stack.close()
    R = results["runs"]
    ml8 = R["mlflow_c8"]["rps"]
    base_ms = inproc["score_response_ms"] + R["floor_c1"]["p50_ms"]
    results["goals"] = {"score_floor_ms (in-process + validation floor)": base_ms}
    for tag in ("w1", "w2", "replicas"):
        results["goals"][f"score_p50_c1_ratio_to_floor_{tag} (goal <= 1.3)"] = (
            R[f"api/score_{tag}_c1"]["p50_ms"] / base_ms
        )
        results["goals"][f"score_rps_ratio_vs_mlflow_c8_{tag} (goal >= 10)"] = (
            R[f"api/score_{tag}_c8"]["rps"] / ml8
        )
    store = "postgresql" if args.postgres else "sqlite"
    results["goals"][f"next_action_p99_ms_c1 ({store} audit; goal < 30)"] = R[
        "api/next-action_w1_c1"
    ]["p99_ms"]
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_generator": R["mlflow_c1"]["tool"],
        "seconds_per_run": s,
        "load_average_at_end": os.getloadavg(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(summary(results))
    print(summary(results))
    return results


def summary(res: dict) -> str:
    R, ip = res["runs"], res["in_process"]
    lines = [
        "# API serving benchmark",
        "",
        f"One case per request, loopback, {res['machine']['cpus']} CPUs, load generator "
        f"`{res['machine']['load_generator']}`, {res['machine']['seconds_per_run']:.0f} s per run. "
        "Written by `benchmarks/bench_api.py`.",
        f"Load average of the machine when the runs ended: "
        f"{', '.join(f'{x:.1f}' for x in res['machine']['load_average_at_end'])} "
        "(other work shares these CPUs: compare ratios rather than absolute numbers).",
        "",
        "| server | endpoint | workers | rps at c=8 | p50 / p99 ms at c=1 |",
        "|---|---|---|---|---|",
    ]
    for ep in ("/score", "/next-action"):
        for w in ("w1", "w2", "replicas"):
            if f"api{ep}_{w}_c8" not in R:
                continue
            c8, c1 = R[f"api{ep}_{w}_c8"], R[f"api{ep}_{w}_c1"]
            label = {"w1": "1", "w2": "2", "replicas": "2 replicas x 1 (c per replica)"}[w]
            lines.append(
                f"| ours | `{ep}` | {label} | {c8['rps']:.0f} | {c1['p50_ms']:.1f} / {c1['p99_ms']:.1f} |"
            )
    if "floor_c1" in R:
        f1 = R["floor_c1"]
        lines.append(
            f"| bare FastAPI validating the same body | `/floor` | 1 | - | "
            f"{f1['p50_ms']:.1f} / {f1['p99_ms']:.1f} |"
        )
    m8, m1 = R["mlflow_c8"], R["mlflow_c1"]
    lines.append(
        f"| mlflow models serve | `/invocations` (default risk, predict only) | 1 | "
        f"{m8['rps']:.0f} | {m1['p50_ms']:.1f} / {m1['p99_ms']:.1f} |"
    )
    lines += ["", f"Goals (audit trail: {res.get('audit_store', 'sqlite')}):", ""]
    lines += [f"- {k}: **{v:.2f}**" for k, v in res["goals"].items()]
    lines += [
        "",
        "In-process time of one case (ms, `num_threads=1`):",
        "",
        f"- CaseSet.from_cases {ip['from_cases_ms']:.2f}, features {ip['features_ms']:.2f}, "
        f"both models with TreeSHAP {ip['both_models_treeshap_ms']:.2f} "
        f"(default model predict alone {ip['default_model_predict_ms']:.2f}), "
        f"score_cases total {ip['score_cases_ms']:.2f}",
        f"- policy recommend (with details) {ip['policy_recommend_ms']:.2f}",
        f"- the whole response without HTTP and audit: /score "
        f"{ip.get('score_response_ms', float('nan')):.2f}, /next-action "
        f"{ip.get('decide_response_ms', float('nan')):.2f}",
        f"- model sizes (trees): {ip['model_sizes']}, leaves: {ip['leaves']}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
