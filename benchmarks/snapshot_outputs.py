"""Snapshot of everything the service decides and explains, to check that a refactoring
changes nothing (issue 12: "identical decisions and scores on the benchmark instants").

    python benchmarks/snapshot_outputs.py --out /tmp/before.parquet            # before
    python benchmarks/snapshot_outputs.py --out /tmp/after.parquet --compare /tmp/before.parquet

For the cases of ``--instants`` weekly instants of ``--data`` (the last one 30 days before the
end of the data), with the models under ``--alias``: the batch output (both languages,
exploration on: the draws are seeded by debtor and instant, so reproducible) and the full
``/next-action`` answer of every ``--api-every``-th case (scores, every SHAP contribution,
reasons, options, removed actions; the random ``decision_id`` left out), one JSON text per
case. ``--compare`` reports every column and case that differs (exact equality: the same
code path must give the same bits) and exits 1 if any.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from scoring import registry
from scoring.api import responses
from scoring.cases import build_cases, data_end
from scoring.contract import load_tables
from scoring.service import Bundle, batch_decisions


def snapshot(data: str, alias: str, instants: int, api_every: int) -> pd.DataFrame:
    registry.setup_mlflow()
    bundle = Bundle.from_registry(alias)
    tables = load_tables(data)
    end = data_end(tables)
    frames = []
    for k in range(instants):
        as_of = (end - pd.Timedelta(days=30 + 7 * k) + pd.Timedelta(hours=9)).tz_localize(
            "Europe/Paris"
        )
        cs = build_cases(tables, as_of)
        for lang in ("fr", "en"):
            out = batch_decisions(bundle, cs, lang=lang)
            out.insert(0, "lang", lang)
            out.insert(0, "instant", k)
            frames.append(out)
        api = cs.take(range(0, len(cs), api_every))
        answers = responses.decide(bundle, api.to_cases(), full_contributions=True)
        rows = []
        for a in answers:
            d = a.model_dump(mode="json", exclude={"decision_id"})
            rows.append(json.dumps(d, sort_keys=True))
        frames.append(
            pd.DataFrame(
                {
                    "instant": k,
                    "lang": "api",
                    "debtor_id": api.cases["debtor_id"].astype(str).to_numpy(),
                    "api_json": rows,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None else str(v))
    return out


def compare(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    problems = []
    if list(a.columns) != list(b.columns):
        problems.append(f"columns differ: {list(a.columns)} vs {list(b.columns)}")
    if len(a) != len(b):
        problems.append(f"rows differ: {len(a)} vs {len(b)}")
        return problems
    for c in a.columns:
        if c not in b:
            continue
        x, y = a[c], b[c]
        same = (x == y) | (x.isna() & y.isna())
        if not same.all():
            i = int((~same).to_numpy().argmax())
            problems.append(
                f"{c}: {int((~same).sum())} rows differ, first row {i}: {x.iloc[i]!r} vs "
                f"{y.iloc[i]!r}"[:600]
            )
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/synthetic/default")
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--instants", type=int, default=4)
    ap.add_argument("--api-every", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare", default=None, help="A previous snapshot to compare with.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    snap = snapshot(args.data, args.alias, args.instants, args.api_every)
    snap.to_parquet(args.out, index=False)
    n_api = int((snap["lang"] == "api").sum())
    print(
        f"wrote {args.out}: {len(snap) - n_api:,} batch rows, {n_api:,} API answers "
        f"in {time.perf_counter() - t0:.0f} s"
    )
    if args.compare:
        problems = compare(pd.read_parquet(args.compare), snap)
        if problems:
            print("DIFFERENT from " + args.compare + ":\n  " + "\n  ".join(problems))
            sys.exit(1)
        print(f"identical to {args.compare}")


if __name__ == "__main__":
    main()
