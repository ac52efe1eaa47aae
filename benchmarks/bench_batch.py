"""Batch decisions for a large portfolio (issue 4 §5): 100,000 cases, explanations included.

    python benchmarks/bench_batch.py --data data/synthetic/bench100k --cases 100000

Uses the models registered under ``--alias`` in the current store (``SCORING_HOME``, default
``models/``). Cases are taken at consecutive weekly instants until ``--cases`` are reached.
Goal: under 2 minutes on 2 cores. Writes benchmarks/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from scoring import registry
from scoring.cases import CaseSet, build_cases, data_end
from scoring.contract import load_tables
from scoring.service import Bundle, batch_decisions

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/synthetic/bench100k")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--out", default=str(RESULTS / "batch.json"))
    args = ap.parse_args()
    registry.setup_mlflow()
    bundle = Bundle.from_registry(args.alias)
    tables = load_tables(args.data)
    t0 = time.perf_counter()
    sets, n, k = [], 0, 0
    end = data_end(tables)
    while n < args.cases and k < 60:
        as_of = (end - pd.Timedelta(days=30 + 7 * k) + pd.Timedelta(hours=9)).tz_localize(
            "Europe/Paris"
        )
        cs = build_cases(tables, as_of)
        sets.append(cs)
        n += len(cs)
        k += 1
    cs = CaseSet.concat(sets)
    if len(cs) > args.cases:
        cs = cs.take(range(args.cases))
    t_cases = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = batch_decisions(bundle, cs)
    t_decide = time.perf_counter() - t1
    res = {
        "data": args.data,
        "cases": len(out),
        "instants": k,
        "build_cases_seconds": round(t_cases, 1),
        "decide_seconds_scores_shap_rules_policy_reasons": round(t_decide, 1),
        "total_seconds": round(t_cases + t_decide, 1),
        "goal_seconds": 120,
        "cases_per_second": round(len(out) / (t_cases + t_decide), 0),
        "action_mix": out["action"].value_counts(normalize=True).round(4).to_dict(),
        "requires_review": int(out["requires_review"].sum()),
    }
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
