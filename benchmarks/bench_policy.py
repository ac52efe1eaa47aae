"""Policy quality against the synthetic world's ground truth (issue 4, §4).

For cases at one instant of a synthetic data set's test period, compares the true expected
14-day reward (CONTRACT §3) of: the learned policy (greedy and with its exploration), the plain
ladder (the logging policy without exploration), always-wait, and the best compliant action per
case (oracle). Reports the share of the ladder-to-oracle gap captured, dispute/complaint rates,
harsh actions, rule violations (checked by the world's own compliance logic), and the
value/harm trade-off as the penalty varies.

The oracle's value is the maximum over about 280 Monte Carlo estimates per case, so it is biased
upwards by the Monte Carlo noise (the winner's curse), which inflates the ladder-to-oracle gap.
With ``--crossfit`` (default) the truth is computed on two independent sets of replicas: every
strategy is valued on their average, and a second oracle is reported whose per-case choice is
made on one set and valued on the other (both ways, averaged). That cross-fitted oracle is
biased downwards (its choice is noisy), the in-sample one upwards: the true share captured lies
between the two figures.

    python benchmarks/bench_policy.py --data data/synthetic/default --cases 0

Uses the models registered under ``--alias`` (train first: ``scoring train --data ...``).
Writes ``benchmarks/results/policy.json`` and ``policy_tradeoff.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoring import registry
from scoring.cases import build_cases, data_end
from scoring.contract import load_tables
from scoring.features import features
from scoring.policy.benchmark import GRID_HOURS, HARSH, crossfit_oracle
from scoring.policy.benchmark import lookup_true_value as lookup
from scoring.policy.recommend import Policy
from scoring.service import Bundle
from scoring.synthetic import load_world

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="data/synthetic/default")
    ap.add_argument(
        "--cases", type=int, default=0, help="cases drawn at the instant; 0: every case"
    )
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--policy", help="policy JSON file (Policy.save) instead of the registry's")
    ap.add_argument("--days-before-end", type=int, default=100, help="as_of = data end minus this")
    ap.add_argument("--replicas", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--crossfit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="second independent set of replicas for an unbiased-choice oracle",
    )
    ap.add_argument("--out", default=str(RESULTS / "policy.json"))
    args = ap.parse_args()

    t0 = time.perf_counter()
    registry.setup_mlflow()
    bundle = Bundle.from_registry(args.alias)
    policy = Policy.load(args.policy) if args.policy else bundle.policy
    tables = load_tables(args.data)
    world = load_world(args.data)
    end = data_end(tables)
    as_of = (end - pd.Timedelta(days=args.days_before_end) + pd.Timedelta(hours=8)).tz_localize(
        "Europe/Paris"
    )
    cs_all = build_cases(tables, as_of)
    rng = np.random.default_rng(args.seed)
    n_pick = len(cs_all) if args.cases <= 0 else min(args.cases, len(cs_all))
    pick = np.sort(rng.choice(len(cs_all), n_pick, replace=False))
    cs = cs_all.take(pick)
    X = features(cs)
    ids = cs.cases["debtor_id"].astype(str).tolist()
    departments = pd.Series(cs.cases["department"].astype(str).to_numpy(), index=ids)

    t1 = time.perf_counter()
    truth = world.true_action_values(ids, as_of, n_replicas=args.replicas)
    oracle_cf = None
    if args.crossfit:
        truth_b = world.true_action_values(
            ids, as_of, n_replicas=args.replicas, first_replica=args.replicas + 1
        )
        truth, oracle_cf = crossfit_oracle(truth, truth_b)
    truth_seconds = time.perf_counter() - t1
    truth = truth[truth["has_case"]]
    comp = truth[truth["compliant"]]
    oracle = comp.loc[comp.groupby("debtor_id")["expected_reward"].idxmax()].set_index("debtor_id")
    wait = truth[truth["action"] == "wait"].set_index("debtor_id")
    ladder_choice = world.ladder_action(ids, as_of)
    ladder = lookup(truth, ladder_choice, departments).set_index("debtor_id")

    # the world evaluates the next 7 local days at its grid hours: use the same grid
    grid_cfg = policy.config.with_overrides({"slots": {"hours": GRID_HOURS, "days_ahead": 6}})
    results: dict = {
        "as_of": str(as_of),
        "cases": len(ids),
        "truth_replicas": args.replicas * (2 if args.crossfit else 1),
        "truth_seconds": truth_seconds,
    }

    def run(penalty: float | None, explore: bool) -> pd.DataFrame:
        cfg = (
            grid_cfg
            if penalty is None
            else grid_cfg.with_overrides({"penalties": {"dispute": penalty, "complaint": penalty}})
        )
        pol = type(policy)(policy.value_model, cfg, policy.info)
        dec, details = pol.recommend(cs, X, explore=False, with_details=explore)
        if not explore:
            return lookup(
                truth, dec[["debtor_id", "action", "scheduled_at"]], departments
            ).set_index("debtor_id")
        # expected true value under the stochastic policy: sum over its distribution
        v = details["values"]
        v = v.assign(
            debtor_id=np.asarray(ids)[v["case"].to_numpy()], probability=pol.distribution(v)
        )
        lk = lookup(truth, v[["debtor_id", "action", "scheduled_at"]], departments)
        lk["probability"] = v["probability"].to_numpy()
        agg = lk.assign(pv=lk["value"] * lk["probability"], ph=lk["harm"] * lk["probability"])
        g = agg.groupby("debtor_id")
        return pd.DataFrame(
            {"value": g["pv"].sum(), "harm": g["ph"].sum(), "compliant": g["compliant"].min()}
        )

    greedy = run(None, explore=False)
    stochastic = run(None, explore=True)
    common = oracle.index.intersection(greedy.index).intersection(ladder.index)
    v = {
        "learned_policy_greedy": float(greedy.loc[common, "value"].mean()),
        "learned_policy_with_exploration": float(stochastic.loc[common, "value"].mean()),
        "ladder": float(ladder.loc[common, "value"].mean()),
        "always_wait": float(wait.loc[common, "expected_reward"].mean()),
        "oracle": float(oracle.loc[common, "expected_reward"].mean()),
    }
    if oracle_cf is not None:
        v["oracle_crossfit"] = float(oracle_cf.loc[common, "value"].mean())
    gap = v["oracle"] - v["ladder"]
    results["value_per_case_eur"] = v
    if oracle_cf is not None:
        gap_cf = v["oracle_crossfit"] - v["ladder"]
        results["gap_captured_greedy_vs_crossfit_oracle"] = (
            (v["learned_policy_greedy"] - v["ladder"]) / gap_cf if gap_cf > 0 else None
        )
    # sampling uncertainty of the shares captured (ratio of paired means over the cases)
    results["gap_captured_greedy_se"] = _ratio_se(
        greedy.loc[common, "value"] - ladder.loc[common, "value"],
        oracle.loc[common, "expected_reward"] - ladder.loc[common, "value"],
    )
    if oracle_cf is not None:
        results["gap_captured_greedy_vs_crossfit_oracle_se"] = _ratio_se(
            greedy.loc[common, "value"] - ladder.loc[common, "value"],
            oracle_cf.loc[common, "value"] - ladder.loc[common, "value"],
        )
    results["gap_captured_greedy"] = (
        (v["learned_policy_greedy"] - v["ladder"]) / gap if gap > 0 else None
    )
    results["gap_captured_with_exploration"] = (
        (v["learned_policy_with_exploration"] - v["ladder"]) / gap if gap > 0 else None
    )
    results["rule_violations_greedy"] = int((greedy["compliant"] == False).sum())  # noqa: E712
    results["rule_violations_ladder"] = int((ladder["compliant"] == False).sum())  # noqa: E712
    results["not_in_truth_grid_greedy"] = int(greedy["compliant"].isna().sum())
    results["harm_rate"] = {
        "learned_policy_greedy": float(greedy.loc[common, "harm"].mean()),
        "ladder": float(ladder.loc[common, "harm"].mean()),
        "always_wait": float(wait.loc[common, "p_dispute_or_complaint"].mean()),
        "oracle": float(oracle.loc[common, "p_dispute_or_complaint"].mean()),
    }
    if oracle_cf is not None:
        results["harm_rate"]["oracle_crossfit"] = float(oracle_cf.loc[common, "harm"].mean())
    results["harsh_actions"] = {
        "learned_policy_greedy": int(greedy["action"].isin(HARSH).sum())
        if "action" in greedy
        else None,
        "ladder": int(ladder["action"].isin(HARSH).sum()),
        "oracle": int(oracle["action"].isin(HARSH).sum()),
    }
    results["action_mix"] = {
        "learned_policy_greedy": greedy["action"].value_counts().to_dict(),
        "ladder": ladder["action"].value_counts().to_dict(),
        "oracle": oracle["action"].value_counts().to_dict(),
    }

    # value (money: paid - cost) vs harm as the penalty varies
    trade = []
    for lam in (0.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0):
        g = run(lam, explore=False)
        money = g["value"] + 50.0 * g["harm"]  # truth values carry a 50 EUR penalty per event
        trade.append(
            {
                "penalty": lam,
                "money": float(money.loc[common].mean()),
                "harm": float(g.loc[common, "harm"].mean()),
                "value_at_50": float(g.loc[common, "value"].mean()),
            }
        )
    ladder_money = float((ladder["value"] + 50.0 * ladder["harm"]).loc[common].mean())
    results["tradeoff"] = trade
    results["ladder_money"] = ladder_money
    lh = results["harm_rate"]["ladder"]
    ok = [t for t in trade if t["harm"] <= lh]
    if ok:
        best = max(ok, key=lambda t: t["value_at_50"])
        results["at_ladder_harm"] = {
            "penalty": best["penalty"],
            "harm": best["harm"],
            "gap_captured": (best["value_at_50"] - v["ladder"]) / gap if gap > 0 else None,
        }
    results["seconds"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    _plot(trade, ladder_money, lh, v, RESULTS / "policy_tradeoff.png")
    print(
        json.dumps(
            {
                k: results[k]
                for k in (
                    "value_per_case_eur",
                    "gap_captured_greedy",
                    "gap_captured_greedy_se",
                    "gap_captured_greedy_vs_crossfit_oracle",
                    "gap_captured_greedy_vs_crossfit_oracle_se",
                    "gap_captured_with_exploration",
                    "rule_violations_greedy",
                    "harm_rate",
                    "harsh_actions",
                    "at_ladder_harm",
                )
                if k in results
            },
            indent=2,
        )
    )


def _ratio_se(num: pd.Series, den: pd.Series) -> float | None:
    """Standard error of mean(num) / mean(den) over paired cases (delta method)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 or b.mean() <= 0:
        return None
    r = a.mean() / b.mean()
    return float(np.std(a - r * b, ddof=1) / np.sqrt(len(a)) / b.mean())


def _plot(trade: list[dict], ladder_money: float, ladder_harm: float, v: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(
        [t["harm"] for t in trade],
        [t["money"] for t in trade],
        "o-",
        label="learned policy (penalty varies)",
    )
    for t in trade:
        ax.annotate(
            f"{t['penalty']:.0f}",
            (t["harm"], t["money"]),
            fontsize=8,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.scatter([ladder_harm], [ladder_money], color="red", zorder=3, label="ladder")
    ax.set(
        xlabel="disputes + complaints per case (14 days)",
        ylabel="cash collected - cost per case, EUR",
        title="value vs harm",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
