"""The synthetic world: generation, contract tables, atomic writing, reloading, ground truth."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .calendar import Calendar
from .params import (
    ACTION_CODE,
    ACTIONS,
    COMPANY_SIZES,
    DEFAULT_COSTS,
    DELIVERY_CHANNELS,
    DEPARTMENTS,
    DISPUTE_REASONS,
    DISPUTE_REVIEW,
    OUTCOMES,
    PHONE,
    WAIT,
    WorldParams,
)
from .population import HOUSEHOLD_GROUP, SECTORS, draw_extra_invoices, draw_population
from .sim import (
    INF,
    NEG,
    STAGE_DPD,
    Log,
    Simulator,
    State,
    contact_hour_ok,
    initial_state,
    phone_hour_ok,
)

DEFAULT_START = dt.date(2024, 11, 1)
DEFAULT_END = dt.date(2026, 10, 31)
#: days simulated beyond the window end for ground-truth look-ahead
HORIZON_DAYS = 130
FORMAT_VERSION = 1
DEFAULT_SLOT_HOURS = (9, 12, 15, 18)
_MAX_UNITS = 120_000


def _to_date(x: str | dt.date | pd.Timestamp) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return pd.Timestamp(x).date()


def _ids(prefix: str, idx: np.ndarray, width: int) -> pa.Array:
    s = pc.utf8_lpad(pa.array(np.asarray(idx, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def _date_arr(origin: dt.date, days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    null = days >= INF
    d = np.datetime64(origin, "D") + np.where(null, 0, days).astype("timedelta64[D]")
    return pa.array(d, type=pa.date32(), mask=null)


def _float_arr(x: np.ndarray) -> pa.Array:
    """Float column, NaN as null (an outside policy may log no propensity)."""
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    return pa.array(x, mask=nan) if nan.any() else pa.array(x)


def _cat(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    codes = np.asarray(codes, dtype=np.int64)
    null = codes < 0
    arr = np.asarray(values, dtype=object)[np.where(null, 0, codes)]
    return pa.array(arr, type=pa.string(), mask=null)


class SyntheticWorld:
    """A generated collections world: the contract tables plus the hidden state behind them.

    Build one with :func:`generate` or :func:`load_world`. ``tables`` holds the three contract
    tables as pandas frames; the ground-truth methods (:meth:`true_risk`,
    :meth:`true_action_values`, :meth:`ladder_action`) re-simulate the hidden state, which
    regeneration from ``(n_debtors, seed, start, end, params)`` reproduces exactly.
    ``scenario`` names the behavioural law the params came from (recorded, never read by
    the simulation: the params are the law).

    ``extra_days`` (closed loop, :mod:`.loop`): invoices keep being issued for that many days
    after ``end`` while the logged history still stops at ``end`` (``tables`` are exactly those
    of the world generated without them); :meth:`run_external` then lets an outside policy take
    the decisions day after day and :meth:`tables_until` exports what the collection software
    knows at any instant, its decisions included.
    """

    def __init__(
        self,
        n_debtors: int,
        seed: int,
        start: dt.date,
        end: dt.date,
        params: WorldParams,
        scenario: str = "baseline",
        extra_days: int = 0,
    ) -> None:
        if int(extra_days) < 0:
            raise ValueError("extra_days must be >= 0")
        self.scenario = str(scenario)
        self.extra_days = int(extra_days)
        self.n_debtors = int(n_debtors)
        self.seed = int(seed)
        self.start = start
        self.end = end
        self.params = params
        self.n_days = (end - start).days + 1
        self.cal = Calendar(start, self.n_days + self.extra_days + HORIZON_DAYS + 10)
        from .sim import sector_shocks

        n_weeks = self.cal.n_days // 7 + 2
        self.shocks = sector_shocks(self.seed, n_weeks, HOUSEHOLD_GROUP + 1, params)
        self.sim = Simulator(params, self.cal, self.seed, self.n_days, self.shocks)
        self.debtors, self.invoices = draw_population(
            self.n_debtors, self.n_days, self.seed, params
        )
        self._width_d = max(6, len(str(self.n_debtors)))
        self._width_i = max(7, len(str(len(self.invoices["unit"]))))
        if self.extra_days:
            # appended after the window's invoices: their numbers (ids, random streams) and so
            # the history up to ``end`` are those of the world without extra days
            extra = draw_extra_invoices(
                self.debtors, self.n_days, self.extra_days, self.seed, params
            )
            self.invoices = {k: np.concatenate([v, extra[k]]) for k, v in self.invoices.items()}
        self._arrow: dict[str, pa.Table] | None = None
        self._tables: dict[str, pd.DataFrame] | None = None
        self._live = None  # loop.Branch: the world after ``end`` (extra_days)
        self._active = None  # the branch a decider is being asked on (tables_until reads it)
        self.loop_rounds: list = []  # loop.LoopRound of each run_external call

    # ------------------------------------------------------------------ generation
    def _simulate(self, progress: bool) -> None:
        st = initial_state(self.debtors, self.invoices, self.seed, np.arange(self.n_debtors))
        log = Log()
        self.sim.run(
            st,
            self.n_days,
            log,
            last_day=self.n_days - 1,
            progress=progress,
            desc=f"synthetic world ({self.n_debtors:,} debtors)",
        )
        self._arrow = self._build_tables(st, log)
        if self.extra_days:
            from .loop import Branch

            self._live = Branch(st, log)  # type: ignore[assignment]

    def _build_tables(
        self, st: State, log: Log, last_day: int | None = None, before_s: int | None = None
    ) -> dict[str, pa.Table]:
        """The contract tables of a simulated state and its log, as known at the end of day
        ``last_day`` (default: the window's last day): invoices issued by then, events dated
        up to it, decisions taken before ``before_s`` (UTC epoch seconds), outcomes of the
        contacts made by then."""
        d, o = self.debtors, self.start
        n = self.n_debtors
        debtors = pa.table(
            {
                "debtor_id": _ids("D", np.arange(n), self._width_d),
                "segment": _cat(("B2C", "B2B"), d["b2b"].astype(np.int64)),
                "sector": _cat(SECTORS, d["sector"]),
                "company_size": _cat(COMPANY_SIZES, d["size"]),
                "department": _cat(DEPARTMENTS, d["dept"]),
                "customer_since": _date_arr(o, d["since"]),
                "credit_limit": pa.array(d["credit_limit"], from_pandas=True),
                "external_score": pa.array(d["external_score"], from_pandas=True),
                "consent_email": pa.array(d["consent"][:, 0]),
                "consent_sms": pa.array(d["consent"][:, 1]),
                "consent_whatsapp": pa.array(d["consent"][:, 2]),
                "consent_phone": pa.array(d["consent"][:, 3]),
                "language": _cat(("fr", "en"), d["lang_en"].astype(np.int64)),
            }
        )
        i = st.i
        oi = np.argsort(i["iglob"], kind="stable")
        g = {k: v[oi] for k, v in i.items()}
        end = self.n_days - 1 if last_day is None else int(last_day)
        if (g["issue"] > end).any():
            g = {k: v[g["issue"] <= end] for k, v in g.items()}
        clip = {k: np.where(g[k] <= end, g[k], INF) for k in ("paid", "disp", "resolved", "legal")}
        reason = np.where(clip["disp"] < INF, g["reason"], -1)
        invoices = pa.table(
            {
                "invoice_id": _ids("I", g["iglob"], self._width_i),
                "debtor_id": _ids("D", st.u["dglob"][g["unit"]], self._width_d),
                "issue_date": _date_arr(o, g["issue"]),
                "due_date": _date_arr(o, g["due"]),
                "amount": pa.array(g["amount"]),
                "purchase_order_ref": pa.array(g["po"]),
                "delivery_channel": _cat(DELIVERY_CHANNELS, g["chan"]),
                "paid_date": _date_arr(o, clip["paid"]),
                "dispute_date": _date_arr(o, clip["disp"]),
                "dispute_reason": _cat(DISPUTE_REASONS, reason),
                "dispute_resolved_date": _date_arr(o, clip["resolved"]),
                "legal_date": _date_arr(o, clip["legal"]),
            }
        )
        cols = log.columns()
        if not cols:
            cols = dict(
                unit=np.zeros(0, np.int64),
                day=np.zeros(0, np.int32),
                minute=np.zeros(0, np.int16),
                action=np.zeros(0, np.int8),
                propensity=np.zeros(0),
                sched_day=np.zeros(0, np.int32),
                sched_min=np.zeros(0, np.int16),
                outcome=np.zeros(0, np.int8),
            )
        if before_s is not None:
            dec = np.datetime64(o, "s").astype(np.int64) + cols["day"].astype(np.int64) * 86400
            dec += 19 * 3600 + cols["minute"].astype(np.int64) * 60
            if (dec >= before_s).any():
                cols = {k: v[dec < before_s] for k, v in cols.items()}
        # a contact still to be made has no outcome yet
        if (cols["sched_day"][cols["action"] != WAIT] > end).any():
            cols["outcome"] = np.where(cols["sched_day"] > end, -1, cols["outcome"])
        dglob = st.u["dglob"][cols["unit"]]
        order = np.lexsort((dglob, cols["minute"], cols["day"]))
        c = {k: v[order] for k, v in cols.items()}
        dglob = dglob[order]
        base = np.datetime64(o, "s").astype(np.int64)
        decided = (
            base + c["day"].astype(np.int64) * 86400 + 19 * 3600 + c["minute"].astype(np.int64) * 60
        )
        tz = self.cal.dept_tz[self.debtors["dept"][dglob]]
        sday = np.minimum(c["sched_day"], self.cal.n_days - 1)
        offs = self.cal.offset_min[tz, sday].astype(np.int64)
        sched = (
            base
            + c["sched_day"].astype(np.int64) * 86400
            + c["sched_min"].astype(np.int64) * 60
            - offs * 60
        )
        wait = c["action"] == WAIT
        ts = pa.timestamp("ms", tz="UTC")  # Parquet has no seconds unit
        actions = pa.table(
            {
                "action_id": _ids("A", np.arange(len(order)), max(8, len(str(len(order))))),
                "debtor_id": _ids("D", dglob, self._width_d),
                "decided_at": pa.array(decided * 1000, type=ts),
                "action": _cat(ACTIONS, c["action"]),
                "scheduled_at": pa.array(np.where(wait, 0, sched) * 1000, type=ts, mask=wait),
                "propensity": _float_arr(c["propensity"]),
                "outcome": _cat(OUTCOMES, np.where(wait, -1, c["outcome"])),
            }
        )
        return {"debtors": debtors, "invoices": invoices, "actions": actions}

    # ------------------------------------------------------------------ tables and I/O
    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The three contract tables as pandas frames (dates as ``datetime64``, UTC stamps)."""
        if self._tables is None:
            if self._arrow is None:
                raise RuntimeError("world has no tables (load_world with tables=False?)")
            self._tables = {k: t.to_pandas(date_as_object=False) for k, t in self._arrow.items()}
        return self._tables

    def meta(self) -> dict:
        """What :func:`load_world` needs to rebuild the hidden state."""
        return {
            "format": FORMAT_VERSION,
            "generator": "scoring.synthetic",
            "n_debtors": self.n_debtors,
            "seed": self.seed,
            "scenario": self.scenario,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "params": self.params.to_dict(),
            **({"extra_days": self.extra_days} if self.extra_days else {}),
        }

    def write(self, out_dir: str | os.PathLike, until=None) -> Path:
        """Write ``debtors/invoices/actions.parquet`` and ``world.json`` atomically.

        Everything goes to a temporary sibling folder which is then renamed into place; a
        failure leaves ``out_dir`` untouched (a previous version is replaced only at the end).
        ``until``: write :meth:`tables_until` of that instant instead of the history (closed
        loop; ``world.json`` records it, but :func:`load_world` rebuilds only the history's
        hidden state: the outside policy's decisions are in the tables only).
        """
        arrow, meta = self._arrow, self.meta()
        if until is not None:
            arrow = self._arrow_until(until)
            meta["tables_until"] = self._instant(until).isoformat()
        if arrow is None:
            raise RuntimeError("world has no tables to write")
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for name, table in arrow.items():
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            (tmp / "world.json").write_text(json.dumps(meta, indent=1))
            old = None
            if out.exists():
                old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(out, old)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    # ------------------------------------------------------------------ closed loop
    def _instant(self, when) -> pd.Timestamp:
        """A day number or a ``datetime.date`` means the end of that day (midnight UTC after
        it); anything else is an instant (naive: UTC)."""
        if isinstance(when, int | np.integer):
            return pd.Timestamp(self.start, tz="UTC") + pd.Timedelta(days=int(when) + 1)
        if isinstance(when, dt.date) and not isinstance(when, dt.datetime):
            return pd.Timestamp(when, tz="UTC") + pd.Timedelta(days=1)
        ts = pd.Timestamp(when)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    @property
    def now(self) -> pd.Timestamp:
        """How far the world has run: the history's end (midnight UTC after ``end``), then the
        end of the last :meth:`run_external` round (an instant at midnight UTC, when the next
        decisions are due)."""
        if self._live is None:
            return self._instant(self.n_days - 1)
        return self._instant(int(self._live.st.t) - 1)

    def _arrow_until(self, when) -> dict[str, pa.Table]:
        ts = self._instant(when)
        rel = (ts - pd.Timestamp(self.start, tz="UTC")) // pd.Timedelta(seconds=1)
        last_day = int(rel // 86400) - 1  # days that ended by ``when``
        if last_day < 0:
            raise ValueError(f"{ts} is before the end of the world's first day {self.start}")
        branch = self._active if self._active is not None else self._live
        if branch is None:
            if ts == self._instant(self.n_days - 1) and self._arrow is not None:
                return self._arrow
            raise ValueError(
                "tables_until needs a world generated with extra_days (otherwise only the "
                f"history's tables, at {self.now}, are known)"
            )
        sim_now = self._instant(int(branch.st.t) - 1)
        if ts > sim_now:
            raise ValueError(f"the world has only been simulated until {sim_now}, not {ts}")
        before_s = -(-int(ts.value) // 10**9)  # decided_at < when, to the second
        return self._build_tables(branch.st, branch.log, last_day, before_s)

    def tables_until(self, when) -> dict[str, pd.DataFrame]:
        """The contract tables as the collection software knows them at ``when``.

        ``when``: an instant (naive = UTC), or a day number / ``datetime.date`` for the end of
        that day. Events (payments, disputes, resolutions, legal hand-overs) dated on days that
        ended by ``when``, invoices issued by then, decisions taken before ``when`` (the
        ladder's and, after ``end``, the outside policy's with their propensities), and the
        outcomes of the contacts already made (later ones are null, as ``/outcomes`` would not
        have reported them yet). ``tables_until(world.end)`` equals :attr:`tables`. While a
        decider is being asked (:meth:`run_external`), it reads the branch being simulated.
        """
        arrow = self._arrow_until(when)
        return {k: t.to_pandas(date_as_object=False) for k, t in arrow.items()}

    def run_external(
        self,
        n_days: int,
        decide,
        ladder_counterfactual: bool = True,
        reward_days: int = 14,
        penalty: float = 50.0,
        costs: dict[str, float] | None = None,
        progress: bool = False,
    ):
        """Let ``decide`` take the world's decisions for the next ``n_days`` evenings.

        See :func:`scoring.synthetic.loop.run_external` (returns a
        :class:`~scoring.synthetic.loop.LoopRound`, also appended to :attr:`loop_rounds`).
        """
        from .loop import run_external

        return run_external(
            self,
            n_days,
            decide,
            ladder_counterfactual=ladder_counterfactual,
            reward_days=reward_days,
            penalty=penalty,
            costs=costs,
            progress=progress,
        )

    # ------------------------------------------------------------------ ground truth helpers
    def debtor_index(self, debtor_ids: Iterable[str]) -> np.ndarray:
        """Global indices of debtor ids ``D000123`` (raises on unknown ids)."""
        ids = pd.Series(list(debtor_ids), dtype="str")
        if not ids.str.fullmatch(r"D\d+").all():
            raise KeyError("unknown debtor id format")
        idx = ids.str.slice(1).astype(np.int64).to_numpy()
        if (idx < 0).any() or (idx >= self.n_debtors).any():
            raise KeyError("debtor id out of range")
        return idx

    def _day(self, as_of: str | dt.datetime | pd.Timestamp) -> tuple[int, pd.Timestamp]:
        ts = pd.Timestamp(as_of)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        day = (ts.date() - self.start).days
        if not 1 <= day <= self.n_days:
            raise ValueError(f"as_of {ts} outside the generated window {self.start}..{self.end}")
        return day, ts

    def _state_at(self, idx: np.ndarray, day: int) -> State:
        """Exact state for the (sorted unique) debtors ``idx`` after day ``day - 1``."""
        st = initial_state(self.debtors, self.invoices, self.seed, idx)
        self.sim.run(st, day, None, last_day=self.n_days - 1)
        return st

    def _case_mask(self, st: State, day: int) -> np.ndarray:
        i = st.i
        return (
            (i["issue"] < day) & (i["paid"] >= INF) & (i["legal"] >= INF) & (i["due"] <= day + 15)
        )

    def _slot_utc(self, dglob: np.ndarray, day: np.ndarray, minute: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of local ``day`` (window day number) at local ``minute`` of the
        day, in each debtor's time zone."""
        tz = self.cal.dept_tz[self.debtors["dept"][dglob]]
        day = np.asarray(day, dtype=np.int64)
        offs = self.cal.offset_min[tz, np.clip(day, 0, self.cal.n_days - 1)].astype(np.int64)
        base = np.datetime64(self.start, "s").astype(np.int64)
        return base + day * 86400 + np.asarray(minute, dtype=np.int64) * 60 - offs * 60

    def _local_slot(self, dglob: np.ndarray, utc_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`_slot_utc`: (local day number, local minute of the day) of UTC
        epoch seconds ``utc_s`` (broadcast against ``dglob``; seconds are truncated)."""
        tz = self.cal.dept_tz[self.debtors["dept"][dglob]]
        base = np.datetime64(self.start, "s").astype(np.int64)
        rel = np.asarray(utc_s, dtype=np.int64) - base
        d0 = rel // 86400
        offs = self.cal.offset_min[tz, np.clip(d0, 0, self.cal.n_days - 1)]
        local = rel + offs.astype(np.int64) * 60
        return local // 86400, (local % 86400) // 60

    @staticmethod
    def _chunks(n: int, per_item: int) -> list[slice]:
        step = max(1, _MAX_UNITS // max(per_item, 1))
        return [slice(a, min(a + step, n)) for a in range(0, n, step)]

    # ------------------------------------------------------------------ ground truth
    def true_risk(
        self,
        debtor_ids: Sequence[str],
        as_of: str | dt.datetime | pd.Timestamp,
        n_replicas: int = 64,
    ) -> pd.DataFrame:
        """True default and dispute probabilities of the cases at ``as_of``.

        ``p_default``: probability that some invoice open at ``as_of`` (CONTRACT §3 case
        definition, issued before ``as_of``) is still unpaid 90 days after its due date;
        ``p_dispute``: probability that a dispute is raised on such an invoice within 90 days
        after ``as_of``. Both under the logging policy going forward, by Monte Carlo over
        ``n_replicas`` replicas resumed from the exact hidden state. Debtors without an open
        invoice get ``has_case=False`` and probabilities 0.
        """
        ids = list(debtor_ids)
        idx = self.debtor_index(ids)
        day, _ = self._day(as_of)
        uniq, inv = np.unique(idx, return_inverse=True)
        pdef = np.zeros(len(uniq))
        pdis = np.zeros(len(uniq))
        has = np.zeros(len(uniq), bool)
        K = int(n_replicas)
        horizon = day + 15 + 91
        for sl in self._chunks(len(uniq), K):
            st = self._state_at(uniq[sl], day)
            case = self._case_mask(st, day)
            st.i["case0"] = case
            n = st.n_units
            has[sl] = np.bincount(st.i["unit"][case], minlength=n) > 0
            rst = st.take(np.repeat(np.arange(n), K), np.tile(np.arange(1, K + 1), n), self.seed)
            self.sim.run(rst, min(horizon, self.cal.n_days - 8), None, last_day=self.cal.n_days - 8)
            i = rst.i
            c = i["case0"]
            dflt = c & (i["paid"] > i["due"] + 90)
            disp = c & (i["disp"] >= day) & (i["disp"] < day + 90)
            nu = rst.n_units
            d_u = np.bincount(i["unit"][dflt], minlength=nu) > 0
            s_u = np.bincount(i["unit"][disp], minlength=nu) > 0
            pdef[sl] = d_u.reshape(n, K).mean(axis=1)
            pdis[sl] = s_u.reshape(n, K).mean(axis=1)
        return pd.DataFrame(
            {
                "debtor_id": pd.Series(ids, dtype="str"),
                "p_default": pdef[inv],
                "p_dispute": pdis[inv],
                "has_case": has[inv],
            }
        )

    def true_action_values(
        self,
        debtor_ids: Sequence[str],
        as_of: str | dt.datetime | pd.Timestamp,
        actions: Sequence[str] | None = None,
        slots: Sequence[pd.Timestamp] | None = None,
        costs: dict[str, float] | None = None,
        penalty: float = 50.0,
        n_replicas: int = 32,
        first_replica: int = 1,
        hours: Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """True expected 14-day reward of each action at each slot, then the logging policy.

        Reward (CONTRACT §3): amount paid within 14 days of ``as_of`` on the debtor's invoices
        open at ``as_of``, minus the action's cost, minus ``penalty`` per dispute or complaint
        raised within the 14 days. Monte Carlo with common random numbers across actions and
        slots (replica r uses the same random streams for every action);
        ``expected_reward_se`` is the standard error of the mean over the replicas.

        ``slots``: timestamps applied to every debtor (converted to the debtor's local day and
        time, to the minute: a slot at 14:30 local is simulated at 14:30). By default the grid
        is each of the next 7 local days at ``hours`` (local hours, fractions allowed: 10.5 is
        10:30; default 9, 12, 15 and 18), keeping slots after ``as_of``. ``wait`` gets one row
        with ``scheduled_at`` null. The ``compliant`` column says whether the action at that
        slot satisfies CONTRACT §4.

        ``first_replica`` (>= 1) numbers the replicas ``first_replica .. first_replica +
        n_replicas - 1``: two calls with disjoint ranges give independent estimates, e.g. to
        value a per-case best action chosen on one set without the upward bias of the maximum.
        """
        if first_replica < 1:
            raise ValueError("first_replica must be >= 1 (replica 0 is the logged history)")
        if slots is not None and hours is not None:
            raise ValueError("pass either slots or hours, not both")
        acts = [ACTION_CODE[a] for a in (actions if actions is not None else ACTIONS)]
        cost_arr = self._cost_array(costs)
        ids = list(debtor_ids)
        idx = self.debtor_index(ids)
        day, ts = self._day(as_of)
        uniq, first_pos = np.unique(idx, return_index=True)
        K = int(n_replicas)
        as_of_s = int(ts.value // 10**9)
        # candidate slots, per debtor: local (day, minute of the day)
        if slots is None:
            mins = _slot_minutes(DEFAULT_SLOT_HOURS if hours is None else hours)
            s_day = day + np.repeat(np.arange(7), len(mins))
            s_min = np.tile(mins, 7)
            s_day = np.broadcast_to(s_day, (len(uniq), len(s_day)))
            s_min = np.broadcast_to(s_min, s_day.shape)
        else:
            stamps = np.array(
                [pd.Timestamp(s).tz_convert("UTC").value // 10**9 for s in slots], dtype=np.int64
            )
            s_day, s_min = self._local_slot(uniq[:, None], stamps[None, :])
        n_slots = s_day.shape[1]  # type: ignore[misc]
        var_act, var_slot = [], []
        for a in acts:
            if a == WAIT:
                var_act.append(WAIT)
                var_slot.append(-1)
            else:
                var_act += [a] * n_slots
                var_slot += list(range(n_slots))
        var_act = np.array(var_act, np.int64)  # type: ignore[assignment]
        var_slot = np.array(var_slot, np.int64)  # type: ignore[assignment]
        nv = len(var_act)
        n = len(uniq)
        # one variant per (debtor, action, slot), debtor-major
        pos = np.repeat(np.arange(n), nv)
        va = np.tile(var_act, n)
        vs = np.tile(np.maximum(var_slot, 0), n)
        vd = np.where(va == WAIT, day, s_day[pos, vs]).astype(np.int64)
        vm = np.where(va == WAIT, 0, s_min[pos, vs]).astype(np.int64)
        st, has, agg, al, f, fp = self._decision_state(uniq, day)
        reward, bad = self._replay(
            st, has, agg, pos, va, vd, vm, day, first_replica, K, cost_arr, penalty
        )
        comp, utc, later = self._compliant(st, al, f, fp, pos, uniq[pos], va, vd, vm, day, as_of_s)
        res = pd.DataFrame(
            {
                "debtor_idx": uniq[pos],
                "action": np.asarray(ACTIONS, dtype=object)[va],
                "scheduled_s": np.where(va == WAIT, NEG, utc),
                "expected_reward": reward.mean(axis=1),
                "p_dispute_or_complaint": bad.mean(axis=1),
                "compliant": comp,
                "has_case": has[pos],
                "later": later,
                "expected_reward_se": _se(reward),
            }
        )
        if slots is None:
            res = res[res["later"]]
        res = res.drop(columns="later")
        sched = pd.to_datetime(
            res["scheduled_s"].where(res["scheduled_s"] > NEG), unit="s", utc=True
        )
        out = pd.DataFrame(
            {
                "debtor_idx": res["debtor_idx"].to_numpy(),
                "action": res["action"].astype("str").to_numpy(),
                "scheduled_at": sched.to_numpy(),
                "expected_reward": res["expected_reward"].to_numpy(),
                "p_dispute_or_complaint": res["p_dispute_or_complaint"].to_numpy(),
                "compliant": res["compliant"].to_numpy(),
                "has_case": res["has_case"].to_numpy(),
                "expected_reward_se": res["expected_reward_se"].to_numpy(),
            }
        )
        # restore the caller's order of debtors
        order = {g: k for k, g in enumerate(idx[np.sort(first_pos)])}
        out["_o"] = out["debtor_idx"].map(order)
        out = out.sort_values(["_o"], kind="stable").drop(columns="_o")
        out.insert(
            0, "debtor_id", _ids("D", out["debtor_idx"].to_numpy(), self._width_d).to_pandas()
        )
        out["scheduled_at"] = pd.to_datetime(out["scheduled_at"], utc=True)
        return out.drop(columns="debtor_idx").reset_index(drop=True)

    def true_values_of(
        self,
        choices: pd.DataFrame,
        as_of: str | dt.datetime | pd.Timestamp,
        n_replicas: int = 32,
        first_replica: int = 1,
        penalty: float = 50.0,
        costs: dict[str, float] | None = None,
    ) -> pd.DataFrame:
        """True value of any strategy's choices at ``as_of``: one row per row of ``choices``.

        ``choices`` has ``debtor_id, action, scheduled_at`` (UTC, any time to the minute, e.g.
        every 30 minutes; null for ``wait``, ignored for ``wait``). A debtor may appear on
        several rows (each row is its own counterfactual). Returns the three columns as given
        plus ``expected_reward``, ``expected_reward_se`` (standard error over the replicas),
        ``p_dispute_or_complaint``, ``compliant`` (CONTRACT §4, exactly as
        :meth:`true_action_values`) and ``has_case``.

        The reward, the replicas and their random streams are those of
        :meth:`true_action_values`: with the same ``first_replica`` and ``n_replicas``, a row
        gets exactly the value that :meth:`true_action_values` gives the same (action, slot),
        and two strategies valued on the same replicas differ only by their choices (common
        random numbers: the difference of their means is much more precise than either mean).
        A non-compliant choice is simulated as it is (an off-hours contact angers the debtor).
        """
        if first_replica < 1:
            raise ValueError("first_replica must be >= 1 (replica 0 is the logged history)")
        missing = {"debtor_id", "action", "scheduled_at"} - set(choices.columns)
        if missing:
            raise ValueError(f"choices lacks the columns {sorted(missing)}")
        ids = choices["debtor_id"].astype("str").tolist()
        acts = choices["action"].astype("str").to_numpy()
        unknown = sorted(set(acts) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown actions {unknown}; valid: {list(ACTIONS)}")
        va = np.array([ACTION_CODE[a] for a in acts], dtype=np.int64)
        sched = pd.to_datetime(choices["scheduled_at"], utc=True)
        nat = sched.isna().to_numpy()
        wait = va == WAIT
        if (nat & ~wait).any():
            first = int(np.flatnonzero(nat & ~wait)[0])
            raise ValueError(f"row {first}: a contact ({acts[first]}) needs a scheduled_at")
        idx = self.debtor_index(ids)
        day, ts = self._day(as_of)
        as_of_s = int(ts.value // 10**9)
        cost_arr = self._cost_array(costs)
        uniq, pos = np.unique(idx, return_inverse=True)
        secs = sched.dt.tz_localize(None).to_numpy("datetime64[s]").astype(np.int64)
        vd, vm = self._local_slot(idx, np.where(nat, 0, secs))
        vd = np.where(wait, day, vd).astype(np.int64)
        vm = np.where(wait, 0, vm).astype(np.int64)
        st, has, agg, al, f, fp = self._decision_state(uniq, day)
        K = int(n_replicas)
        reward, bad = self._replay(
            st, has, agg, pos, va, vd, vm, day, first_replica, K, cost_arr, penalty
        )
        comp, _, _ = self._compliant(st, al, f, fp, pos, idx, va, vd, vm, day, as_of_s)
        return pd.DataFrame(
            {
                "debtor_id": pd.Series(ids, dtype="str"),
                "action": pd.Series(acts, dtype="str"),
                "scheduled_at": sched.to_numpy(),
                "expected_reward": reward.mean(axis=1),
                "expected_reward_se": _se(reward),
                "p_dispute_or_complaint": bad.mean(axis=1),
                "compliant": comp,
                "has_case": has[pos],
            }
        ).assign(scheduled_at=lambda x: pd.to_datetime(x["scheduled_at"], utc=True))

    # ------------------------------------------------------------------ counterfactual engine
    @staticmethod
    def _cost_array(costs: dict[str, float] | None) -> np.ndarray:
        cost = dict(DEFAULT_COSTS)
        if costs:
            unknown = sorted(set(costs) - set(ACTIONS))
            if unknown:
                raise ValueError(f"costs for unknown actions {unknown}")
            cost.update(costs)
        return np.array([cost[a] for a in ACTIONS])

    def _decision_state(
        self, uniq: np.ndarray, day: int
    ) -> tuple[State, np.ndarray, dict, np.ndarray, np.ndarray, np.ndarray]:
        """Exact state of the debtors ``uniq`` at the decision (evening of ``day - 1``) and what
        the deciding software sees: (state with the ``case0`` invoice flags, has a case,
        aggregates, actions allowed by CONTRACT §4, feasible days, feasible phone days)."""
        st = self._state_at(uniq, day)
        case = self._case_mask(st, day)
        st.i["case0"] = case
        has = np.bincount(st.i["unit"][case], minlength=st.n_units) > 0
        agg = self.sim._aggregates(st, day - 1)
        al, f, fp = self.sim.allowed_actions(
            st, np.arange(st.n_units), day - 1, agg, self.cal.n_days - 8, compliance_only=True
        )
        return st, has, agg, al, f, fp

    def _replay(
        self,
        st: State,
        has: np.ndarray,
        agg: dict,
        pos: np.ndarray,
        va: np.ndarray,
        vd: np.ndarray,
        vm: np.ndarray,
        day: int,
        first_replica: int,
        K: int,
        cost_arr: np.ndarray,
        penalty: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Simulate variant ``v`` (unit ``pos[v]`` of ``st`` doing action ``va[v]`` on local day
        ``vd[v]`` at minute ``vm[v]``, then the logging policy) in replicas ``first_replica ..
        first_replica + K - 1`` for 14 days. Returns the rewards ``[n_variants, K]`` and whether
        a dispute or complaint was raised. A unit's random streams depend only on its debtor
        and replica number, so results do not depend on how variants are batched."""
        nv = len(pos)
        reward = np.empty((nv, K))
        bad_any = np.empty((nv, K), dtype=bool)
        for sl in self._chunks(nv, K):
            m = sl.stop - sl.start
            units = np.repeat(pos[sl], K)
            reps = np.tile(np.arange(first_replica, first_replica + K), m)
            rst = st.take(units, reps, self.seed)
            a = np.repeat(va[sl], K)
            sd = np.repeat(vd[sl], K)
            u = rst.u
            dpd = agg["maxdpd"][units]
            stage = np.where(has[units], (dpd[:, None] >= STAGE_DPD[None, :]).sum(axis=1) - 1, -1)
            contact = a != WAIT
            u["pend_day"][:] = np.where(contact, sd, INF)
            u["pend_act"][:] = a
            u["pend_min"][:] = np.where(contact, np.repeat(vm[sl], K), 0)
            u["pend_row"][:] = -1
            u["next_dec"][:] = np.where(contact, sd + 1, day + 7)
            u["last_stage"][:] = stage
            u["last_dec"][:] = day
            u["last_review"][a == DISPUTE_REVIEW] = day
            u["n_complaints"][:] = 0
            u["n_disputes"][:] = 0
            self.sim.run(rst, day + 14, None, last_day=self.cal.n_days - 8)
            i = rst.i
            paid = i["case0"] & (i["paid"] >= day) & (i["paid"] < day + 14)
            amt = np.bincount(i["unit"][paid], weights=i["amount"][paid], minlength=rst.n_units)
            bad = u["n_complaints"] + u["n_disputes"]
            reward[sl] = (amt - cost_arr[a] - penalty * bad).reshape(m, K)
            bad_any[sl] = (bad > 0).reshape(m, K)
        return reward, bad_any

    def _compliant(
        self,
        st: State,
        al: np.ndarray,
        f: np.ndarray,
        fp: np.ndarray,
        pos: np.ndarray,
        dglob: np.ndarray,
        va: np.ndarray,
        vd: np.ndarray,
        vm: np.ndarray,
        day: int,
        as_of_s: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CONTRACT §4 verdict of each variant (``wait`` always compliant), its UTC time and
        whether it is after ``as_of``. The slot must fall on one of the local days ``day ..
        day + 6``, a compliant day for the action (rules 1, 4, 7 and the phone's weekdays), in
        the contact hours (and the phone hours for calls, ``[start, end)`` to the minute), after
        ``as_of``; the action must be allowed (consent, disputes, legal prerequisites)."""
        p = self._compliance_parts(st, al, f, fp, pos, dglob, va, vd, vm, day, as_of_s)
        return p["compliant"], p["utc"], p["later"] | p["wait"]

    def _compliance_parts(
        self,
        st: State,
        al: np.ndarray,
        f: np.ndarray,
        fp: np.ndarray,
        pos: np.ndarray,
        dglob: np.ndarray,
        va: np.ndarray,
        vd: np.ndarray,
        vm: np.ndarray,
        day: int,
        as_of_s: int,
    ) -> dict[str, np.ndarray]:
        """The pieces of :meth:`_compliant`'s verdict: ``allowed`` (the action, by consent,
        disputes, legal prerequisites, reliable customers; the days of rules 6 and 7 counted at
        the contact's local day, any formal notice that got no payment qualifying, as the
        policy's rule engine reads them), ``in_window`` (local day within
        ``day .. day + 6``), ``day_ok`` (in the window and a compliant day for the action),
        ``hour_ok``, ``later`` (after ``as_of``), ``wait``, ``utc`` and ``compliant``."""
        k = vd - day
        kin = (k >= 0) & (k < f.shape[1])
        kc = np.clip(k, 0, f.shape[1] - 1)
        is_ph = va == PHONE
        day_ok = np.where(is_ph, fp[pos, kc], f[pos, kc]) & kin
        h = vm / 60.0
        hour_ok = contact_hour_ok(h) & (~is_ph | phone_hour_ok(st.u["b2b"][pos], h))
        utc = self._slot_utc(dglob, vd, vm)
        wait = va == WAIT
        later = utc > as_of_s
        agg = self.sim._aggregates(st, day - 1)
        timing = self.sim.legal_timing_ok(st, pos, day - 1, agg, va, vd)
        allowed = al[pos, va] & timing
        comp = allowed & day_ok & hour_ok & later
        comp[wait] = True
        return dict(
            compliant=comp,
            utc=utc,
            later=later,
            wait=wait,
            allowed=allowed,
            in_window=kin,
            day_ok=day_ok,
            hour_ok=hour_ok,
        )

    def ladder_action(
        self, debtor_ids: Sequence[str], as_of: str | dt.datetime | pd.Timestamp
    ) -> pd.DataFrame:
        """The logging policy's greedy (no exploration) choice at ``as_of`` for each debtor.

        Returns ``debtor_id, action, scheduled_at, has_case`` (``wait`` has no slot; debtors
        without a case get ``wait``). The slot is the first compliant day and the policy's
        randomised hour.
        """
        ids = list(debtor_ids)
        idx = self.debtor_index(ids)
        day, ts = self._day(as_of)
        uniq, inv = np.unique(idx, return_inverse=True)
        st = self._state_at(uniq, day)
        t = day - 1
        agg = self.sim._aggregates(st, t)
        D = np.arange(st.n_units)
        al, f, fp = self.sim.allowed_actions(st, D, t, agg, self.cal.n_days - 8)
        _, min_ph = self.sim.choose_slot(st, D, t, np.full(len(D), PHONE), f, fp, st.u["dkey"])
        _, min_any = self.sim.choose_slot(st, D, t, np.full(len(D), WAIT), f, fp, st.u["dkey"])
        # only slots after as_of: drop today when its slot has passed
        days = t + 1 + np.arange(7)
        as_of_s = int(ts.value // 10**9)
        late_any = (
            self._slot_utc(
                uniq[:, None],
                np.broadcast_to(days, f.shape),
                np.broadcast_to(min_any[:, None], f.shape),
            )
            > as_of_s
        )
        late_ph = (
            self._slot_utc(
                uniq[:, None],
                np.broadcast_to(days, f.shape),
                np.broadcast_to(min_ph[:, None], f.shape),
            )
            > as_of_s
        )
        f, fp = f & late_any, fp & late_ph
        al[:, 1:] &= f.any(axis=1)[:, None]  # type: ignore[index]
        al[:, PHONE] &= fp.any(axis=1)
        act = self.sim.ladder(st, D, t, agg, al)
        act = np.where(agg["has_case"], act, WAIT)
        feas = np.where((act == PHONE)[:, None], fp, f)
        sday = (t + 1 + np.argmax(feas, axis=1)).astype(np.int64)
        minute = np.where(act == PHONE, min_ph, min_any)
        utc = self._slot_utc(uniq, sday, minute)
        sched = pd.to_datetime(
            pd.Series(np.where(act == WAIT, np.nan, utc.astype(float))), unit="s", utc=True
        )
        return pd.DataFrame(
            {
                "debtor_id": pd.Series(ids, dtype="str"),
                "action": pd.Series(np.asarray(ACTIONS, dtype=object)[act][inv], dtype="str"),
                "scheduled_at": sched.to_numpy()[inv],
                "has_case": agg["has_case"][inv],
            }
        ).assign(scheduled_at=lambda x: pd.to_datetime(x["scheduled_at"], utc=True))


def _slot_minutes(hours: Iterable[float]) -> np.ndarray:
    """Local hours (fractions allowed: 10.5 is 10:30) as minutes of the day."""
    h = np.asarray(list(hours), dtype=np.float64)
    if h.size == 0 or not np.isfinite(h).all() or (h < 0).any() or (h >= 24).any():
        raise ValueError(f"hours must be local hours in [0, 24), got {h.tolist()}")
    return np.round(h * 60).astype(np.int64)


def _se(x: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the last axis (NaN with a single replica)."""
    k = x.shape[-1]
    if k < 2:
        return np.full(x.shape[:-1], np.nan)
    return x.std(axis=-1, ddof=1) / np.sqrt(k)


def generate(
    n_debtors: int,
    seed: int = 0,
    start: str | dt.date = DEFAULT_START,
    end: str | dt.date = DEFAULT_END,
    params: WorldParams | None = None,
    progress: bool = True,
    scenario: str | None = None,
    extra_days: int = 0,
) -> SyntheticWorld:
    """Generate a synthetic world of ``n_debtors`` debtors over ``start .. end`` (inclusive).

    ``scenario`` picks a behavioural law from :data:`scoring.synthetic.scenarios.SCENARIOS`
    (default ``baseline``, the historical world); ``params`` instead gives the params directly
    (recorded as scenario ``custom`` unless ``scenario`` names it). Deterministic: the same
    arguments give byte-identical tables.

    ``extra_days``: invoices go on being issued for that many days after ``end``, for an
    outside policy to decide on (:meth:`SyntheticWorld.run_external`); the tables (the
    ladder's history up to ``end``) are those of the same world without extra days.
    """
    from .scenarios import get_scenario

    s, e = _to_date(start), _to_date(end)
    if e <= s:
        raise ValueError("end must be after start")
    if params is None:
        name = scenario or "baseline"
        params = get_scenario(name).params()
    else:
        name = scenario or ("baseline" if params.to_dict() == WorldParams().to_dict() else "custom")
    w = SyntheticWorld(n_debtors, seed, s, e, params, scenario=name, extra_days=extra_days)
    w._simulate(progress)
    return w


def load_world(data_dir: str | os.PathLike, tables: bool = True) -> SyntheticWorld:
    """Rebuild a world written by :meth:`SyntheticWorld.write` (hidden state regenerated).

    The params stored in ``world.json`` are the law (fields missing from older files take
    their defaults, which are the baseline's); the scenario name is restored for information.

    With ``tables=True`` the Parquet tables are read back as :attr:`SyntheticWorld.tables`.
    """
    d = Path(data_dir)
    meta = json.loads((d / "world.json").read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported world format {meta.get('format')}")
    w = SyntheticWorld(
        meta["n_debtors"],
        meta["seed"],
        _to_date(meta["start"]),
        _to_date(meta["end"]),
        WorldParams.from_dict(meta["params"]),
        scenario=meta.get("scenario", "baseline"),
        extra_days=int(meta.get("extra_days", 0)),
    )
    if tables:
        w._arrow = {
            k: pq.read_table(d / f"{k}.parquet") for k in ("debtors", "invoices", "actions")
        }
    return w


def write_sample(
    out: str | os.PathLike = "data/synthetic/sample", n: int = 400, seed: int = 7
) -> Path:
    """Generate and write the small committed sample data set."""
    return generate(n, seed=seed, progress=False).write(out)
