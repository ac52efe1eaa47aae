"""Risk-model training benchmark (issue 3): wall time, accuracy against the ground truth.

    python benchmarks/bench_train.py --data data/synthetic/bench100k --trials 30

Trains every model (risk models and policy) from the data set into a temporary MLflow store,
then, on a sample of test-period cases, compares each model's ROC AUC and Brier score with
those the true probabilities (from the synthetic world) reach on the same labels, overall and
by days-past-due bucket; reports the expected calibration error, model size and the
single-row TreeSHAP time. Writes benchmarks/results/train.json.
Goals: under 15 minutes on 2 cores; default AUC within 0.02 of the truth; ECE under 0.02.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/synthetic/bench100k")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=None, help="tuning budget per model, s")
    ap.add_argument("--truth-cases", type=int, default=3000)
    ap.add_argument("--out", default=str(RESULTS / "train.json"))
    args = ap.parse_args()

    home = tempfile.mkdtemp(prefix="bench-train-")
    os.environ["SCORING_HOME"] = home
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.models.metrics import binary_metrics
    from scoring.pipeline import train
    from scoring.synthetic import load_world

    t0 = time.perf_counter()
    res = train(args.data, trials=args.trials, timeout=args.timeout, progress=True)
    wall = time.perf_counter() - t0
    out: dict = {
        "data": args.data,
        "trials": args.trials,
        "train_wall_seconds": round(wall, 1),
        "goal_seconds": 900,
    }

    tables = load_tables(args.data)
    ts = build_training_set(tables, load_training_config(), progress=False)
    world = load_world(args.data)
    idx = ts.period("test")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(idx, min(args.truth_cases, len(idx)), replace=False))
    meta = ts.meta.iloc[idx].reset_index(drop=True)
    truth = []
    t1 = time.perf_counter()
    for as_of, g in meta.groupby("as_of"):
        tr = world.true_risk(g["debtor_id"].tolist(), pd.Timestamp(as_of)).set_index("debtor_id")
        truth.append(tr.loc[g["debtor_id"], ["p_default", "p_dispute"]].set_index(g.index))
    truth = pd.concat(truth).sort_index()
    out["truth_seconds"] = round(time.perf_counter() - t1, 1)
    out["truth_cases"] = len(idx)
    X = ts.X.iloc[idx]
    for key, model in res.models.items():
        label = model.label
        y = ts.labels[label].to_numpy()[idx]
        p = model.predict_proba(X)
        true_p = truth["p_default" if label == "default" else "p_dispute"].to_numpy()
        m = {"overall": {"model": binary_metrics(y, p), "truth": binary_metrics(y, true_p)}}
        for b in ["not_yet_due", "0-29", "30-59", "60+"]:
            mask = meta["bucket"].astype(str).to_numpy() == b
            if mask.sum() > 50 and 0 < y[mask].mean() < 1:
                m[b] = {
                    "model": binary_metrics(y[mask], p[mask]),
                    "truth": binary_metrics(y[mask], true_p[mask]),
                }
        for seg in ["B2B", "B2C"]:
            mask = meta["segment"].astype(str).to_numpy() == seg
            m[seg] = {
                "model": binary_metrics(y[mask], p[mask]),
                "truth": binary_metrics(y[mask], true_p[mask]),
            }
        summary = {
            g: {
                "auc_model": round(v["model"]["roc_auc"], 4),
                "auc_truth": round(v["truth"]["roc_auc"], 4),
                "auc_gap": round(v["truth"]["roc_auc"] - v["model"]["roc_auc"], 4),
                "brier_model": round(v["model"]["brier"], 4),
                "brier_truth": round(v["truth"]["brier"], 4),
                "ece_model": round(v["model"]["ece"], 4),
                "n": int(v["model"]["n"]),
            }
            for g, v in m.items()
        }
        row = X.iloc[[0]]
        model.predict_with_contributions(row, num_threads=1)
        reps = 300
        t2 = time.perf_counter()
        for _ in range(reps):
            model.predict_with_contributions(row, num_threads=1)
        shap_ms = (time.perf_counter() - t2) / reps * 1000
        out[key] = {
            "test_period_full": {
                k: res.metrics.get(f"{key}_test_{k}")
                for k in ("roc_auc", "pr_auc", "brier", "ece", "ks", "log_loss")
            },
            "vs_truth": summary,
            "trees": model.info["trees"],
            "leaves": model.info["leaves"],
            "max_depth": model.info["max_depth"],
            "single_row_treeshap_ms": round(shap_ms, 3),
        }
    out["policy_ope"] = {k: v for k, v in res.metrics.items() if k.startswith("ope_")}
    out["invoice_models"] = {
        k: v
        for k, v in res.metrics.items()
        if k.startswith("invoices_")
        and k.endswith(("test_roc_auc", "test_ece", "valid_log_loss", "max_gap", "rho_debtor"))
    }
    out["forecast_backtest"] = {
        k: v for k, v in res.metrics.items() if k.startswith("forecast_backtest_")
    }
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
