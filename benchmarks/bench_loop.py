"""The closed loop, rehearsed (issue 10 §7): train, decide in the world, retrain, promote.

On a scenario world generated with ``extra_days`` (invoices keep coming after the history):

1. the ladder's log up to the world's end is written as a contract data set and
   ``scoring.pipeline.train`` (``--trials``) trains the risk models and the policy into a
   temporary ``SCORING_HOME`` (the first policy becomes ``champion``);
2. each round, the champion policy (``Policy.load`` of ``registry.resolve("policy",
   "champion")``) decides in the world for ``--weeks`` weeks
   (:meth:`SyntheticWorld.run_external`: at the ladder's cadence, its decisions checked by the
   world's CONTRACT §4 check, executed at their minute and logged with their propensities and
   outcomes); the ladder runs the same days on a copy with the same random numbers;
3. the tables as known at the round's end (history + the policy's decisions) are written, the
   models retrained, and ``registry.promote(("policy",))`` decides through the policy's gate
   (challenger's doubly robust lower bound on its held-out period vs the champion's estimate
   on that period); the next round runs with whatever is champion.

Per round: the policy's realised reward per decision (CONTRACT §3, 14 days, penalty 50 EUR)
and the ladder's on the same weeks, their difference with a standard error clustered by
debtor, the net value per debtor of the world (cash collected minus contact costs minus
penalties over the weeks and the 14 days after), exploration (share of decisions with
propensity < 0.5, mean of 1 - the case's largest action probability), violations, action
mixes, and the retraining's gate.

    python benchmarks/bench_loop.py --scenario b2b_phone --debtors 5000 --rounds 3 --weeks 4

Writes ``benchmarks/results/loop.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoring.synthetic import generate

RESULTS = Path(__file__).resolve().parent / "results"
SHORT = {
    "wait": "wait",
    "email_reminder": "email",
    "sms_reminder": "sms",
    "whatsapp_reminder": "whatsapp",
    "phone_call": "phone",
    "letter": "letter",
    "formal_notice": "notice",
    "payment_plan_offer": "plan",
    "dispute_review": "review",
    "legal_escalation": "legal",
}


def _fmt_mix(m: dict[str, float], top: int = 4) -> str:
    items = sorted(m.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{SHORT.get(k, k)} {100 * v:.0f}" for k, v in items)


def policy_decider(policy, stats: dict):
    """``decide(ids, as_of, tables)`` with a fitted :class:`Policy`: the cases of the asked
    debtors at ``as_of`` from the tables the software knows, one sampled decision each (with
    exploration), its propensity and the case's largest action probability."""
    from scoring.cases import build_cases
    from scoring.contract import validate_tables

    def decide(ids: list[str], as_of: pd.Timestamp, tables: dict) -> pd.DataFrame:
        t0 = time.perf_counter()
        typed, problems = validate_tables(tables)
        if problems:
            raise RuntimeError(f"the world's tables at {as_of} break the contract: {problems[:3]}")
        cs = build_cases(typed, as_of, debtor_ids=ids)
        stats["cases"] = stats.get("cases", 0) + len(cs)
        stats["asked"] = stats.get("asked", 0) + len(ids)
        t1 = time.perf_counter()
        stats["tables_cases_s"] = stats.get("tables_cases_s", 0.0) + t1 - t0
        if not len(cs):
            return pd.DataFrame(columns=["debtor_id", "action", "scheduled_at", "propensity"])
        rec = policy.recommend(cs, explore=True)
        stats["recommend_s"] = stats.get("recommend_s", 0.0) + time.perf_counter() - t1
        d = rec.decisions[["debtor_id", "action", "scheduled_at", "propensity"]].copy()
        opt = rec.options
        maxp = opt.groupby("case")["probability"].max().reindex(range(len(d)))
        d["max_propensity"] = maxp.to_numpy(float)
        return d

    return decide


def _gate_figures(version: int | None) -> dict:
    """The policy version's gate tags (read-only)."""
    if version is None:
        return {}
    from mlflow import MlflowClient

    from scoring import registry

    tags = MlflowClient().get_model_version(registry.registered_name("policy"), str(version)).tags
    keep = (
        "ope_dr_value",
        "ope_dr_ci_low",
        "ope_dr_ci_high",
        "ope_logging_value",
        "gate_champion_dr_value",
        "gate_champion_version",
        "learner",
    )
    out = {k: tags[k] for k in keep if k in tags}
    out.update({k: v for k, v in tags.items() if k.startswith("ope_period")})
    return out


def _train(data_dir: Path, trials: int) -> dict:
    from scoring.pipeline import train

    t0 = time.perf_counter()
    res = train(data_dir, trials=trials, progress=False)
    pol = {k: float(v) for k, v in res.metrics.items() if "ope" in k or "policy" in k}
    return {
        "versions": res.versions,
        "policy_metrics": pol,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run(args: argparse.Namespace) -> dict:
    from scoring import registry
    from scoring.policy.recommend import Policy
    from scoring.settings import get_settings

    t_all = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    old_env = {k: os.environ.get(k) for k in ("SCORING_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["SCORING_HOME"] = str(work / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    registry.setup_mlflow()
    days = 7 * args.weeks
    out: dict = {
        "scenario": args.scenario,
        "debtors": args.debtors,
        "seed": args.seed,
        "rounds": args.rounds,
        "weeks": args.weeks,
        "trials": args.trials,
    }
    try:
        t0 = time.perf_counter()
        world = generate(
            args.debtors,
            seed=args.seed,
            scenario=args.scenario,
            progress=False,
            extra_days=args.rounds * days + 14,
        )
        out["history_end"] = str(world.end)
        out["epsilon"] = world.params.epsilon
        out["generate_seconds"] = round(time.perf_counter() - t0, 1)
        data0 = world.write(work / "data_0")
        out["history_actions"] = int(len(world.tables["actions"]))
        print(f"world: {args.debtors} debtors, {out['generate_seconds']} s; training on the ladder")
        out["initial_training"] = _train(data0, args.trials)
        print(f"  trained in {out['initial_training']['seconds']} s")
        rounds = []
        for r in range(1, args.rounds + 1):
            champ = registry.resolve("policy", "champion")
            policy = Policy.load(champ.path)
            stats: dict = {}
            t1 = time.perf_counter()
            res = world.run_external(days, policy_decider(policy, stats))
            loop_s = time.perf_counter() - t1
            s = dict(res.summary)
            row: dict = {"round": r, "champion_version": champ.version, **s}
            row["loop_seconds"] = round(loop_s, 1)
            row["decider_stats"] = {k: round(v, 2) for k, v in stats.items()}
            row["violation_examples"] = (
                res.violations.head(5).astype(str).to_dict(orient="records")
                if s["violations"]
                else []
            )
            print(
                f"round {r}: policy v{champ.version}, {s['decisions']} decisions, "
                f"{s['reward']:.1f} vs ladder {s['ladder_reward']:.1f} EUR/decision "
                f"(diff {s['diff']:+.1f} ± {s['diff_se']:.1f}), {s['violations']} violations, "
                f"{loop_s:.0f} s"
            )
            data = world.write(work / f"data_{r}", until=world.now)
            row["retrain"] = _train(data, args.trials)
            chall = row["retrain"]["versions"].get("policy")
            dec = registry.promote(("policy",), who="loop")[0]
            row["promotion"] = {
                "champion": dec.champion,
                "challenger": dec.challenger,
                "promoted": bool(dec.promoted),
                "reason": dec.reason,
                "gate": _gate_figures(chall),
            }
            print(f"  retrained in {row['retrain']['seconds']} s; {dec.reason}")
            rounds.append(row)
            shutil.rmtree(work / f"data_{r - 1}", ignore_errors=True)
        out["rounds_detail"] = rounds
        out["final_champion"] = registry.resolve("policy", "champion").version
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = round(time.perf_counter() - t_all, 1)
    return out


def markdown(out: dict) -> str:
    lines = [
        "| round | policy | decisions | policy EUR/decision | ladder EUR/decision | "
        "difference ± SE | net EUR/debtor: difference ± SE | explored (p < 0.5) | "
        "mean 1 - max p | violations | policy mix % | ladder mix % | retrained: promoted? |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rounds_detail"]:
        p = r["promotion"]
        gate = (
            f"v{p['challenger']}: {'yes' if p['promoted'] else 'no'}"
            if p["challenger"] is not None
            else "no challenger"
        )
        m1 = r["mean_1_minus_max_propensity"]
        lines.append(
            f"| {r['round']} | v{r['champion_version']} | {r['decisions']:,} "
            f"| {r['reward']:.1f} | {r['ladder_reward']:.1f} "
            f"| {r['diff']:+.1f} ± {r['diff_se']:.1f} "
            f"| {r['net_diff']:+.1f} ± {r['net_diff_se']:.1f} "
            f"| {100 * r['explored_share']:.0f} % (ladder {100 * r['ladder_explored_share']:.0f} %) "
            f"| {'-' if m1 is None else f'{m1:.2f}'} | {r['violations']} "
            f"| {_fmt_mix(r['action_mix'])} | {_fmt_mix(r['ladder_action_mix'])} | {gate} |"
        )
    lines.append("")
    for r in out["rounds_detail"]:
        lines.append(f"- round {r['round']}: {r['promotion']['reason']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="b2b_phone")
    ap.add_argument("--debtors", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data and MLflow home")
    ap.add_argument("--out", default=str(RESULTS / "loop.json"))
    args = ap.parse_args()
    out = run(args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print()
    print(markdown(out))
    print(f"\n{out['seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
