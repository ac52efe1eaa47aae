"""Policy quality against the ground truth of several scenario worlds (issue 10).

For each scenario world (``--scenario all`` or a comma-separated list; see docs/scenarios.md):

1. generate the world (the escalation ladder's log), build the logged decisions and keep those
   before the test period (the last ~14 % of the history, as ``scoring train`` does);
2. fit the policy as ``scoring train`` does (``Policy().fit``: every learner fitted on the
   earlier history, the choice made by off-policy validation on the later history), and fit
   each candidate learner on its own;
3. at one instant of the test period, for a sample of cases, compute the truth: every
   (action, slot) on an hourly grid of the next 7 days on two independent replica sets (the
   cross-fitted oracle: best compliant choice made on one set, valued on the other), the
   ladder's choice, always-wait;
4. value each learner's greedy decisions (each as fitted for the selection) (at their exact 30-minute slot) with
   ``true_values_of`` on the same replicas (common random numbers), with and without the
   per-debtor timing, and the chosen learner as the penalty varies from 0 to 800 EUR.

Reports per world and learner: the share of the ladder-to-best gap captured (with its standard
error), disputes + complaints per case, rule violations (the world's own compliance check),
the learner the selection picked and its off-policy estimate next to its true value.

    python benchmarks/bench_policy.py --scenario all --debtors 6000 --cases 600

Writes ``benchmarks/results/policy_scenarios.json``, ``policy_scenarios.md`` and
``policy_tradeoff.png``. Long: about 5 minutes per world on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.cases import build_cases, data_end
from scoring.contract import validate_tables
from scoring.features import features
from scoring.policy.config import load_policy_config
from scoring.policy.history import logged_decisions
from scoring.policy.learners import LEARNERS
from scoring.policy.recommend import Policy
from scoring.synthetic import generate
from scoring.synthetic.scenarios import SCENARIOS

RESULTS = Path(__file__).resolve().parent / "results"
ORACLE_HOURS = [9, 10, 11, 12, 14, 15, 16, 17, 18, 19]
PENALTIES = [0.0, 50.0, 200.0, 800.0]


def _ratio_se(num: np.ndarray, den: np.ndarray) -> float | None:
    """Standard error of mean(num) / mean(den) over paired cases (delta method)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 or b.mean() <= 0:
        return None
    r = a.mean() / b.mean()
    return float(np.std(a - r * b, ddof=1) / np.sqrt(len(a)) / b.mean())


def crossfit_oracle(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per debtor: the best compliant (action, slot) chosen on one replica set and valued on the
    other, both ways averaged (no winner's curse). Columns ``value``, ``harm``, ``action``."""
    key = ["debtor_id", "action", "scheduled_at"]
    b = b.set_index(a.index)
    ok = (a["has_case"] & a["compliant"]).to_numpy()
    ca, cb = a[ok], b[ok]
    ia = ca.groupby("debtor_id")["expected_reward"].idxmax()
    ib = cb.groupby("debtor_id")["expected_reward"].idxmax().reindex(ia.index)
    out = pd.DataFrame(
        {
            "value": (
                b.loc[ia, "expected_reward"].to_numpy() + a.loc[ib, "expected_reward"].to_numpy()
            )
            / 2,
            "harm": (
                b.loc[ia, "p_dispute_or_complaint"].to_numpy()
                + a.loc[ib, "p_dispute_or_complaint"].to_numpy()
            )
            / 2,
            "action": a.loc[ia, "action"].to_numpy(),
        },
        index=ia.index,
    )
    del key
    return out


def evaluate_world(name: str, args) -> dict:
    t0 = time.perf_counter()
    world = generate(args.debtors, seed=args.seed, scenario=name, progress=False)
    tables, problems = validate_tables(world.tables)
    if problems:
        raise SystemExit(f"{name}: the generated tables break the contract: {problems[:3]}")
    cfg = load_policy_config()
    d = logged_decisions(tables, cfg)
    t = pd.to_datetime(d.log["decided_at"], utc=True)
    test_from = t.quantile(0.86)
    train_d, _ = d.split_at(test_from)
    out: dict = {"scenario": name, "debtors": args.debtors, "train_decisions": len(train_d)}
    out["epsilon"] = world.params.epsilon

    t1 = time.perf_counter()
    # as `scoring train` chooses, without the final refit so that every learner is compared as
    # fitted for the selection (on the earlier 75 % of the training history)
    auto = Policy(cfg, refit=False).fit(train_d)
    out["fit_auto_seconds"] = time.perf_counter() - t1
    out["chosen"] = auto.info["learner"]
    out["selection"] = auto.selection_.drop(columns=["fit_seconds"]).to_dict(orient="records")
    policies = dict(auto.selection_fitted_)

    end = data_end(tables)
    as_of = (end - pd.Timedelta(days=args.days_before_end) + pd.Timedelta(hours=8)).tz_localize(
        "Europe/Paris"
    )
    cs_all = build_cases(tables, as_of)
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(cs_all), min(args.cases, len(cs_all)), replace=False))
    cs = cs_all.take(pick)
    X = features(cs)
    ids = cs.cases["debtor_id"].astype(str).tolist()
    R = args.replicas
    t2 = time.perf_counter()
    ta = world.true_action_values(ids, as_of, n_replicas=R, hours=ORACLE_HOURS)
    tb = world.true_action_values(ids, as_of, n_replicas=R, first_replica=R + 1, hours=ORACLE_HOURS)
    oracle = crossfit_oracle(ta, tb)
    out["truth_seconds"] = time.perf_counter() - t2

    def truth_of(dec: pd.DataFrame) -> pd.DataFrame:
        v = world.true_values_of(
            dec[["debtor_id", "action", "scheduled_at"]], as_of, n_replicas=2 * R
        )
        return v.set_index("debtor_id")

    ladder = truth_of(world.ladder_action(ids, as_of))
    wait = truth_of(pd.DataFrame({"debtor_id": ids, "action": "wait", "scheduled_at": pd.NaT}))
    common = oracle.index.intersection(ladder.index[ladder["has_case"].to_numpy()])
    lad_v = ladder.loc[common, "expected_reward"].to_numpy()
    gap = oracle.loc[common, "value"].to_numpy() - lad_v
    out.update(
        {
            "as_of": str(as_of),
            "cases": len(common),
            "value_per_case": {
                "ladder": float(lad_v.mean()),
                "always_wait": float(wait.loc[common, "expected_reward"].mean()),
                "oracle_crossfit": float(oracle.loc[common, "value"].mean()),
            },
            "harm_per_case": {
                "ladder": float(ladder.loc[common, "p_dispute_or_complaint"].mean()),
                "always_wait": float(wait.loc[common, "p_dispute_or_complaint"].mean()),
                "oracle_crossfit": float(oracle.loc[common, "harm"].mean()),
            },
            "oracle_mix": oracle.loc[common, "action"]
            .value_counts(normalize=True)
            .round(3)
            .to_dict(),
        }
    )

    def score(policy: Policy, label: str) -> dict:
        dec = policy.recommend(cs, X, explore=False).decisions
        v = truth_of(dec).loc[common]
        val = v["expected_reward"].to_numpy()
        return {
            "label": label,
            "value": float(val.mean()),
            "gap_captured": float((val - lad_v).mean() / gap.mean()) if gap.mean() > 0 else None,
            "gap_captured_se": _ratio_se(val - lad_v, gap),
            "harm": float(v["p_dispute_or_complaint"].mean()),
            "violations": int((~v["compliant"].astype(bool)).sum()),
            "violation_examples": v[~v["compliant"].astype(bool)]
            .reset_index()[["debtor_id", "action", "scheduled_at"]]
            .head(5)
            .astype(str)
            .to_dict(orient="records"),
            "mix": v["action"].value_counts(normalize=True).round(3).to_dict(),
        }

    learners = {}
    for ln, p in policies.items():
        learners[ln] = score(p, ln)
        est = next(r for r in out["selection"] if r["learner"] == ln)
        learners[ln]["ope_dr_validation"] = est["dr"]
    out["learners"] = learners
    best_true = max(learners, key=lambda k: learners[k]["value"])
    out["truly_best_learner"] = best_true
    chosen = out["chosen"]
    ch = learners[chosen]
    bt = learners[best_true]
    out["chosen_within_se_of_best"] = bool(
        bt["gap_captured"] - ch["gap_captured"] <= 2 * max(bt["gap_captured_se"] or 0, 1e-9)
    )
    # the per-debtor timing, off
    no_timing = Policy(cfg, learner=chosen, per_debtor_reach=False)
    no_timing.reach_, no_timing.effects_, no_timing.info_ = auto.reach_, auto.effects_, {}
    out["per_debtor_timing_off"] = score(no_timing, f"{chosen} without per-debtor timing")
    # value / harm as the penalty varies (money = value + 50 x harm: truth carries 50 EUR)
    trade = []
    for lam in PENALTIES:
        pc = cfg.with_overrides({"penalties": {"dispute": lam, "complaint": lam}})
        r = score(auto.with_config(pc), f"penalty {lam:g}")
        trade.append(
            {
                "penalty": lam,
                "harm": r["harm"],
                "value_at_50": r["value"],
                "money": r["value"] + 50.0 * r["harm"],
                "gap_captured": r["gap_captured"],
            }
        )
    out["tradeoff"] = trade
    out["seconds"] = time.perf_counter() - t0
    return out


def _markdown(results: list[dict]) -> str:
    lines = [
        "| world | ε | chosen | " + " | ".join(LEARNERS) + " | chosen: harm / best's | "
        "timing off | violations |",
        "|---|---|---|" + "---|" * len(LEARNERS) + "---|---|---|",
    ]
    for r in results:
        cells = []
        for ln in LEARNERS:
            x = r["learners"][ln]
            mark = "**" if ln == r["chosen"] else ""
            cells.append(f"{mark}{x['gap_captured']:.0%} ± {x['gap_captured_se']:.0%}{mark}")
        ch = r["learners"][r["chosen"]]
        off = r["per_debtor_timing_off"]
        lines.append(
            f"| {r['scenario']} | {r['epsilon']:.2f} | {r['chosen']} | "
            + " | ".join(cells)
            + f" | {ch['harm']:.3f} / {r['harm_per_case']['oracle_crossfit']:.3f} | "
            f"{off['gap_captured']:.0%} | {ch['violations']} |"
        )
    shares = [r["learners"][r["chosen"]]["gap_captured"] for r in results]
    lines.append("")
    lines.append(
        f"Chosen learner: mean {np.mean(shares):.0%}, worst {np.min(shares):.0%} of the "
        "ladder-to-best gap (cross-fitted oracle)."
    )
    per = {ln: [r["learners"][ln]["gap_captured"] for r in results] for ln in LEARNERS}
    lines.append(
        "Each learner on its own: "
        + "; ".join(f"{ln} mean {np.mean(v):.0%}, worst {np.min(v):.0%}" for ln, v in per.items())
        + "."
    )
    return "\n".join(lines)


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for r in results:
        tr = r["tradeoff"]
        ax.plot([t["harm"] for t in tr], [t["gap_captured"] for t in tr], "o-", label=r["scenario"])
        ax.scatter(
            [r["harm_per_case"]["oracle_crossfit"]],
            [1.0],
            marker="*",
            s=80,
            color=ax.lines[-1].get_color(),
        )
    ax.set(
        xlabel="disputes + complaints per case (14 days)",
        ylabel="share of the ladder-to-best gap (value at 50 EUR)",
        title="value vs harm as the penalty goes 0 → 800 EUR (★: best decisions)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", default="all", help="'all' or names separated by commas")
    ap.add_argument("--debtors", type=int, default=6000)
    ap.add_argument("--cases", type=int, default=600)
    ap.add_argument("--replicas", type=int, default=8, help="per replica set (two sets)")
    ap.add_argument("--days-before-end", type=int, default=60)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "policy_scenarios.json"))
    args = ap.parse_args()
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose among {list(SCENARIOS)}")
    results = []
    for name in names:
        r = evaluate_world(name, args)
        results.append(r)
        ch = r["learners"][r["chosen"]]
        print(
            f"{name}: chosen {r['chosen']} {ch['gap_captured']:.0%} ± {ch['gap_captured_se']:.0%}; "
            + ", ".join(f"{k} {v['gap_captured']:.0%}" for k, v in r["learners"].items())
            + f"; {r['seconds']:.0f} s",
            flush=True,
        )
        RESULTS.mkdir(exist_ok=True)
        Path(args.out).write_text(
            json.dumps({"args": vars(args), "worlds": results}, indent=1, default=str)
        )
    md = _markdown(results)
    Path(args.out).with_suffix(".md").write_text(md + "\n")
    out = Path(args.out)
    _plot(results, out.with_name(out.stem.replace("policy_scenarios", "policy_tradeoff") + ".png"))
    print(md)


if __name__ == "__main__":
    main()
