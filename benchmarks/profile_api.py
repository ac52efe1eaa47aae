"""Where a request's time goes: py-spy samples every thread of one API worker under ``wrk``.

    pip install py-spy            # not a dependency of the project
    python benchmarks/profile_api.py --home models /score
    python benchmarks/profile_api.py --home models /next-action

Starts ``scoring.api.app`` (one uvicorn worker, SQLite audit trail in a temp folder) on the
champion of ``--home``, sends the benchmark's case (``bench_api.payloads``) at concurrency 1 for
``--seconds`` while ``py-spy record`` samples the server at 500 Hz, then prints the share of
samples of the functions that matter (inclusive). The raw stacks are kept in
``benchmarks/results/profile-<endpoint>.txt`` (not committed) for a flame graph.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_api as B  # noqa: E402

WATCH = (
    "post_score", "post_next_action", "score", "decide", "score_cases", "score_results",
    "Policy.recommend", "InvoiceModels.score", "_observe", "_audited", "AuditStore.record_decisions",
    "_BackgroundWriter._run", "AuditStore.record_score_calls", "AuditStore._write_drift",
    "FastAPI.__call__", "MicroBatcher.run",
)  # fmt: skip


def shares(raw: Path) -> tuple[int, Counter]:
    incl: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        total += int(n)
        for name in {f.split(" (")[0] for f in stack.split(";")}:
            incl[name] += int(n)
    return total, incl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("endpoint", nargs="?", default="/score")
    ap.add_argument("--home", default="models")
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy not found: pip install py-spy")
    home = Path(args.home).resolve()
    case, _, inproc = B.payloads(home)
    print("in-process (ms):", json.dumps(inproc))
    audit = tempfile.mkdtemp(prefix="profile-api-")
    env = {**os.environ, "SCORING_HOME": str(home),
           "SCORING_API_KEYS": f"{hashlib.sha256(B.KEY.encode()).hexdigest()}:scoring",
           "SCORING_AUDIT_URL": f"sqlite:///{audit}/audit.db",
           "SCORING_AUDIT_KEY": "bench-audit-key-0123456789abcdef",
           "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    port = B.free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "scoring.api.app:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
    body = json.dumps(case).encode()
    out = B.RESULTS / f"profile-{args.endpoint.strip('/')}.txt"
    with B.server(cmd, env, f"{base}/ready", Path(audit) / "server.log") as proc:
        B.load(base + args.endpoint, body, {"X-API-Key": B.KEY}, 1, 3)
        rec = subprocess.Popen(
            [spy, "record", "--pid", str(proc.pid), "--format", "raw", "-o", str(out),
             "--rate", "500", "--duration", str(int(args.seconds)), "--nonblocking"]
        )  # fmt: skip
        r = B.load(base + args.endpoint, body, {"X-API-Key": B.KEY}, 1, args.seconds)
        rec.wait()
    print(args.endpoint, r)
    total, incl = shares(out)
    for name in WATCH:
        if incl[name]:
            print(f"{100 * incl[name] / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
