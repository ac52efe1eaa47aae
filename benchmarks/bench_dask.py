"""Batch decisions in-process vs on a local Dask cluster of two workers (issue 6).

    python benchmarks/bench_dask.py --data data/synthetic/bench100k --cases 200000

Cases are taken at consecutive weekly instants (each instant decided as one batch, as
``scoring batch`` does) until ``--cases`` are reached; explanations included. Uses the models
registered under ``--alias`` in the current store. Writes benchmarks/results/dask.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from scoring import registry
from scoring.cases import build_cases, data_end
from scoring.contract import load_tables
from scoring.dask_engine import batch_on_dask, case_debtors, dask_client
from scoring.service import Bundle, batch_decisions

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/synthetic/bench100k")
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "dask.json"))
    args = ap.parse_args()
    registry.setup_mlflow()
    bundle = Bundle.from_registry(args.alias)
    tables = load_tables(args.data)
    end = data_end(tables)
    instants, n = [], 0
    while n < args.cases and len(instants) < 60:
        t = (end - pd.Timedelta(days=30 + 7 * len(instants)) + pd.Timedelta(hours=9)).tz_localize(
            "Europe/Paris"
        )
        instants.append(t)
        n += len(case_debtors(tables, t))
    t0 = time.perf_counter()
    local = [batch_decisions(bundle, build_cases(tables, t)) for t in instants]
    t_local = time.perf_counter() - t0
    t1 = time.perf_counter()
    with dask_client(n_workers=args.workers) as client:
        t_start = time.perf_counter() - t1
        dist = [batch_on_dask(tables, t, bundle, client) for t in instants]
    t_dask = time.perf_counter() - t1
    same = all(
        a.reset_index(drop=True).equals(b.reset_index(drop=True))
        for a, b in zip(local, dist, strict=True)
    )
    cases = sum(len(x) for x in local)
    res = {
        "data": args.data,
        "cases": cases,
        "instants": len(instants),
        "in_process_seconds": round(t_local, 1),
        "dask_local_cluster_seconds": round(t_dask, 1),
        "dask_cluster_start_seconds": round(t_start, 1),
        "dask_workers": args.workers,
        "identical_results": bool(same),
        "in_process_cases_per_second": round(cases / t_local),
        "dask_cases_per_second": round(cases / t_dask),
    }
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
