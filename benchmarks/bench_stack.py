"""The multi-replica deployment under load (issue 15 §1): the scenario of
``tests/integration/test_stack.py`` with bigger numbers.

    python benchmarks/bench_stack.py      # 2,000 debtors, 30 s of load, 8 clients, 3 kills

A throwaway PostgreSQL (or ``--pg-url``: two fresh databases are created on it), an
``mlflow server`` on it, ``scoring generate`` and two ``scoring train`` runs (versions 1, then
2 as challenger), two ``scoring serve`` replicas. Then ``--clients`` threads send ``/score``
and ``/next-action`` (alternately, each client alternating between the replicas) for at least
``--seconds``; meanwhile ``scoring promote --force`` moves ``champion`` to version 2 (the
moment each replica serves it is polled on ``/ready`` every 50 ms), then a replica is killed
with SIGKILL (a, b, a, ...) and restarted, ``--kills`` times. Afterwards every acknowledged
decision (2xx with a ``decision_id``) is looked up in the audit database, and
``scoring audit verify`` checks the chain.

A request is a *failure* when it gets a non-2xx answer, or no answer from a replica that was
up; requests to a replica between its kill and its restart (connection refused, or cut by the
kill) are counted apart (*unavailable*: a load balancer's health check takes such a replica
out). Writes ``benchmarks/results/stack.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

import stack as st

RESULTS = Path(__file__).parent / "results"


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--debtors", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", type=Path, help="an existing data set instead of generating one")
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--seconds", type=float, default=30.0, help="least duration of the load")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--promote-after", type=float, default=5.0, help="seconds into the load")
    p.add_argument("--kill-every", type=float, default=3.0, help="seconds of load between kills")
    p.add_argument("--reload-seconds", type=float, default=1.0)
    p.add_argument("--pg-url", default=os.environ.get("STACK_PG_URL"))
    p.add_argument("--out", type=Path, default=RESULTS / "stack.json")
    args = p.parse_args(argv)
    command = "python benchmarks/bench_stack.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    load_before = os.getloadavg()

    with contextlib.ExitStack() as es:
        pg_url = args.pg_url or es.enter_context(st.throwaway_postgres())
        tmp = Path(es.enter_context(tempfile.TemporaryDirectory(prefix="bench-stack-")))
        tag = secrets.token_hex(4)
        stack = es.enter_context(
            st.Stack(
                tmp / "stack",
                mlflow_backend=st.create_database(pg_url, f"bench_stack_mlflow_{tag}"),
                audit_url=st.create_database(pg_url, f"bench_stack_audit_{tag}"),
                audit_key=secrets.token_urlsafe(32),
                reload_seconds=args.reload_seconds,
            )
        )
        data = args.data
        if data is None:
            t = time.monotonic()
            data = tmp / "data"
            stack.scoring(
                "generate",
                "--out",
                str(data),
                "--debtors",
                str(args.debtors),
                "--seed",
                str(args.seed),
                "--no-progress",
            )
            stack.timings["generate"] = round(time.monotonic() - t, 2)
        cases = st.case_payloads(data, n=100)
        stack.start_mlflow()
        first = stack.train(data, args.trials)
        stack.timings["train_1"] = stack.timings.pop(f"train ({args.trials} trials)")
        for name in ("a", "b"):
            stack.start_replica(name)
        stack.wait_ready()
        second = stack.train(data, args.trials)
        stack.timings["train_2"] = stack.timings.pop(f"train ({args.trials} trials)")
        print(f"versions: first {first}, second {second}", flush=True)

        load = st.Load(
            list(stack.replicas.values()),
            stack.keys.scoring,
            cases,
            ("/score", "/next-action"),
            args.clients,
        )
        down: list[tuple[str, float, float]] = []  # replica, killed, ready again
        kills = []
        t0 = time.monotonic()
        load.start()
        time.sleep(args.promote_after)
        t_promote = time.monotonic()
        watch = stack.watch(second)
        promote_out = stack.promote(force=True, note="bench_stack")
        t_promoted = time.monotonic()
        watch.wait(timeout=120)
        print(promote_out, f"served {watch.delays()} s after the promotion", flush=True)
        for k in range(args.kills):
            victim = "ab"[k % 2]
            time.sleep(args.kill_every)
            t_kill = time.monotonic()
            stack.replicas[victim].process.kill9()
            time.sleep(1.0)  # a dead replica, the other one takes every answered request
            restart_s = stack.restart(victim)
            down.append((victim, t_kill, time.monotonic()))
            kills.append(
                {
                    "replica": victim,
                    "at_s": round(t_kill - t0, 2),
                    "restart_to_ready_s": round(restart_s, 2),
                }
            )
            print(f"killed {victim}, ready again {restart_s:.1f} s after the restart", flush=True)
        time.sleep(max(0.0, args.seconds - (time.monotonic() - t0)))
        calls = load.stop()
        wall = time.monotonic() - t0

        def while_down(c: st.Call) -> bool:
            end = c.start + c.ms / 1e3
            return any(c.replica == r and end >= tk and c.start <= tr for r, tk, tr in down)

        failed = [c for c in calls if not c.ok and not (c.status is None and while_down(c))]
        unavailable = [c for c in calls if not c.ok and c.status is None and while_down(c)]
        cut = [
            c
            for c in unavailable
            if any(c.replica == r and c.start < tk <= c.start + c.ms / 1e3 for r, tk, _ in down)
        ]
        acked = st.acknowledged(calls)
        ids = {c.decision_id for c in acked}
        lost = ids - st.stored_decisions(stack.audit_url, ids)
        mixed = [c for c in calls if c.ok and c.versions and len(set(c.versions.values())) > 1]
        verify = stack.audit_verify().strip()
        new = {k: str(v) for k, v in second.items()}
        first_new_answer = {
            n: min(
                (
                    c.start + c.ms / 1e3
                    for c in calls
                    if c.replica == n and c.ok and c.versions == {k: new[k] for k in c.versions}
                ),
                default=None,
            )
            for n in stack.replicas
        }

    result = {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "note": "2 cores shared with other work; figures vary with it",
        },
        "command": command,
        "params": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("pg_url", "out")
        },
        "timings_s": stack.timings,
        "versions": {"first": first, "second": second},
        "load": {
            "seconds": round(wall, 1),
            "clients": args.clients,
            "requests": len(calls),
            "answered_2xx": sum(c.ok for c in calls),
            "rps_2xx": round(sum(c.ok for c in calls) / wall, 1),
            "failures": len(failed),
            "failures_5xx": sum(c.status is not None and c.status >= 500 for c in calls),
            "failure_examples": [(c.replica, c.endpoint, c.status, c.error) for c in failed[:5]],
            "unavailable_while_down": len(unavailable),
            "cut_in_flight_by_a_kill": len(cut),
            "acknowledged_decisions": len(acked),
            "lost_decisions": len(lost),
            "per_replica": st.summarize(calls),
            "per_replica_before_promotion": st.summarize([c for c in calls if c.start < t_promote]),
        },
        "promotion": {
            "promote_command_s": round(t_promoted - t_promote, 2),
            "promotion_seen_in_registry_after_command_started_s": round(
                watch.promoted - t_promote, 2
            ),
            "moment_of_promotion_known_within_s": watch.resolution(),
            "reload_seconds": args.reload_seconds,
            "ready_shows_new_versions_after_promotion_s": watch.delays(),
            "first_answer_with_new_versions_after_promotion_s": {
                n: (round(t - watch.promoted, 2) if t is not None else None)
                for n, t in first_new_answer.items()
            },
            "mixed_version_answers": len(mixed),
            "mixed_version_examples": [c.versions for c in mixed[:3]],
            "output": promote_out.strip().splitlines(),
        },
        "kills": kills,
        "audit_verify": verify,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if not failed and not lost else 1


if __name__ == "__main__":
    sys.exit(main())
