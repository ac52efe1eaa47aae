"""Benchmark of the synthetic world generator: wall time, peak memory, rows, realism.

    python benchmarks/bench_generate.py --debtors 100000 --seed 1

Writes ``benchmarks/results/generate.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scoring.synthetic import generate, load_world
from scoring.synthetic.realism import realism_stats


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--debtors", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "generate.json"))
    ap.add_argument("--no-truth", action="store_true", help="skip the ground-truth timing")
    args = ap.parse_args(argv)

    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    world = generate(args.debtors, seed=args.seed, progress=True)
    t_gen = time.perf_counter() - t0
    rss_gen = _peak_rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = world.write(Path(tmp) / "world")
        t_write = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in path.iterdir()) / 2**20
        t0 = time.perf_counter()
        load_world(path)
        t_load = time.perf_counter() - t0

    tables = world.tables
    t0 = time.perf_counter()
    stats = realism_stats(tables)
    t_stats = time.perf_counter() - t0

    truth: dict = {}
    if not args.no_truth:
        inv = tables["invoices"]
        as_of = "2026-03-02T08:00:00Z"
        t = np.datetime64("2026-03-02")
        case = (
            (inv["issue_date"] < t)
            & (inv["paid_date"].isna() | (inv["paid_date"] >= t))
            & (inv["legal_date"].isna() | (inv["legal_date"] >= t))
            & (inv["due_date"] <= t + np.timedelta64(15, "D"))
        )
        ids = inv.loc[case, "debtor_id"].drop_duplicates().iloc[:200].tolist()
        t0 = time.perf_counter()
        risk = world.true_risk(ids, as_of, n_replicas=64)
        truth["true_risk_200_debtors_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        av = world.true_action_values(ids[:50], as_of, n_replicas=32)
        truth["true_action_values_50_debtors_s"] = round(time.perf_counter() - t0, 2)
        truth["mean_p_default"] = float(risk.loc[risk["has_case"], "p_default"].mean())
        truth["mean_p_dispute"] = float(risk.loc[risk["has_case"], "p_dispute"].mean())
        best = av[av["compliant"]].sort_values("expected_reward").groupby("debtor_id").tail(1)
        truth["best_action_mix"] = best["action"].value_counts(normalize=True).round(3).to_dict()

    result = {
        "command": "python benchmarks/bench_generate.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "debtors": args.debtors,
        "seed": args.seed,
        "window": [world.start.isoformat(), world.end.isoformat()],
        "generate_seconds": round(t_gen, 2),
        "write_seconds": round(t_write, 2),
        "load_world_seconds": round(t_load, 2),
        "realism_seconds": round(t_stats, 2),
        "peak_rss_mb_before": round(rss0, 1),
        "peak_rss_mb_after_generate": round(rss_gen, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "parquet_size_mb": round(size_mb, 2),
        "rows": {k: len(v) for k, v in tables.items()},
        "ground_truth": truth,
        "realism": stats,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpu_count": __import__("os").cpu_count(),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(
        f"generated {args.debtors:,} debtors in {t_gen:.1f} s "
        f"(peak RSS {result['peak_rss_mb_after_generate']:.0f} MiB); rows {result['rows']}"
    )
    print(f"write {t_write:.1f} s ({size_mb:.1f} MiB parquet), load_world {t_load:.1f} s")
    print(
        f"case default rate {stats['case_default_rate']:.3f}, dispute rate "
        f"{stats['case_dispute_rate']:.3f}, paid late {stats['share_paid_late_of_paid']:.3f}, "
        f"actions/debtor {stats['actions_per_debtor']:.1f}"
    )
    print(f"action mix {stats['action_mix']}")
    print(f"outcome mix {stats['outcome_mix']}")
    if truth:
        print(f"ground truth {truth}")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
