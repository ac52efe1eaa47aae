"""What each scenario world looks like, measured: tables, logged actions and the ground truth.

For every scenario of :data:`scoring.synthetic.scenarios.SCENARIOS`, generates a world (same
size and seed for all), then reports: rows per table, the invoice default rate (unpaid 90 days
after the due date, invoices due at least 90 days before the end), the dispute rate (share of
invoices ever disputed), the logged action mix and the share of explored decisions, and, for
``--cases`` cases drawn at one instant, the best compliant action mix from
``true_action_values`` (``--replicas`` replicas, a half-hour-friendly grid of local hours) and
the mean true value per case of: the ladder (the logging policy without exploration),
always-wait, the in-sample best action (maximum over the grid on the same replicas, biased
upwards) and the cross-fitted best (chosen on replicas 1..R, valued on R+1..2R with
``true_values_of``). The ladder, wait and cross-fitted values share replicas R+1..2R (common
random numbers).

    python benchmarks/bench_scenarios.py --debtors 3000 --cases 150 --replicas 8

Writes ``benchmarks/results/scenarios.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from scoring.synthetic import SCENARIOS, generate
from scoring.synthetic.params import DEPARTMENT_TZ

RESULTS = Path(__file__).resolve().parent / "results"
HOURS = (9.0, 10.5, 12.0, 14.0, 15.5, 17.0, 18.5)
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


def _mix(s: pd.Series) -> dict[str, float]:
    v = s.map(SHORT).value_counts(normalize=True)
    return {k: round(float(x), 3) for k, x in v.items()}


def _fmt_mix(m: dict[str, float], top: int = 4) -> str:
    items = list(m.items())[:top]
    return ", ".join(f"{k} {100 * v:.0f}" for k, v in items)


def case_ids(inv: pd.DataFrame, t: pd.Timestamp) -> list[str]:
    """Debtors with a case at ``t`` (CONTRACT §3: an open invoice due within 15 days)."""
    t = t.tz_localize(None).normalize()
    openi = inv[
        (inv["issue_date"] < t)
        & (inv["paid_date"].isna() | (inv["paid_date"] >= t))
        & (inv["legal_date"].isna() | (inv["legal_date"] >= t))
        & (inv["due_date"] <= t + pd.Timedelta(days=15))
    ]
    return sorted(openi["debtor_id"].unique())


def overdue_ids(inv: pd.DataFrame, t: pd.Timestamp) -> set[str]:
    """Debtors with an open invoice already overdue at ``t``."""
    d = t.tz_localize(None).normalize()
    o = inv[
        (inv["issue_date"] < d)
        & (inv["paid_date"].isna() | (inv["paid_date"] >= d))
        & inv["legal_date"].isna()
        & (inv["due_date"] < d)
    ]
    return set(o["debtor_id"])


def timing(world, as_of: pd.Timestamp, n: int, replicas: int) -> dict:
    """What the contact time is worth, on overdue cases (common random numbers, true values).

    Firms with phone consent: gain over waiting of a call at the firm's (hidden) preferred hour
    on its preferred weekday, and of a call the same day at the allowed hour farthest from it.
    Consumers with SMS consent: gain over waiting of an SMS at 18:30 and at 09:00 local, the
    first day after ``as_of`` that is not a Sunday. Only pairs compliant at both times count.
    """
    deb = world.tables["debtors"].set_index("debtor_id")
    od = overdue_ids(world.tables["invoices"], as_of)
    cases = [i for i in case_ids(world.tables["invoices"], as_of) if i in od]
    first = as_of.tz_localize(None).normalize() + pd.Timedelta(days=1)
    out = {}
    for what, seg, consent in (("call", "B2B", "consent_phone"), ("sms", "B2C", "consent_sms")):
        ids = [i for i in cases if deb.loc[i, "segment"] == seg and deb.loc[i, consent]][:n]
        rows = []
        for i, j in zip(ids, world.debtor_index(ids), strict=True):
            tz = ZoneInfo(DEPARTMENT_TZ.get(deb.loc[i, "department"], "Europe/Paris"))
            if what == "call":
                dow = int(world.debtors["pref_dow"][j])
                ph = float(world.debtors["pref_hour"][j])
                day = first + pd.Timedelta(days=(dow - first.day_of_week) % 7)
                good = min(max(round(ph * 2) / 2, 9.0), 17.5)
                bad = 9.0 if abs(ph - 9.0) > abs(ph - 17.5) else 17.5
                act = "phone_call"
            else:
                day = first + pd.Timedelta(days=int(first.day_of_week == 6))
                good, bad, act = 18.5, 9.0, "sms_reminder"
            for tag, h in (("good", good), ("bad", bad)):
                ts = (day + pd.Timedelta(hours=h)).tz_localize(tz).tz_convert("UTC")
                rows.append((i, act, ts, tag))
            rows.append((i, "wait", pd.NaT, "wait"))
        if not rows:
            continue
        ch = pd.DataFrame(rows, columns=["debtor_id", "action", "scheduled_at", "tag"])
        v = world.true_values_of(ch.drop(columns="tag"), as_of, n_replicas=replicas)
        v["tag"] = ch["tag"].to_numpy()
        val = v.pivot(index="debtor_id", columns="tag", values="expected_reward")
        comp = v.pivot(index="debtor_id", columns="tag", values="compliant")
        val = val[comp["good"].astype(bool) & comp["bad"].astype(bool)]
        g, b = val["good"] - val["wait"], val["bad"] - val["wait"]
        k = len(val)
        out[what] = {
            "cases": k,
            "gain_good_time": round(float(g.mean()), 1),
            "gain_good_time_se": round(float(g.std(ddof=1) / np.sqrt(k)), 1),
            "gain_bad_time": round(float(b.mean()), 1),
            "gain_bad_time_se": round(float(b.std(ddof=1) / np.sqrt(k)), 1),
        }
    return out


def measure(name: str, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    world = generate(args.debtors, seed=args.seed, scenario=name, progress=False)
    gen_s = time.perf_counter() - t0
    tb = world.tables
    inv, act = tb["invoices"], tb["actions"]
    end = pd.Timestamp(world.end)
    due_ok = inv["due_date"] <= end - pd.Timedelta(days=90)
    lim = inv["due_date"] + pd.Timedelta(days=90)
    dflt = (inv["paid_date"].isna() | (inv["paid_date"] > lim))[due_ok].mean()
    eps = world.params.epsilon
    explored = float((act["propensity"] < 1 - eps - 1e-12).mean())

    as_of = pd.Timestamp(args.as_of)
    ids = case_ids(inv, as_of)
    rng = np.random.default_rng(args.seed)
    ids = sorted(rng.choice(ids, size=min(args.cases, len(ids)), replace=False).tolist())
    R = args.replicas
    t1 = time.perf_counter()
    truth = world.true_action_values(ids, as_of, n_replicas=R, hours=HOURS)
    ok = truth[truth["compliant"]]
    best = ok.loc[ok.groupby("debtor_id")["expected_reward"].idxmax()].set_index("debtor_id")
    # cross-fitted: the choice of replicas 1..R valued on R+1..2R, like ladder and wait
    chosen = best.reset_index()[["debtor_id", "action", "scheduled_at"]]
    v_best = world.true_values_of(chosen, as_of, n_replicas=R, first_replica=R + 1)
    lad = world.ladder_action(ids, as_of)
    v_lad = world.true_values_of(lad, as_of, n_replicas=R, first_replica=R + 1)
    wait = pd.DataFrame({"debtor_id": ids, "action": "wait", "scheduled_at": pd.NaT})
    v_wait = world.true_values_of(wait, as_of, n_replicas=R, first_replica=R + 1)
    timing_gain = timing(world, as_of, args.cases, 2 * R)
    truth_s = time.perf_counter() - t1
    d_lad = v_best["expected_reward"].to_numpy() - v_lad["expected_reward"].to_numpy()
    deb = tb["debtors"].set_index("debtor_id")
    seg_b = deb.loc[best.index, "segment"]
    return {
        "scenario": name,
        "description": SCENARIOS[name].description,
        "epsilon": eps,
        "rows": {k: len(v) for k, v in tb.items()},
        "b2b_share": round(float((tb["debtors"]["segment"] == "B2B").mean()), 3),
        "default_rate": round(float(dflt), 4),
        "dispute_rate": round(float(inv["dispute_date"].notna().mean()), 4),
        "explored_share": round(explored, 3),
        "logged_mix": _mix(act["action"]),
        "as_of": as_of.isoformat(),
        "cases": len(ids),
        "best_mix": _mix(best["action"]),
        "best_mix_by_segment": {s: _mix(best.loc[seg_b == s, "action"]) for s in ("B2B", "B2C")},
        "value_per_case": {
            "ladder": round(float(v_lad["expected_reward"].mean()), 1),
            "wait": round(float(v_wait["expected_reward"].mean()), 1),
            "best_in_sample": round(float(best["expected_reward"].mean()), 1),
            "best_crossfit": round(float(v_best["expected_reward"].mean()), 1),
            "best_crossfit_minus_ladder_se": round(float(d_lad.std(ddof=1) / np.sqrt(len(ids))), 1),
        },
        "timing": timing_gain,
        "harm_rate": {
            "ladder": round(float(v_lad["p_dispute_or_complaint"].mean()), 3),
            "best_crossfit": round(float(v_best["p_dispute_or_complaint"].mean()), 3),
        },
        "seconds": {"generate": round(gen_s, 1), "truth": round(truth_s, 1)},
    }


def markdown(rows: list[dict]) -> str:
    head = (
        "| scenario | eps (explored) | debtors / invoices / actions | B2B | default | dispute | "
        "logged mix % | best mix % | ladder | wait | best (in-sample / cross-fit) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        v, n = r["value_per_case"], r["rows"]
        lines.append(
            f"| `{r['scenario']}` | {r['epsilon']:.2f} ({100 * r['explored_share']:.0f} %) | "
            f"{n['debtors']:,} / {n['invoices']:,} / "
            f"{n['actions']:,} | {100 * r['b2b_share']:.0f} % | "
            f"{100 * r['default_rate']:.1f} % | {100 * r['dispute_rate']:.1f} % | "
            f"{_fmt_mix(r['logged_mix'])} | {_fmt_mix(r['best_mix'])} | "
            f"{v['ladder']:.0f} | {v['wait']:.0f} | "
            f"{v['best_in_sample']:.0f} / {v['best_crossfit']:.0f} |"
        )
    return head + "\n".join(lines)


def markdown_timing(rows: list[dict]) -> str:
    head = (
        "| scenario | call to a firm: preferred hour and weekday / farthest hour | "
        "SMS to a consumer: 18:30 / 09:00 |\n|---|---|---|\n"
    )
    lines = []
    for r in rows:
        cells = []
        for what in ("call", "sms"):
            t = r["timing"].get(what)
            cells.append(
                f"{t['gain_good_time']:.0f} ± {t['gain_good_time_se']:.0f} / "
                f"{t['gain_bad_time']:.0f} ± {t['gain_bad_time_se']:.0f} ({t['cases']} cases)"
                if t
                else "n/a"
            )
        lines.append(f"| `{r['scenario']}` | {cells[0]} | {cells[1]} |")
    return head + "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--debtors", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=150)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--as-of", default="2025-11-04T07:00:00Z", help="instant of the cases")
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--out", default=str(RESULTS / "scenarios.json"))
    args = ap.parse_args()
    rows = []
    for name in args.scenarios:
        r = measure(name, args)
        rows.append(r)
        print(f"{name}: {r['seconds']}", flush=True)
    table = markdown(rows) + "\n\n" + markdown_timing(rows)
    print(table)
    if args.out:
        out = {
            "command": "python benchmarks/bench_scenarios.py "
            f"--debtors {args.debtors} --seed {args.seed} --cases {args.cases} "
            f"--replicas {args.replicas} --as-of {args.as_of}",
            "grid_hours": list(HOURS),
            "scenarios": rows,
            "markdown": table,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
