"""The closed loop, rehearsed: an outside policy takes over the world's decisions.

A world generated with ``extra_days`` (:func:`~scoring.synthetic.world.generate`) has the
ladder's logged history up to ``end`` and invoices issued for ``extra_days`` more days. Its
*live branch* is the world after ``end``: :meth:`SyntheticWorld.run_external` moves it forward
``n_days`` evenings at a time under an outside decider, and
:meth:`SyntheticWorld.tables_until` exports what the collection software knows at any instant.

One round (:func:`run_external`):

* every evening ``t`` (the live branch's day after day), the debtors the ladder would decide for
  (same cadence: a case without a pending contact reaching a new dunning stage, every 14 days
  at the legal stage, every 10 days during a dispute) are passed to
  ``decide(debtor_ids, as_of, tables)`` with ``as_of`` the midnight UTC after day ``t`` (every
  event of day ``t`` is known, a slot on the next local day is the earliest possible) and
  ``tables`` = ``tables_until(as_of)``. A decider taking two arguments may call
  ``world.tables_until(as_of)`` itself (it reads the branch being simulated);
* each returned decision (``debtor_id, action, scheduled_at, propensity``, optionally
  ``max_propensity``) is checked with the world's own CONTRACT §4 check, to the letter, as
  :meth:`~SyntheticWorld.true_values_of` computes ``compliant``. A violating decision is
  executed as ``wait``, is not logged, and is reported with its reason; a debtor the decider
  returns nothing for waits (``missing``). Compliant decisions are logged (decided at
  ``as_of``, with the decider's propensity; outcomes filled in when the contact is made) and
  executed at their exact minute;
* with ``ladder_counterfactual``, a copy of the branch as it was at the round's start runs the
  same days under the ladder (the logging policy, exploration included), with the same random
  numbers (every random draw depends only on the debtor, the invoice and the day), so both
  strategies are compared on the same portfolio and the same luck;
* rewards (CONTRACT §3, as :meth:`~SyntheticWorld.true_values_of` counts them): the amount of
  the case's open invoices paid within ``reward_days`` days, minus the action's cost, minus
  ``penalty`` per dispute or complaint raised in that window. To observe the rewards of the
  round's last decisions, each strategy goes on deciding for ``reward_days`` more days on a
  copy (the *tail*: not logged in the world, not counted as decisions of the round); the live
  branch itself stops at the round's end.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .params import ACTION_CODE, ACTIONS, DISPUTE_REVIEW, WAIT
from .sim import INF, Log, State, initial_state

#: a decision at the evening of day ``t`` is logged at the midnight UTC after it: minutes
#: after 19:00 UTC in the log's ``minute`` column
DECISION_MINUTE = 300
#: why a decision was refused, in the order checked
REASONS = (
    "unknown action",
    "no scheduled_at",
    "slot not after as_of",
    "slot beyond the next 7 local days",
    "action not allowed (consent, open dispute, legal prerequisites, reliable customer)",
    "day not allowed (Sunday or holiday, contact caps, reliable customer, phone on weekdays)",
    "outside contact hours",
)
#: propensity below which a decision counts as explored
EXPLORED_BELOW = 0.5


@dataclass
class Branch:
    """A simulated state and its decision log (``None``: not logged)."""

    st: State
    log: Log | None

    def copy(self, with_log: bool = True) -> Branch:
        s = self.st
        st = State(
            u={k: v.copy() for k, v in s.u.items()},
            i={k: v.copy() for k, v in s.i.items()},
            t=s.t,
            live=s.live.copy(),
            ptr=s.ptr,
        )
        log = None
        if with_log and self.log is not None:
            log = Log()
            log.chunks = list(self.log.chunks)  # chunks are never modified, outcomes are
            log.n = self.log.n
            log.outcome = self.log.outcome.copy()
        return Branch(st, log)


@dataclass
class LoopRound:
    """One :func:`run_external` round.

    * ``summary``: the figures (see :func:`run_external`);
    * ``decisions``: the outside policy's decisions of the round, one row each:
      ``debtor_id, decided_at, requested_action, scheduled_at, propensity, max_propensity,
      violation`` (the reason, or null), ``action`` (as executed), ``paid_14d``, ``cost``,
      ``n_bad_14d`` (disputes and complaints), ``reward``;
    * ``ladder``: the same for the ladder counterfactual (``None`` without it);
    * ``net``: per debtor, cash collected minus contact costs minus penalties over the round and
      its tail, ``policy`` and ``ladder``.
    """

    summary: dict
    decisions: pd.DataFrame
    ladder: pd.DataFrame | None
    net: pd.DataFrame
    tail_decisions: pd.DataFrame = field(repr=False, default=None)

    @property
    def violations(self) -> pd.DataFrame:
        return self.decisions[self.decisions["violation"].notna()]


class _Arm:
    """One strategy run on a branch: its decisions, the contacts it paid for and the daily
    dispute and complaint counters, to price the decisions once the run is over."""

    def __init__(self, world, branch: Branch, first_evening: int, cost: np.ndarray) -> None:
        self.w = world
        self.branch = branch
        self.cost = cost
        self.first = first_evening
        self.snap = {first_evening: self._bad()}
        self.contact_cost = np.zeros(branch.st.n_units)
        self.cols: list[dict[str, np.ndarray]] = []
        self.pair_rec: list[np.ndarray] = []
        self.pair_inv: list[np.ndarray] = []
        self.n_rec = 0
        self.decide_seconds = 0.0

    def _bad(self) -> np.ndarray:
        u = self.branch.st.u
        return (u["n_complaints"] + u["n_disputes"]).astype(np.int64)

    def simulate_day(self, d: int) -> None:
        st = self.branch.st
        if st.t != d:
            raise RuntimeError(f"branch at day {st.t}, asked to simulate day {d}")
        made = st.u["pend_day"] == d
        self.contact_cost += np.where(made, self.cost[st.u["pend_act"]], 0.0)
        self.w.sim.step(st, d, self.branch.log, self.w.cal.n_days - 8, decide=False)
        self.snap[d] = self._bad()

    def _record(self, t: int, D: np.ndarray, cols: dict[str, np.ndarray], counted: bool) -> None:
        k = len(D)
        rec = np.arange(self.n_rec, self.n_rec + k)
        self.n_rec += k
        self.cols.append(
            dict(cols, unit=D, day=np.full(k, t, np.int64), counted=np.full(k, counted))
        )
        st = self.branch.st
        case = self.w._case_mask(st, t + 1)  # the case's invoices (CONTRACT §3) at as_of
        pos = np.full(st.n_units, -1, np.int64)
        pos[D] = rec
        inv = np.flatnonzero(case & (pos[st.i["unit"]] >= 0))
        self.pair_inv.append(inv)
        self.pair_rec.append(pos[st.i["unit"][inv]])

    # ---------------------------------------------------------------- deciders
    def ladder_evening(self, t: int, counted: bool) -> None:
        st = self.branch.st
        D, act, prop = self.w.sim._decide(st, t, None, self.w.cal.n_days - 8)
        if not len(D):
            return
        slot = self.w._slot_utc(st.u["dglob"][D], st.u["pend_day"][D], st.u["pend_min"][D])
        k = len(D)
        self._record(
            t,
            D,
            dict(
                requested=act.astype(np.int64),
                action=act.astype(np.int64),
                propensity=prop.astype(np.float64),
                max_propensity=np.full(k, np.nan),
                sched_s=np.where(act == WAIT, np.iinfo(np.int64).min, slot),
                given=np.ones(k, bool),
                reason=np.full(k, -1, np.int64),
            ),
            counted,
        )

    def external_evening(self, t: int, decide, pass_tables: bool, counted: bool) -> dict:
        w, st = self.w, self.branch.st
        u = st.u
        D, stage, agg = w.sim.triggered(st, t)
        if not len(D):
            return {"extra": 0}
        dglob = u["dglob"][D]
        ids = [f"D{g:0{w._width_d}d}" for g in dglob.tolist()]
        as_of = w._instant(t)
        t0 = time.perf_counter()
        w._active = self.branch
        try:
            out = decide(ids, as_of, w.tables_until(as_of)) if pass_tables else decide(ids, as_of)
        finally:
            w._active = None
        self.decide_seconds += time.perf_counter() - t0
        p = _parse(out, ids)
        day = t + 1
        known = p["requested"] >= 0
        va = np.where(known, p["requested"], WAIT)
        wait = va == WAIT
        has_slot = p["sched_s"] != np.iinfo(np.int64).min
        vd, vm = w._local_slot(dglob, np.where(has_slot, p["sched_s"], 0))
        vd = np.where(wait | ~has_slot, day, vd).astype(np.int64)
        vm = np.where(wait | ~has_slot, 0, vm).astype(np.int64)
        al, f, fp = w.sim.allowed_actions(
            st, np.arange(st.n_units), t, agg, w.cal.n_days - 8, compliance_only=True, n_ahead=7
        )
        c = w._compliance_parts(st, al, f, fp, D, dglob, va, vd, vm, day, int(as_of.value // 10**9))
        checks = [
            known,
            has_slot | wait,
            c["later"] | wait,
            c["in_window"] | wait,
            c["allowed"] | wait,
            c["day_ok"] | wait,
            c["hour_ok"] | wait,
        ]
        reason = np.full(len(D), -1, np.int64)
        for r in range(len(checks) - 1, -1, -1):  # the first failing check wins
            reason = np.where(checks[r], reason, r)
        reason = np.where(p["given"], reason, -1)
        ok = p["given"] & (reason < 0)
        act = np.where(ok, va, WAIT)
        contact = act != WAIT
        if self.branch.log is not None and ok.any():
            rows = np.full(len(D), -1, np.int64)
            rows[ok] = self.branch.log.add(
                dict(
                    unit=D[ok],
                    day=np.full(int(ok.sum()), t, np.int32),
                    minute=np.full(int(ok.sum()), DECISION_MINUTE, np.int16),
                    action=act[ok].astype(np.int8),
                    propensity=p["propensity"][ok],
                    sched_day=np.where(contact, vd, INF)[ok].astype(np.int32),
                    sched_min=vm[ok].astype(np.int16),
                )
            )
        else:
            rows = np.full(len(D), -1, np.int64)
        C = D[contact]
        u["pend_day"][C] = vd[contact]
        u["pend_act"][C] = act[contact]
        u["pend_min"][C] = vm[contact]
        u["pend_row"][C] = rows[contact]
        u["next_dec"][D] = np.where(contact, vd + 1, t + 7)
        u["last_stage"][D] = stage[D]
        u["last_dec"][D] = t
        u["last_review"][D[act == DISPUTE_REVIEW]] = t
        self._record(
            t,
            D,
            dict(
                requested=p["requested"],
                action=act.astype(np.int64),
                propensity=p["propensity"],
                max_propensity=p["max_propensity"],
                sched_s=p["sched_s"],
                given=p["given"],
                reason=reason,
            ),
            counted,
        )
        return {"extra": p["extra"]}

    # ---------------------------------------------------------------- pricing
    def frame(self, reward_days: int, penalty: float) -> pd.DataFrame:
        """Every recorded decision with its realised reward (NaN when its window was not
        simulated to the end)."""
        if not self.cols:
            return _empty_frame()
        c = {k: np.concatenate([x[k] for x in self.cols]) for k in self.cols[0]}
        n = len(c["unit"])
        st = self.branch.st
        rec = np.concatenate(self.pair_rec)
        inv = np.concatenate(self.pair_inv)
        t_rec = c["day"][rec]
        paid = st.i["paid"][inv]
        ok = (paid >= t_rec + 1) & (paid <= t_rec + reward_days)
        amt = np.bincount(rec[ok], weights=st.i["amount"][inv][ok], minlength=n)
        bad = np.full(n, np.nan)
        for t in np.unique(c["day"]):
            m = c["day"] == t
            end = int(t) + reward_days
            if end in self.snap:
                units = c["unit"][m]
                bad[m] = self.snap[end][units] - self.snap[int(t)][units]
        cost = self.cost[c["action"]]
        reward = np.where(np.isnan(bad), np.nan, amt - cost - penalty * np.nan_to_num(bad))
        w = self.w
        sched = pd.to_datetime(
            pd.Series(np.where(c["sched_s"] == np.iinfo(np.int64).min, np.nan, c["sched_s"])),
            unit="s",
            utc=True,
        )
        names = np.asarray(ACTIONS + ("(unknown)",), dtype=object)
        dglob = st.u["dglob"][c["unit"]]
        return pd.DataFrame(
            {
                "debtor_id": [f"D{g:0{w._width_d}d}" for g in dglob.tolist()],
                "decided_at": [w._instant(int(t)) for t in c["day"].tolist()],
                "requested_action": names[c["requested"]].astype(str),
                "scheduled_at": sched.to_numpy(),
                "propensity": c["propensity"],
                "max_propensity": c["max_propensity"],
                "given": c["given"],
                "violation": pd.Series(
                    np.where(c["reason"] >= 0, np.asarray(REASONS, dtype=object)[c["reason"]], None)
                ),
                "action": names[c["action"]].astype(str),
                "paid_14d": np.where(np.isnan(bad), np.nan, amt),
                "cost": cost,
                "n_bad_14d": bad,
                "reward": reward,
                "counted": c["counted"],
                "_unit": c["unit"],
            }
        ).assign(scheduled_at=lambda x: pd.to_datetime(x["scheduled_at"], utc=True))

    def net(self, last_day: int, penalty: float) -> np.ndarray:
        """Per unit: cash paid on days ``first + 1 .. last_day`` minus the contacts made then
        minus ``penalty`` per dispute or complaint raised then."""
        st = self.branch.st
        i = st.i
        m = (i["paid"] > self.first) & (i["paid"] <= last_day)
        cash = np.bincount(i["unit"][m], weights=i["amount"][m], minlength=st.n_units)
        bad = self.snap[last_day] - self.snap[self.first]
        return cash - self.contact_cost - penalty * bad


def _empty_frame() -> pd.DataFrame:
    cols = ["debtor_id", "decided_at", "requested_action", "scheduled_at", "propensity"]
    cols += ["max_propensity", "given", "violation", "action", "paid_14d", "cost", "n_bad_14d"]
    return pd.DataFrame({c: [] for c in [*cols, "reward", "counted", "_unit"]})


def _parse(out, ids: list[str]) -> dict[str, np.ndarray]:
    """A decider's answer, aligned with ``ids``: requested action codes (-1 unknown; wait when
    not given), slots (UTC epoch seconds, int64 min when null), propensities."""
    if hasattr(out, "decisions") and not isinstance(out, pd.DataFrame):
        out = out.decisions  # a Recommendations object
    out = pd.DataFrame(out)
    missing = {"debtor_id", "action"} - set(out.columns)
    if missing:
        raise ValueError(f"the decider's answer lacks the columns {sorted(missing)}")
    k = len(ids)
    did = out["debtor_id"].astype(str)
    keep = ~did.duplicated().to_numpy()
    pos = pd.Index(ids).get_indexer(did[keep])
    rows = np.flatnonzero(keep)[pos >= 0]
    pos = pos[pos >= 0]
    nat = np.iinfo(np.int64).min
    given = np.zeros(k, bool)
    given[pos] = True
    req = np.full(k, WAIT, np.int64)
    req[pos] = [ACTION_CODE.get(a, -1) for a in out["action"].astype(str).to_numpy()[rows]]
    sched_s = np.full(k, nat, np.int64)
    if "scheduled_at" in out.columns:
        s = pd.to_datetime(out["scheduled_at"].iloc[rows], utc=True)
        null = s.isna().to_numpy()
        secs = s.dt.tz_localize(None).to_numpy("datetime64[s]").astype(np.int64)
        sched_s[pos] = np.where(null, nat, secs)
    prop = np.full(k, np.nan)
    if "propensity" in out.columns:
        prop[pos] = pd.to_numeric(out["propensity"].iloc[rows], errors="coerce").to_numpy(float)
    maxp = np.full(k, np.nan)
    if "max_propensity" in out.columns:
        maxp[pos] = pd.to_numeric(out["max_propensity"].iloc[rows], errors="coerce").to_numpy(float)
    return dict(
        requested=req,
        sched_s=sched_s,
        propensity=prop,
        max_propensity=maxp,
        given=given,
        extra=int(len(out) - len(rows)),  # type: ignore[dict-item]
    )


def _accepts_tables(decide) -> bool:
    try:
        inspect.signature(decide).bind(None, None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (builtins): two arguments
        return False
    return True


def ensure_live(world) -> Branch:
    """The world's live branch (re-simulating the history of a reloaded world)."""
    if world._live is None:
        if not world.extra_days:
            raise ValueError(
                "the world has no days after its end: generate it with extra_days=K to let "
                "an outside policy decide"
            )
        st = initial_state(world.debtors, world.invoices, world.seed, np.arange(world.n_debtors))
        log = Log()
        world.sim.run(st, world.n_days, log, last_day=world.n_days - 1)
        world._live = Branch(st, log)
    return world._live


def ladder_decider(world):
    """A decider that takes the ladder's decisions (the logging policy, exploration and random
    slots included) through the outside-policy path. With it, :func:`run_external` reproduces
    its ladder counterfactual exactly: a check of the loop's plumbing, and a baseline."""

    def decide(debtor_ids: list[str], as_of: pd.Timestamp) -> pd.DataFrame:
        branch = world._active
        if branch is None:
            raise RuntimeError("ladder_decider decides only inside run_external")
        t = (as_of.tz_convert("UTC").normalize() - pd.Timestamp(world.start, tz="UTC")).days - 1
        st = branch.copy(with_log=False).st
        D, act, prop = world.sim._decide(st, t, None, world.cal.n_days - 8)
        u = st.u
        slot = world._slot_utc(u["dglob"][D], u["pend_day"][D], u["pend_min"][D])
        wait = act == WAIT
        return pd.DataFrame(
            {
                "debtor_id": [f"D{g:0{world._width_d}d}" for g in u["dglob"][D].tolist()],
                "action": np.asarray(ACTIONS, dtype=object)[act].astype(str),
                "scheduled_at": pd.to_datetime(
                    pd.Series(np.where(wait, np.nan, slot.astype(float))), unit="s", utc=True
                ),
                "propensity": prop,
            }
        )

    return decide


def _mix(actions: pd.Series) -> dict[str, float]:
    if not len(actions):
        return {}
    return {str(k): round(float(v), 4) for k, v in actions.value_counts(normalize=True).items()}


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else float("nan")), float("nan")
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def _ratio_diff(
    unit_p: np.ndarray, r_p: np.ndarray, unit_l: np.ndarray, r_l: np.ndarray, n_units: int
) -> tuple[float, float]:
    """Difference of two means per decision and its standard error, clustered by debtor
    (linearised ratio estimators: decisions of one debtor are not independent, and the same
    debtors appear in both strategies with the same luck)."""
    Rp = np.bincount(unit_p, weights=r_p, minlength=n_units)
    Np = np.bincount(unit_p, minlength=n_units).astype(float)
    Rl = np.bincount(unit_l, weights=r_l, minlength=n_units)
    Nl = np.bincount(unit_l, minlength=n_units).astype(float)
    keep = (Np + Nl) > 0
    Rp, Np, Rl, Nl = Rp[keep], Np[keep], Rl[keep], Nl[keep]
    n = len(Rp)
    if n < 2 or Np.sum() == 0 or Nl.sum() == 0:
        return float("nan"), float("nan")
    mp, ml = Rp.sum() / Np.sum(), Rl.sum() / Nl.sum()
    z = (Rp - mp * Np) / Np.mean() - (Rl - ml * Nl) / Nl.mean()
    return float(mp - ml), float(np.sqrt(n / (n - 1) * (z**2).sum()) / n)


def run_external(
    world,
    n_days: int,
    decide,
    ladder_counterfactual: bool = True,
    reward_days: int = 14,
    penalty: float = 50.0,
    costs: dict[str, float] | None = None,
    progress: bool = False,
) -> LoopRound:
    """Run the world's live branch ``n_days`` evenings under ``decide`` (module docstring).

    ``decide(debtor_ids, as_of, tables)`` (or ``decide(debtor_ids, as_of)``) returns a frame
    (or an object with ``.decisions``) with ``debtor_id, action, scheduled_at`` (UTC, null for
    ``wait``), ``propensity`` and optionally ``max_propensity`` (the largest probability the
    policy gave any action of that case).

    The summary holds, for the round's decisions (evenings ``as_of`` from ``first_as_of`` to
    ``last_as_of``): ``decisions``, ``reward`` (mean realised reward per decision, EUR) and its
    ``reward_se``; the same for the ladder (``ladder_decisions``, ``ladder_reward``, ...);
    ``diff`` = reward - ladder_reward with ``diff_se`` clustered by debtor; ``net`` and
    ``ladder_net`` (per debtor of the world: cash collected minus contact costs minus penalties
    over the round and its tail, the portfolio's bottom line) with ``net_diff`` and its paired
    ``net_diff_se``; ``action_mix`` and ``ladder_action_mix`` (executed actions, shares);
    ``explored_share`` (propensity < 0.5) and ``mean_1_minus_max_propensity`` (when the
    decider gives ``max_propensity``), ``ladder_explored_share``; ``violations`` with
    ``violation_reasons``, ``tail_violations``, ``missing`` (debtors without an answer, left
    waiting), ``extra_rows`` (answers for debtors not asked, ignored), ``missing_propensity``;
    ``decide_seconds`` and ``seconds``.
    """
    t_start = time.perf_counter()
    n_days = int(n_days)
    if n_days < 1 or reward_days < 1:
        raise ValueError("n_days and reward_days must be >= 1")
    live = ensure_live(world)
    T = int(live.st.t) - 1  # the evening of the round's first decisions
    last_day = world.n_days - 1 + world.extra_days
    if T + n_days > last_day:
        raise ValueError(
            f"only {last_day - T} of the world's extra days are left (asked for {n_days}): "
            "generate it with a larger extra_days"
        )
    cost = world._cost_array(costs)
    pass_tables = _accepts_tables(decide)
    ext = _Arm(world, live, T, cost)
    lad = _Arm(world, live.copy(with_log=False), T, cost) if ladder_counterfactual else None
    evenings = range(T, T + n_days + reward_days)
    if progress:
        from tqdm.auto import tqdm

        evenings = tqdm(evenings, desc="closed loop", unit="day")
    extra = 0
    for t in evenings:
        counted = t < T + n_days
        if t == T + n_days:  # the world stops here; the tail only observes the rewards
            ext.branch = live.copy()
        extra += ext.external_evening(t, decide, pass_tables, counted)["extra"] * counted
        ext.simulate_day(t + 1)
        if lad is not None:
            lad.ladder_evening(t, counted)
            lad.simulate_day(t + 1)

    frame = ext.frame(reward_days, penalty)
    dec = frame[frame["counted"].astype(bool)].reset_index(drop=True)
    tail = frame[~frame["counted"].astype(bool)].reset_index(drop=True)
    end = T + n_days + reward_days
    n_units = live.st.n_units
    net_p = ext.net(end, penalty)
    summary: dict = {
        "first_as_of": world._instant(T).isoformat(),
        "last_as_of": world._instant(T + n_days - 1).isoformat(),
        "days": n_days,
        "reward_days": reward_days,
        "decisions": int(len(dec)),
    }
    summary["reward"], summary["reward_se"] = _mean_se(dec["reward"].to_numpy(float))
    summary["net"] = float(net_p.mean())
    summary["action_mix"] = _mix(dec["action"])
    given = dec[dec["given"].astype(bool)]
    prop = given["propensity"].to_numpy(float)
    summary["explored_share"] = float((prop < EXPLORED_BELOW).mean()) if len(prop) else None
    maxp = given["max_propensity"].to_numpy(float)
    summary["mean_1_minus_max_propensity"] = (
        float(np.mean(1 - maxp[~np.isnan(maxp)])) if (~np.isnan(maxp)).any() else None
    )
    summary["missing_propensity"] = int(np.isnan(prop).sum())
    viol = dec[dec["violation"].notna()]
    summary["violations"] = int(len(viol))
    summary["violation_reasons"] = {
        str(k): int(v) for k, v in viol["violation"].value_counts().items()
    }
    summary["tail_violations"] = int(tail["violation"].notna().sum())
    summary["missing"] = int((~dec["given"].astype(bool)).sum())
    summary["extra_rows"] = int(extra)
    ladder = None
    if lad is not None:
        lframe = lad.frame(reward_days, penalty)
        ladder = lframe[lframe["counted"].astype(bool)].reset_index(drop=True)
        net_l = lad.net(end, penalty)
        summary["ladder_decisions"] = int(len(ladder))
        summary["ladder_reward"], summary["ladder_reward_se"] = _mean_se(
            ladder["reward"].to_numpy(float)
        )
        summary["diff"], summary["diff_se"] = _ratio_diff(
            dec["_unit"].to_numpy(np.int64),
            dec["reward"].to_numpy(float),
            ladder["_unit"].to_numpy(np.int64),
            ladder["reward"].to_numpy(float),
            n_units,
        )
        summary["ladder_net"] = float(net_l.mean())
        d = net_p - net_l
        summary["net_diff"] = float(d.mean())
        summary["net_diff_se"] = float(d.std(ddof=1) / np.sqrt(len(d)))
        summary["ladder_action_mix"] = _mix(ladder["action"])
        lp = ladder["propensity"].to_numpy(float)
        summary["ladder_explored_share"] = float((lp < EXPLORED_BELOW).mean()) if len(lp) else None
    summary["decide_seconds"] = round(ext.decide_seconds, 2)
    summary["seconds"] = round(time.perf_counter() - t_start, 2)
    ids = [f"D{g:0{world._width_d}d}" for g in live.st.u["dglob"].tolist()]
    net = pd.DataFrame({"debtor_id": ids, "policy": net_p})
    if lad is not None:
        net["ladder"] = net_l
    result = LoopRound(
        summary=summary,
        decisions=dec.drop(columns=["counted", "_unit"]),
        ladder=None if ladder is None else ladder.drop(columns=["counted", "_unit"]),
        net=net,
        tail_decisions=tail.drop(columns=["counted", "_unit"]),
    )
    world.loop_rounds.append(result)
    return result
