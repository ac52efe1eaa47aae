"""The invoice models measured on several synthetic worlds, against their ground truth and on
held-out periods (issue 13).

For each world: builds the training set and trains the case models (``--trials`` Optuna
trials) and the invoice models exactly as ``scoring train`` does, then reports

* the payment-date model's calibration on the test period: predicted vs observed share of
  invoices (and of amount) paid by each week after as_of;
* case-level default and dispute ROC AUC, Brier and ECE on the test period of the three
  candidates (case model, invoice roll-up, blend), of the one chosen on the validation
  period, and of the true probabilities (``SyntheticWorld.true_risk``, Monte Carlo) on a
  sample of test cases, overall and per days-past-due bucket;
* the weekly cash forecast at every test instant (13 weeks) against what was paid, with the
  coverage of its 80 % and 95 % intervals, next to two baselines: each debtor's average
  delay (an invoice is paid on its due date + the debtor's mean days late) and the
  portfolio's ageing roll rates (weekly payment rate by days-past-due bucket, measured on the
  fit period).

    python benchmarks/bench_invoices.py --worlds default,billing_errors,strategic --debtors 8000

``default`` is the committed 20,000-debtor world of ``data/synthetic/default`` when present
(else generated); the others are generated with ``--debtors`` debtors. Writes
``benchmarks/results/invoices.json`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.contract import DPD_BUCKETS
from scoring.invoices.features import invoice_matrix
from scoring.invoices.forecast import cash_forecast, realized_cash
from scoring.invoices.train import arrays_of_frame, invoice_outcomes, train_invoice_models
from scoring.models.config import load_training_config
from scoring.models.dataset import build_training_set
from scoring.models.metrics import binary_metrics
from scoring.models.tuning import Periods, tune_and_fit

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
WEEKS = 13
AGE_EDGES = (-np.inf, 0, 30, 60, 90, np.inf)  # not yet due, 1-30, 31-60, 61-90, 90+


def load_world(name: str, debtors: int, seed: int):
    from scoring.synthetic import generate
    from scoring.synthetic.world import load_world as load

    if name == "default" and (ROOT / "data/synthetic/default/world.json").exists():
        return load(ROOT / "data/synthetic/default")
    return generate(debtors, seed=seed, scenario=None if name == "default" else name,
                    progress=False)  # fmt: skip


def roll_rate_table(M, out, rows: np.ndarray) -> np.ndarray:
    """Weekly payment rate by ageing bucket of the days past due at the start of the week,
    from the invoice-weeks of ``rows`` (the fit period)."""
    dpd = M.column("inv_days_past_due")[rows]
    pay = out.pay_days[rows]
    paid = np.zeros(len(AGE_EDGES) - 1)
    risk = np.zeros(len(AGE_EDGES) - 1)
    for k in range(15):
        alive = np.isnan(pay) | (pay >= 7 * k)
        b = np.digitize(dpd + 7 * k, AGE_EDGES[1:-1], right=True)
        np.add.at(risk, b[alive], 1)
        np.add.at(paid, b[alive], ((pay >= 7 * k) & (pay < 7 * k + 7))[alive])
    return paid / np.maximum(risk, 1)


def baselines(cs, M, rates: np.ndarray, portfolio_late: float) -> dict[str, np.ndarray]:
    """Expected weekly cash of the book under the two baselines."""
    amount, dpd = M.amount, M.column("inv_days_past_due")
    late = np.asarray(cs.column("cases", "mean_days_late"), dtype=float)[M.case]
    late = np.where(np.isnan(late), portfolio_late, late)
    # 1. each debtor's average delay: paid on due + mean days late (or this week if past)
    pay_day = np.maximum(late - dpd, 0.0)
    week = np.floor(pay_day / 7).astype(int)
    ok = week < WEEKS
    avg = np.bincount(week[ok], weights=amount[ok], minlength=WEEKS)[:WEEKS]
    # 2. ageing roll rates: weekly payment rate of the bucket the invoice is in that week
    alive = np.ones(len(amount))
    roll = np.zeros(WEEKS)
    for k in range(WEEKS):
        b = np.digitize(dpd + 7 * k, AGE_EDGES[1:-1], right=True)
        h = rates[b]
        roll[k] = float((alive * h * amount).sum())
        alive = alive * (1 - h)
    return {"debtor_average_delay": avg, "ageing_roll_rates": roll}


def truth_metrics(world, ts, chosen: dict, cands: dict, n_cases: int, replicas: int, seed: int):
    """AUC, Brier, ECE against the realised labels of a sample of test cases, for the
    candidates and the true probabilities; by days-past-due bucket too."""
    rng = np.random.default_rng(seed)
    test = ts.period("test")
    inst = np.array(sorted(ts.meta["as_of"].to_numpy()[test]))
    pick = np.unique(inst)[[0, len(np.unique(inst)) // 2]]
    rows = []
    for t in pick:
        idx = test[ts.meta["as_of"].to_numpy()[test] == t]
        idx = np.sort(rng.choice(idx, min(n_cases // 2, len(idx)), replace=False))
        ids = ts.meta["debtor_id"].to_numpy()[idx].tolist()
        tr = world.true_risk(ids, pd.Timestamp(t), n_replicas=replicas)
        rows.append((idx, tr))
    idx = np.concatenate([r[0] for r in rows])
    truth = pd.concat([r[1] for r in rows], ignore_index=True)
    bucket = ts.meta["bucket"].astype(str).to_numpy()[idx]
    out = {}
    for label, tcol in (("default", "p_default"), ("dispute", "p_dispute")):
        y = ts.labels[label].to_numpy()[idx]
        probs = {k: v[idx] for k, v in cands[label].items()}
        probs["truth"] = truth[tcol].to_numpy()
        res = {}
        for name, p in probs.items():
            m = binary_metrics(y, p)
            res[name] = {k: round(m[k], 4) for k in ("roc_auc", "brier", "ece")}
            for b in DPD_BUCKETS:
                sel = bucket == b
                if sel.sum() > 30 and 0 < y[sel].sum() < sel.sum():
                    res[name][f"auc_{b}"] = round(binary_metrics(y[sel], p[sel])["roc_auc"], 4)
        res["chosen"] = chosen.get(label, "case")
        res["n"] = int(len(y))
        out[label] = res
    return out


def measure(name: str, args) -> dict:
    t0 = time.perf_counter()
    world = load_world(name, args.debtors, args.seed)
    tables = world.tables
    config = load_training_config()
    ts = build_training_set(tables, config, progress=False)
    case_models = {}
    for key, spec in config.models.items():
        case_models[key] = tune_and_fit(
            key, spec.label, Periods.of(ts, spec.label), config=config, monotone=spec.monotone,
            trials=args.trials, progress=False,
        ).model  # fmt: skip
    t1 = time.perf_counter()
    res = train_invoice_models(ts, tables, config, case_models, progress=False)
    t_inv = time.perf_counter() - t1
    models = res.models
    # the case candidates on every case (for the truth comparison)
    arrays = arrays_of_frame(ts.X)
    M = invoice_matrix(ts.cases, arrays)
    s = models.score(M)
    cands: dict[str, dict[str, np.ndarray]] = {}
    for label, key in (("default", "default_risk"), ("dispute", "dispute_risk")):
        p_case = case_models[key].predict_proba(ts.X)
        c = {"case": p_case}
        if label in models.case_calibrators:
            c["invoices"] = s.case_default if label == "default" else s.case_dispute
            if label in models.blends:
                c["blend"] = models.blends[label](p_case, c["invoices"])
        cands[label] = c
    truth = truth_metrics(world, ts, models.selection, cands, args.cases, args.replicas, args.seed)

    # cash forecast at every test instant vs the baselines
    out = invoice_outcomes(ts.cases, tables)
    period = ts.meta["period"].astype(str).to_numpy()[M.case]
    rates = roll_rate_table(M, out, np.flatnonzero(period == "train"))
    fit_cases = ts.period("train")
    portfolio_late = float(
        np.nanmean(ts.cases.cases["mean_days_late"].to_numpy(dtype=float)[fit_cases])
    )
    test_instants = sorted(pd.unique(ts.meta.loc[ts.meta["period"] == "test", "as_of"]))
    fc_rows = []
    end = tables["invoices"]["paid_date"].max()
    for t in test_instants:
        t = pd.Timestamp(t)
        if t.tz_convert(None) + pd.Timedelta(days=7 * WEEKS) > end:
            continue
        fc = cash_forecast(models, tables, t, WEEKS, config.invoices.simulations, args.seed)
        real = realized_cash(fc.invoices, tables, t, WEEKS)
        w = fc.weekly[fc.weekly["segment"] == "all"]
        from scoring.cases import build_cases

        cs = build_cases(tables, t)
        Mt = invoice_matrix(cs)
        base = baselines(cs, Mt, rates, portfolio_late)
        row = {"as_of": str(t.date()), "realized": float(real.sum())}
        for nm, pred in {"model": w["expected"].to_numpy(), **base}.items():
            row[f"wape_{nm}"] = float(np.abs(pred - real).sum() / real.sum())
        row["in80"] = float(((real >= w["p10"]) & (real <= w["p90"])).mean())
        row["in95"] = float(((real >= w["p2_5"]) & (real <= w["p97_5"])).mean())
        fc_rows.append(row)
    fc_df = pd.DataFrame(fc_rows)
    curve = res.calibration
    return {
        "world": name,
        "debtors": int(tables["debtors"].shape[0]),
        "seconds_total": round(time.perf_counter() - t0, 1),
        "seconds_invoice_models": round(t_inv, 1),
        "selection": models.selection,
        "rho_debtor": round(models.rho, 4),
        "rho_common": round(float(models.info.get("rho_common", 0)), 4),
        "payment_curve": curve.round(4).to_dict(orient="records"),
        "payment_max_gap": round(float((curve["predicted"] - curve["observed"]).abs().max()), 4),
        "payment_max_gap_amount": round(
            float((curve["predicted_amount"] - curve["observed_amount"]).abs().max()), 4
        ),
        "dispute_invoice_test_auc": round(
            res.metrics.get("invoices_dispute_invoice_test_roc_auc", float("nan")), 4
        ),
        "case_test": {
            k: round(v, 4)
            for k, v in res.metrics.items()
            if k.endswith(("_test_roc_auc", "_test_ece", "_test_brier"))
            and k.startswith("invoices_")
        },  # fmt: skip
        "truth_sample": truth,
        "forecast": {
            "instants": len(fc_df),
            "wape_model": round(float(fc_df["wape_model"].mean()), 4),
            "wape_debtor_average_delay": round(float(fc_df["wape_debtor_average_delay"].mean()), 4),
            "wape_ageing_roll_rates": round(float(fc_df["wape_ageing_roll_rates"].mean()), 4),
            "coverage_80": round(float(fc_df["in80"].mean()), 4),
            "coverage_95": round(float(fc_df["in95"].mean()), 4),
            "per_instant": fc_df.round(4).to_dict(orient="records"),
        },
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| world | chosen (default / dispute) | default AUC case / inv / blend / truth | dispute AUC case / inv / blend / truth | ECE chosen (def / disp) | paid-by-week max gap | cash WAPE model / avg delay / roll rates | coverage 80 / 95 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r["truth_sample"]

        def aucs(label: str, t: dict = t) -> str:
            d = t[label]
            return " / ".join(
                f"{d[k]['roc_auc']:.3f}" if k in d else "-"
                for k in ("case", "invoices", "blend", "truth")
            )

        ece = " / ".join(f"{t[lb][t[lb]['chosen']]['ece']:.4f}" for lb in ("default", "dispute"))
        f = r["forecast"]
        lines.append(
            f"| {r['world']} | {r['selection'].get('default', '-')} / {r['selection'].get('dispute', '-')} "
            f"| {aucs('default')} | {aucs('dispute')} | {ece} | {r['payment_max_gap']:.3f} "
            f"| {f['wape_model']:.3f} / {f['wape_debtor_average_delay']:.3f} / {f['wape_ageing_roll_rates']:.3f} "
            f"| {f['coverage_80']:.2f} / {f['coverage_95']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", default="default,billing_errors,strategic")
    ap.add_argument("--debtors", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--cases", type=int, default=1200, help="test cases valued by Monte Carlo")
    ap.add_argument("--replicas", type=int, default=48)
    ap.add_argument("--out", default=str(RESULTS / "invoices.json"))
    args = ap.parse_args()
    results = []
    for name in args.worlds.split(","):
        r = measure(name.strip(), args)
        results.append(r)
        print(
            json.dumps(
                {k: r[k] for k in ("world", "selection", "payment_max_gap", "forecast")},
                default=str,
            )[:600],
            flush=True,
        )
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps({"args": vars(args), "results": results}, indent=1, default=str)
        )
    print(markdown(results))


if __name__ == "__main__":
    main()
