"""Cases and features for a whole portfolio at one instant (issue 2 benchmark).

    python benchmarks/bench_cases.py --data data/synthetic/bench100k

Goal: 100,000 debtors in under 30 s on 2 cores. Writes benchmarks/results/cases.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import pandas as pd

from scoring.cases import build_cases, data_end
from scoring.contract import load_tables
from scoring.features import features

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/synthetic/bench100k")
    ap.add_argument("--out", default=str(RESULTS / "cases.json"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    tables = load_tables(args.data)
    t_load = time.perf_counter() - t0
    as_of = (data_end(tables) - pd.Timedelta(days=120) + pd.Timedelta(hours=9)).tz_localize(
        "Europe/Paris"
    )
    t1 = time.perf_counter()
    cs = build_cases(tables, as_of)
    t_cases = time.perf_counter() - t1
    t2 = time.perf_counter()
    X = features(cs)
    t_features = time.perf_counter() - t2
    res = {
        "data": args.data,
        "debtors": len(tables["debtors"]),
        "invoices": len(tables["invoices"]),
        "actions": len(tables["actions"]),
        "as_of": str(as_of),
        "cases": len(cs),
        "features": X.shape[1],
        "load_validate_seconds": round(t_load, 2),
        "cases_seconds": round(t_cases, 2),
        "features_seconds": round(t_features, 2),
        "cases_plus_features_seconds": round(t_cases + t_features, 2),
        "goal_seconds": 30,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
    }
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
