"""Day-stepping simulator of the collections world, vectorised over debtors and invoices.

One *unit* is one debtor in one replica of the world (the generated world is replica 0;
ground-truth Monte-Carlo runs tile units into replicas 1..K). Each simulated day runs:

1. weekly update of the hidden financial stress (AR(1) + crisis regime + sector shocks);
2. newly issued invoices join the live set;
3. contacts scheduled for today are made: reach, outcome and effect on the debtor;
4. payments, spontaneous disputes, dispute resolutions;
5. evening decision batch of the logging policy (escalation ladder with epsilon exploration),
   which schedules the next contact in a compliant slot within 7 days.

Contact times are kept to the minute (``pend_min``: local minute of the day): a contact at
14:30 is simulated at 14.5 h, and the reach curves are continuous in the hour. The ladder
itself schedules on the hour.

All randomness comes from :mod:`.rng` (counter-based), so a run on a subset of debtors
reproduces the full run for those debtors exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rng as R
from .calendar import Calendar
from .params import COMPLAINT as OUT_COMPLAINT
from .params import (
    DISPUTE_RAISED,
    DISPUTE_REVIEW,
    EMAIL,
    FORMAL_NOTICE,
    LEGAL,
    LETTER,
    N_ACTIONS,
    NO_OUTCOME,
    NOT_REACHED,
    PAYMENT_PLAN,
    PHONE,
    PROMISE,
    REACHED,
    SMS,
    WAIT,
    WHATSAPP,
    WorldParams,
)

INF = 1 << 30
NEG = -(1 << 30)

# random streams
S_STRESS, S_CRISIS, S_REACH, S_COMPLAIN, S_DISPUTE, S_PROMISE, S_PLAN = range(7)
S_PAY, S_SPONT, S_REASON, S_RESOLVE, S_INSTAL, S_EXPLORE, S_SLOT, S_MINUTE = range(7, 15)

#: hours (local) at which the logging policy schedules contacts (on the hour)
HOURS_ANY = np.arange(8, 20)
HOURS_PHONE_B2B = np.arange(9, 18)
HOURS_PHONE_B2C = np.array([10, 11, 12, 14, 15, 16, 17, 18, 19])

#: ladder fallback chains per stage (first allowed action is the ladder's choice)
LADDER: dict[int, tuple[int, ...]] = {
    0: (EMAIL, SMS, WAIT),
    1: (EMAIL, SMS, LETTER),
    2: (SMS, EMAIL, LETTER),
    3: (LETTER,),
    4: (PHONE, LETTER),
    5: (FORMAL_NOTICE, LETTER),
    6: (LEGAL, FORMAL_NOTICE, PHONE, LETTER),
}
STAGE_DPD = np.array([-6, 1, 10, 20, 30, 45, 60])
RELIABLE_TENURE = 3 * 365 - 9  # generous, so the policy treats borderline debtors as reliable
RELIABLE_LATE_WINDOW = 357


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def phone_hour_ok(b2b: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Phone-call hour rule (CONTRACT §4.2) for local times in hours (14:30 is 14.5).

    Windows are ``[start, end)``, as in the policy's compliance engine: B2B 09:00-18:00, B2C
    10:00-13:00 and 14:00-20:00 (a call at 13:00 or 18:00 sharp is out of hours).
    """
    return np.where(
        b2b,
        (hour >= 9) & (hour < 18),
        ((hour >= 10) & (hour < 13)) | ((hour >= 14) & (hour < 20)),
    )


def contact_hour_ok(hour: np.ndarray) -> np.ndarray:
    """Contact-hour rule (CONTRACT §4.2): 08:00-20:00 local, ``[start, end)``."""
    return (hour >= 8) & (hour < 20)


@dataclass
class State:
    """Simulation state: ``u`` holds per-unit arrays, ``i`` per-invoice arrays.

    Invoices are kept sorted by issue day; ``i['unit']`` indexes into the unit arrays.
    """

    u: dict[str, np.ndarray]
    i: dict[str, np.ndarray]
    t: int = 0  # next day to simulate
    live: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ptr: int = 0  # first invoice not yet issued

    @property
    def n_units(self) -> int:
        return len(self.u["dkey"])

    def take(self, units: np.ndarray, replica: np.ndarray, seed: int) -> State:
        """New state made of copies of ``units`` (with replica numbers ``replica``).

        Only invoices still unpaid are carried over. Random keys are re-derived so each
        replica gets its own random streams, shared by units with equal replica numbers.
        """
        units = np.asarray(units, dtype=np.int64)
        u = {k: v[units].copy() for k, v in self.u.items()}
        u["rep"] = np.asarray(replica, dtype=np.int64).copy()
        u["dkey"] = R.entity_keys(seed, u["dglob"], u["rep"])
        inv_unit = self.i["unit"]
        unpaid = np.flatnonzero(self.i["paid"] >= INF)
        # map old unit -> list of new units
        order = np.argsort(units, kind="stable")
        su = units[order]
        lo = np.searchsorted(su, inv_unit[unpaid], side="left")
        hi = np.searchsorted(su, inv_unit[unpaid], side="right")
        cnt = hi - lo
        src = np.repeat(unpaid, cnt)
        start = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        new_unit = order[start]
        i = {k: v[src].copy() for k, v in self.i.items()}
        i["unit"] = new_unit.astype(np.int64)
        io = np.lexsort((i["unit"], i["issue"]))
        i = {k: v[io] for k, v in i.items()}
        i["ikey"] = R.entity_keys(seed ^ 0x5A5A, i["iglob"], u["rep"][i["unit"]])
        st = State(u=u, i=i, t=self.t)
        st.ptr = int(np.searchsorted(i["issue"], self.t, side="left"))
        st.live = np.arange(st.ptr, dtype=np.int64)
        return st


def initial_state(deb: dict, inv: dict, seed: int, debtor_idx: np.ndarray) -> State:
    """State at day 0 for the debtors ``debtor_idx`` (global indices, sorted)."""
    debtor_idx = np.asarray(debtor_idx, dtype=np.int64)
    n = len(debtor_idx)
    u: dict[str, np.ndarray] = {k: v[debtor_idx] for k, v in deb.items()}
    u["dglob"] = debtor_idx
    u["rep"] = np.zeros(n, np.int64)
    u["dkey"] = R.entity_keys(seed, debtor_idx, 0)
    u["x"] = u.pop("x0").astype(np.float64)
    u["crisis"] = np.zeros(n, bool)
    u["stress"] = np.zeros(n)
    u["annoy"] = np.zeros(n)
    u["boost"] = np.zeros(n)
    u["reminded_until"] = np.full(n, NEG, np.int32)
    u["next_dec"] = np.zeros(n, np.int32)
    u["last_stage"] = np.full(n, -1, np.int8)
    u["last_dec"] = np.full(n, NEG, np.int32)
    u["pend_day"] = np.full(n, INF, np.int32)
    u["pend_act"] = np.zeros(n, np.int8)
    u["pend_min"] = np.zeros(n, np.int16)  # local minute of the day
    u["pend_row"] = np.full(n, -1, np.int64)
    u["c_ring"] = np.full((n, 3), NEG, np.int32)
    u["p_ring"] = np.full((n, 4), NEG, np.int32)
    u["last_fn"] = np.full(n, NEG, np.int32)
    u["fn_unpaid"] = np.full(n, NEG, np.int32)  # first formal notice since the last payment
    u["last_pay"] = np.full(n, NEG, np.int32)
    u["last_late_pay"] = np.full(n, NEG, np.int32)
    u["last_review"] = np.full(n, NEG, np.int32)
    u["review_until"] = np.full(n, NEG, np.int32)
    u["n_complaints"] = np.zeros(n, np.int32)
    u["n_disputes"] = np.zeros(n, np.int32)
    # invoices of these debtors, re-indexed to units, sorted by issue day
    pos = np.searchsorted(debtor_idx, inv["unit"])
    pos = np.minimum(pos, n - 1)
    sel = np.flatnonzero(debtor_idx[pos] == inv["unit"])
    i: dict[str, np.ndarray] = {k: v[sel] for k, v in inv.items()}
    i["unit"] = pos[sel].astype(np.int64)
    i["iglob"] = sel.astype(np.int64)
    m = len(sel)
    i["paid"] = np.full(m, INF, np.int32)
    i["disp"] = np.full(m, INF, np.int32)
    i["reason"] = np.full(m, -1, np.int8)
    i["resolved"] = np.full(m, INF, np.int32)
    i["legal"] = np.full(m, INF, np.int32)
    i["plan_day"] = np.full(m, INF, np.int32)
    i["fix_until"] = np.full(m, NEG, np.int32)
    io = np.lexsort((i["iglob"], i["issue"]))
    i = {k: v[io] for k, v in i.items()}
    i["ikey"] = R.entity_keys(seed ^ 0x5A5A, i["iglob"], 0)
    return State(u=u, i=i, t=0)


class Log:
    """Growable columnar buffer of decision rows; outcomes are filled in when contacts happen."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []
        self.n = 0
        self.outcome = np.full(1024, NO_OUTCOME, np.int8)

    def add(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        k = len(cols["unit"])
        ids = np.arange(self.n, self.n + k, dtype=np.int64)
        self.n += k
        if self.n > len(self.outcome):
            grown = np.full(max(2 * len(self.outcome), self.n), NO_OUTCOME, np.int8)
            grown[: len(self.outcome)] = self.outcome
            self.outcome = grown
        self.chunks.append(cols)
        return ids

    def columns(self) -> dict[str, np.ndarray]:
        if not self.chunks:
            return {}
        keys = self.chunks[0].keys()
        out = {k: np.concatenate([c[k] for c in self.chunks]) for k in keys}
        out["outcome"] = self.outcome[: self.n].copy()
        return out


class Simulator:
    """Runs :class:`State` objects forward day by day under the world's dynamics and policy."""

    def __init__(
        self, params: WorldParams, cal: Calendar, seed: int, n_days: int, shocks: np.ndarray
    ) -> None:
        self.p = params
        self.cal = cal
        self.seed = seed
        self.n_days = n_days  # length of the generated window
        self.shocks = shocks  # [n_groups, n_weeks]

    # ------------------------------------------------------------------ helpers
    def _group(self, u: dict) -> np.ndarray:
        return np.where(u["sector"] >= 0, u["sector"], self.shocks.shape[0] - 1)

    def _update_stress(self, st: State, t: int) -> None:
        u, p = st.u, self.p
        if t % 7 == 0:
            eps = R.normal(u["dkey"], t, S_STRESS)
            u["x"] = p.stress_phi_week * u["x"] + p.stress_sd_week * eps
            c = R.uniform(u["dkey"], t, S_CRISIS)
            enter = ~u["crisis"] & (c < p.crisis_enter_week * np.exp(0.5 * u["mu"]))
            leave = u["crisis"] & (c < p.crisis_exit_week)
            u["crisis"] = (u["crisis"] | enter) & ~leave
        week = min(t // 7, self.shocks.shape[1] - 1)
        doy = (t + self.cal.origin.timetuple().tm_yday) % 365
        season = 0.12 * np.cos(2 * np.pi * (doy - 20) / 365)  # tighter in January
        u["stress"] = (
            u["mu"]
            + u["x"]
            + p.crisis_size * u["crisis"]
            + self.shocks[self._group(u), week]
            + season
        )

    def _aggregates(self, st: State, t: int) -> dict[str, np.ndarray]:
        """Per-unit views of the live invoices as the collection software sees them."""
        n = st.n_units
        L = st.live
        i = st.i
        un = i["unit"][L]
        unpaid = i["paid"][L] >= INF
        nolegal = i["legal"][L] >= INF
        disputed = (i["disp"][L] <= t) & (i["resolved"][L] > t)
        openinv = unpaid & nolegal
        case = openinv & (i["due"][L] <= t + 15)
        bal = np.bincount(un[openinv], weights=i["amount"][L][openinv], minlength=n)
        min_due = np.full(n, INF, np.int64)
        np.minimum.at(min_due, un[case], i["due"][L][case])
        n_disp = np.bincount(un[openinv & disputed], minlength=n)
        return dict(
            balance=bal,
            has_case=min_due < INF,
            maxdpd=np.where(min_due < INF, t - min_due, NEG),
            open_dispute=n_disp > 0,
        )

    # ------------------------------------------------------------------ contacts
    def reach_probability(
        self, u: dict, E: np.ndarray, a: np.ndarray, h: np.ndarray, t: int
    ) -> np.ndarray:
        """Probability that action ``a`` made at local time ``h`` (hours, continuous: 14:30 is
        14.5) on day ``t`` reaches the units ``E``.

        Each debtor has a hidden reachability per channel and a preferred hour and weekday.
        The time factor of e-mail, SMS, WhatsApp and phone is ``(floor + amp * g) * m`` with
        ``g`` a Gaussian bump of width ``hour_sd`` around the preferred hour and ``m`` the
        weekday multiplier (all per segment and channel, :class:`WorldParams`). On top of it,
        B2B e-mails are read in office hours (0.65 outside), B2C e-mails in the evening (0.8
        before 17:00); calls to firms on Saturdays (0.15) and calls on public holidays (0.4)
        rarely get through. Letters reach by the letter reachability, formal notices (registered
        letters) at 0.55-0.95, payment-plan offers by the better of e-mail and phone, dispute
        reviews at 0.45 plus half the phone reach, legal escalation always.
        """
        p, cal = self.p, self.cal
        b2b = u["b2b"][E]
        seg = np.where(b2b, 0, 1)
        dow = int(cal.dow[t])
        off = cal.off[u["dept"][E], t]
        reach = u["reach"][E]
        pref_day = u["pref_dow"][E] == dow
        pref_h = u["pref_hour"][E]
        tf = np.empty((len(E), 4))
        for c in range(4):
            g = np.exp(-0.5 * ((h - pref_h) / p.hour_sd[seg, c]) ** 2)
            tf[:, c] = (p.hour_floor[seg, c] + p.hour_amp[seg, c] * g) * np.where(
                pref_day, p.dow_pref_mult[seg, c], p.dow_other_mult[seg, c]
            )
        ph_tf = tf[:, 3]
        ph_tf *= np.where(b2b & (dow >= 5), 0.15, 1.0) * np.where(off, 0.4, 1.0)
        office = (dow < 5) & (h >= 8) & (h < 18)
        em_tf = np.where(b2b, np.where(office, 1.0, 0.65), np.where(h >= 17, 1.0, 0.8))
        em_tf = em_tf * tf[:, 0]
        return np.select(
            [
                a == EMAIL,
                a == SMS,
                a == WHATSAPP,
                a == PHONE,
                a == LETTER,
                a == FORMAL_NOTICE,
                a == PAYMENT_PLAN,
                a == DISPUTE_REVIEW,
                a == LEGAL,
            ],
            [
                reach[:, 0] * em_tf,
                reach[:, 1] * tf[:, 1],
                reach[:, 2] * tf[:, 2],
                reach[:, 3] * ph_tf,
                reach[:, 4],
                0.55 + 0.4 * reach[:, 4],
                np.maximum(reach[:, 0] * em_tf, reach[:, 3] * ph_tf) * 0.95,
                0.45 + 0.5 * reach[:, 3] * ph_tf,
                np.ones(len(E)),
            ],
            0.0,
        )

    def _contacts(self, st: State, t: int, log: Log | None, agg: dict) -> None:
        u, p, cal = st.u, self.p, self.cal
        E = np.flatnonzero(u["pend_day"] == t)
        if len(E) == 0:
            return
        a = u["pend_act"][E].astype(np.int64)
        h = u["pend_min"][E] / 60.0
        b2b = u["b2b"][E]
        dow = int(cal.dow[t])
        off = cal.off[u["dept"][E], t]
        base = self.reach_probability(u, E, a, h, t)
        u_reach, u_comp = R.uniform2(u["dkey"][E], t, S_REACH)
        u_disp, u_prom = R.uniform2(u["dkey"][E], t, S_DISPUTE)
        reached = u_reach < np.clip(base, 0.0, 0.98)
        # contacts out of decent hours / days anger people (the policy never does this)
        bad_time = (
            off | (h < 8) | (h >= 20) | ((a == PHONE) & ((dow >= 5) | ~phone_hour_ok(b2b, h)))
        )
        sens = u["sens"][E]
        seg = np.where(b2b, 0, 1)
        stress = u["stress"][E]
        strat = u["strategic"][E]
        touched = reached | (a == FORMAL_NOTICE) | (a == LEGAL)
        u["annoy"][E] += np.where(touched, p.annoy_add[a] * (1 + bad_time), 0.0)
        annoy = u["annoy"][E]
        pressure = (a == FORMAL_NOTICE) | (a == LEGAL)
        pc = sigmoid(
            -5.6
            + 0.5 * sens * annoy
            + 1.9 * sens * pressure
            + 2.2 * bad_time
            + 0.8 * sens * (a == PHONE)
            - 0.5 * (a == DISPUTE_REVIEW)
            + p.complaint_logit[seg, a]
            + p.complaint_sens[a] * sens
        )
        complaint = touched & (u_comp < pc)

        # disputes raised by the contact: billing errors found, or strategic contestation
        i = st.i
        L = st.live
        un = i["unit"][L]
        pos_in_e = np.full(st.n_units, -1, np.int64)
        pos_in_e[E] = np.arange(len(E))
        e_of = pos_in_e[un]
        cand = (
            (e_of >= 0)
            & (i["paid"][L] >= INF)
            & (i["legal"][L] >= INF)
            & (i["disp"][L] >= INF)
            & (i["issue"][L] <= t)
        )
        berr_n = np.bincount(e_of[cand & i["berr"][L]], minlength=len(E))
        p_find = p.find_prob[a]
        # a review may instead correct the errors directly (corrected invoice, no dispute)
        fix = (a == DISPUTE_REVIEW) & reached & (berr_n > 0) & (u_disp < p.review_fix_prob)
        find = touched & (berr_n > 0) & (u_disp < p_find) & ~fix
        ps = sigmoid(
            -6.5
            + 1.6 * strat * np.maximum(stress, 0)
            + 2.0 * strat * pressure
            + 0.4 * sens * annoy * complaint
            - 1.0 * (a == DISPUTE_REVIEW)
        )
        strategic = touched & ~find & ~fix & (u_disp < p_find * (berr_n > 0) + ps) & (a != LEGAL)
        # apply: billing-error invoices of 'find' units; largest open overdue for strategic
        sel_b = cand & i["berr"][L] & (e_of >= 0) & find[np.maximum(e_of, 0)]
        sel_s = np.zeros(len(L), bool)
        se = np.flatnonzero(strategic)
        if len(se):
            c2 = cand & (e_of >= 0)
            c2 &= strategic[np.maximum(e_of, 0)]
            idx = np.flatnonzero(c2)
            if len(idx):
                amt = i["amount"][L][idx]
                o = np.lexsort((-amt, e_of[idx]))
                first = np.r_[True, e_of[idx][o][1:] != e_of[idx][o][:-1]]
                sel_s[idx[o][first]] = True
        ru = R.uniform(u["dkey"][E], t, S_REASON)
        reason_s = np.where(ru < 0.3, 1, np.where(ru < 0.75, 2, 3)).astype(np.int8)
        for mask, reason in ((sel_b, None), (sel_s, reason_s)):
            j = L[mask]
            if len(j):
                i["disp"][j] = t
                i["reason"][j] = 0 if reason is None else reason[e_of[mask]]
                np.add.at(u["n_disputes"], i["unit"][j], 1)
        disputed_now = np.bincount(e_of[sel_b | sel_s], minlength=len(E)) > 0
        if fix.any():
            j = L[cand & i["berr"][L] & (e_of >= 0) & fix[np.maximum(e_of, 0)]]
            i["berr"][j] = False
            i["fix_until"][j] = t + 20
        # review of a dispute speeds its resolution
        rev = (a == DISPUTE_REVIEW) & reached
        u["review_until"][E[rev]] = t + 10
        u["last_review"][E[a == DISPUTE_REVIEW]] = t

        # effect on the propensity to pay
        eff = (
            p.eff_base[a]
            + p.eff_forget[a] * u["forget"][E]
            + p.eff_strategic[a] * strat
            - p.eff_sensitive[a] * sens * (1 + 0.5 * pressure)
        ) * np.exp(-0.35 * np.maximum(stress, 0) * (a != PAYMENT_PLAN))
        eff = eff * p.eff_mult[seg, a]
        eff = eff * np.where(u["lonly"][E], p.eff_letter_only_mult[a], 1.0)
        eff = eff * np.where(u["stype"][E], p.eff_strategic_type_mult[a], 1.0)
        pre_due = agg["maxdpd"][E] < 0
        eff = np.where(complaint, -0.6, eff)
        good = reached & ~complaint & ~disputed_now
        u["boost"][E] += np.where(good, np.where(pre_due, 0.4 * eff, eff), 0.0)
        u["reminded_until"][E[good & pre_due]] = agg["maxdpd"][E][good & pre_due] * -1 + t + 1
        # promise to pay
        strong = (a == PHONE) | (a == FORMAL_NOTICE) | (a == DISPUTE_REVIEW)
        pp = sigmoid(-2.2 + 1.5 * strong + u["boost"][E] - 0.9 * stress - 0.8 * pre_due)
        promise = good & (u_prom < pp) & (a != PAYMENT_PLAN) & (a != LEGAL)
        u["boost"][E[promise]] += 0.8
        # payment plan: accepted by stressed debtors with large balances
        bal = agg["balance"][E]
        pa = sigmoid(-2.3 + 1.5 * stress + 0.8 * np.log1p(bal / u["capacity"][E]) - 0.5 * sens)
        u_plan = R.uniform(u["dkey"][E], t, S_PLAN)
        accept = good & (a == PAYMENT_PLAN) & (u_plan < pa)
        if accept.any():
            c3 = cand & accept[np.maximum(e_of, 0)] & (e_of >= 0) & (i["due"][L] <= t + 15)
            idx = np.flatnonzero(c3)
            if len(idx):
                eo = e_of[idx]
                o = np.lexsort((i["due"][L][idx], eo))
                eo_s = eo[o]
                startpos = np.r_[0, np.flatnonzero(eo_s[1:] != eo_s[:-1]) + 1]
                rank = np.arange(len(o)) - np.repeat(startpos, np.diff(np.r_[startpos, len(o)]))
                i["plan_day"][L[idx[o]]] = t + 7 + 14 * rank
        promise |= accept
        # legal hand-over of all overdue open invoices
        lg = E[a == LEGAL]
        if len(lg):
            m = (
                np.isin(un, lg)
                & (i["paid"][L] >= INF)
                & (i["legal"][L] >= INF)
                & (i["due"][L] < t)
                & (i["issue"][L] <= t)
            )
            i["legal"][L[m]] = t
        fn = E[a == FORMAL_NOTICE]
        u["last_fn"][fn] = t
        stale = (u["fn_unpaid"][fn] <= NEG) | (u["last_pay"][fn] >= u["fn_unpaid"][fn])
        u["fn_unpaid"][fn[stale]] = t
        u["n_complaints"][E] += complaint
        u["annoy"][E] += 2.0 * complaint
        # contact history for caps
        u["c_ring"][E] = np.column_stack([u["c_ring"][E][:, 1:], np.full(len(E), t)])
        ph = E[a == PHONE]
        u["p_ring"][ph] = np.column_stack([u["p_ring"][ph][:, 1:], np.full(len(ph), t)])
        if log is not None:
            out = np.where(reached, REACHED, NOT_REACHED)
            out = np.where(promise, PROMISE, out)
            out = np.where(complaint, OUT_COMPLAINT, out)
            out = np.where(disputed_now, DISPUTE_RAISED, out)
            rows = u["pend_row"][E]
            ok = rows >= 0
            log.outcome[rows[ok]] = out[ok].astype(np.int8)
        u["pend_day"][E] = INF
        u["pend_row"][E] = -1

    # ------------------------------------------------------------------ payments
    def _payments(self, st: State, t: int, agg: dict) -> None:
        u, i, p, cal = st.u, st.i, self.p, self.cal
        L = st.live
        un = i["unit"][L]
        due = i["due"][L]
        r = t - due
        unpaid = i["paid"][L] >= INF
        legal = i["legal"][L] < INF
        disp_open = (i["disp"][L] <= t) & (i["resolved"][L] > t)
        stress = u["stress"][un]
        cap = u["capacity"][un]
        z = (
            p.pay_intercept
            - p.pay_stress * stress
            + u["boost"][un]
            - p.balance_burden * np.log1p(agg["balance"][un] / cap)
            + p.strategic_type_pay_shift * u["stype"][un]
        )
        forget = u["forget"][un] * np.where(u["reminded_until"][un] >= t, 0.15, 1.0)
        h_pre = p.pay_pre_due_scale * sigmoid(z) * (1 - 0.9 * forget) * (r >= -10)
        h_pre += 0.004 * sigmoid(z) * (r < -10)
        h_post = (
            p.pay_post_due_scale
            * sigmoid(z - p.pay_post_due_decay * np.log1p(np.maximum(r, 0) / 7.0))
            * (1 - 0.5 * forget)
        )
        h = np.where(r <= 0, h_pre, h_post)
        h = np.where(i["berr"][L] & (i["disp"][L] >= INF), 0.08 * h, h)
        h = np.where(i["fix_until"][L] >= t, np.maximum(h, 0.15), h)
        plan = i["plan_day"][L] < INF
        h = np.where(plan, 0.3 * h, h)
        h = np.where(
            legal,
            np.where(
                t - i["legal"][L] >= 21,
                p.legal_recovery_rate * 2 * sigmoid(0.8 - stress),
                p.legal_strategic_rate * u["strategic"][un],
            ),
            h,
        )
        h = np.where(disp_open, 0.0, h)
        dow = cal.dow[t]
        h *= np.where(cal.off[u["dept"][un], t], 0.03, 0.35 if dow == 5 else 1.0)
        up, ui = R.uniform2(i["ikey"][L], t, S_PAY)
        pay = unpaid & (up < h)
        # instalments due today
        inst = unpaid & plan & (i["plan_day"][L] == t) & ~disp_open
        keep = ui < sigmoid(2.2 - 1.1 * stress)
        pay |= inst & keep
        broken = inst & ~keep
        i["plan_day"][L[broken]] = INF
        j = L[pay]
        if len(j):
            i["paid"][j] = t
            uj = i["unit"][j]
            u["last_pay"][uj] = t
            late = i["due"][j] < t
            u["last_late_pay"][uj[late]] = t

        # spontaneous disputes (not on days the debtor has a contact pending or made)
        busy = (u["pend_day"] < INF) | (u["c_ring"][:, 2] == t)
        cand = unpaid & ~pay & ~legal & (i["disp"][L] >= INF) & ~busy[un]
        berr = i["berr"][L]
        hd = np.where(berr, np.where((r >= -25) & (r <= 30), 0.03, 0.006), 0.00025)
        hd += ~berr * (
            0.0012 * u["strategic"][un] * np.maximum(stress, 0) * (r > 0)
            + 0.0004 * u["sens"][un] * u["annoy"][un]
        )
        ud, ur = R.uniform2(i["ikey"][L], t, S_SPONT)
        new = cand & (ud < hd)
        j = L[new]
        if len(j):
            i["disp"][j] = t
            rr = ur[new]
            i["reason"][j] = np.where(
                berr[new], 0, np.where(rr < 0.3, 1, np.where(rr < 0.75, 2, 3))
            )
            np.add.at(u["n_disputes"], i["unit"][j], 1)
        # resolutions
        op = (i["disp"][L] < t) & (i["resolved"][L] >= INF)
        reviewed = u["review_until"][un] >= t
        rate = np.where(
            berr,
            np.where(reviewed, p.dispute_review_rate[0], p.dispute_resolve_rate[0]),
            np.where(reviewed, p.dispute_review_rate[1], p.dispute_resolve_rate[1]),
        )
        res = op & (R.uniform(i["ikey"][L], t, S_RESOLVE) < rate)
        j = L[res]
        if len(j):
            i["resolved"][j] = t
            i["fix_until"][j[i["berr"][j]]] = t + 20

    # ------------------------------------------------------------------ policy
    def _reliable(self, u: dict, idx: np.ndarray, t: int) -> np.ndarray:
        return (t - u["since"][idx] >= RELIABLE_TENURE) & (
            u["last_late_pay"][idx] < t - RELIABLE_LATE_WINDOW
        )

    def _reliable_contract(self, u: dict, idx: np.ndarray, t: int) -> np.ndarray:
        """CONTRACT §4 rule 7 to the letter, for a decision the morning after the evening of
        ``t``: 3 full calendar years of relationship on day ``t + 1`` and no invoice paid late
        in the 365 days before it."""
        origin = np.datetime64(self.cal.origin, "D")
        since = origin + u["since"][idx].astype("timedelta64[D]")
        today = origin + np.timedelta64(int(t) + 1, "D")

        def ymd(d):
            m = d.astype("datetime64[M]")
            y = m.astype("datetime64[Y]").astype(np.int64)
            return y, m.astype(np.int64) % 12, (d - m).astype(np.int64)

        y0, m0, d0 = ymd(since)
        y1, m1, d1 = ymd(np.full(len(since), today))
        years = y1 - y0 - ((m1 < m0) | ((m1 == m0) & (d1 < d0)))
        return (years >= 3) & (u["last_late_pay"][idx] < t + 1 - 365)

    def feasible_days(
        self, u: dict, D: np.ndarray, t: int, reliable: np.ndarray, last_day: int, n_ahead: int = 7
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boolean ``[len(D), n_ahead]`` matrices of compliant contact days from t+1 (any
        contact, phone call)."""
        cal = self.cal
        ks = t + 1 + np.arange(n_ahead)
        ks_c = np.minimum(ks, cal.n_days - 1)
        off = cal.off[u["dept"][D][:, None], ks_c[None, :]]
        cr = u["c_ring"][D]
        n7 = (cr[:, :, None] >= (ks[None, None, :] - 6)).sum(axis=1)
        last_c = cr[:, 2][:, None]
        f = ~off & (n7 < 3) & (ks[None, :] <= last_day) & (ks[None, :] > last_c)
        f &= ~(reliable[:, None] & (last_c >= ks[None, :] - 13))
        pr = u["p_ring"][D]
        n30 = (pr[:, :, None] >= (ks[None, None, :] - 29)).sum(axis=1)
        fp = f & (cal.dow[ks_c][None, :] < 5) & (n30 < 4)
        return f, fp

    def allowed_actions(
        self,
        st: State,
        D: np.ndarray,
        t: int,
        agg: dict,
        last_day: int,
        compliance_only: bool = False,
        n_ahead: int = 7,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions the logging policy may take for units ``D`` at the evening of day ``t``.

        With ``compliance_only`` only the rules of CONTRACT §4 apply (not the policy's own
        restrictions such as "dispute_review only during a dispute"), and the parts of rules 6
        and 7 that count days are left to :meth:`legal_timing_ok` (at the contact's day).
        Returns (allowed ``[n, N_ACTIONS]``, feasible days, feasible phone days).
        """
        u = st.u
        # the logging policy counts borderline debtors as reliable; the compliance check is
        # the contract's rule to the letter
        rel = self._reliable_contract(u, D, t) if compliance_only else self._reliable(u, D, t)
        f, fp = self.feasible_days(u, D, t, rel, last_day, n_ahead)
        anyf, anyp = f.any(axis=1), fp.any(axis=1)
        dpd = agg["maxdpd"][D]
        cons = u["consent"][D]
        disp = agg["open_dispute"][D]
        pol = not compliance_only
        if pol:
            legal_ok = (
                (dpd >= 30)
                & (u["last_fn"][D] > NEG)
                & (t - u["last_fn"][D] >= 8)
                & (u["last_pay"][D] < u["last_fn"][D])
                & (agg["balance"][D] >= self.p.legal_min_balance)
            )
        else:
            # rule 6's days (past due, since the notice) count at the contact's day:
            # legal_timing_ok; here only that some notice got no payment
            legal_ok = self.unpaid_notice(u, D)
        al = np.zeros((len(D), N_ACTIONS), bool)
        al[:, WAIT] = True
        al[:, EMAIL] = cons[:, 0] & anyf
        al[:, SMS] = cons[:, 1] & anyf
        al[:, WHATSAPP] = cons[:, 2] & anyf
        al[:, PHONE] = cons[:, 3] & anyp
        al[:, LETTER] = anyf
        # rule 7's "no formal notice before 30 days past due" counts at the contact's day in
        # the compliance check (legal_timing_ok)
        al[:, FORMAL_NOTICE] = anyf & ((dpd >= 1) | (not pol)) & (~rel | (dpd >= 30) | (not pol))
        al[:, PAYMENT_PLAN] = anyf & ((dpd >= 1) | (not pol))
        al[:, DISPUTE_REVIEW] = anyf & (disp | (not pol))
        al[:, LEGAL] = anyf & legal_ok & (~rel | (dpd >= 30) | (not pol))
        al[disp] &= np.isin(np.arange(N_ACTIONS), [WAIT, DISPUTE_REVIEW])[None, :]
        return al, f, fp

    @staticmethod
    def unpaid_notice(u: dict, D: np.ndarray) -> np.ndarray:
        """Some formal notice was made and nothing was paid since (from its day on)."""
        return (u["fn_unpaid"][D] > NEG) & (u["last_pay"][D] < u["fn_unpaid"][D])

    def legal_timing_ok(
        self, st: State, D: np.ndarray, t: int, agg: dict, act: np.ndarray, day: np.ndarray
    ) -> np.ndarray:
        """The parts of CONTRACT §4 rules 6 and 7 that count days, at the contact's local day
        ``day`` for a decision the evening of ``t`` (units ``D``, actions ``act``): a
        ``legal_escalation`` 30+ days past due (oldest open invoice of the case) and 8+ days
        after a formal notice that got no payment (any such notice); for a reliable customer,
        no ``formal_notice`` or ``legal_escalation`` before 30 days past due. Other actions:
        True."""
        dpd = agg["maxdpd"][D] + (np.asarray(day, dtype=np.int64) - t)
        rel = self._reliable_contract(st.u, D, t)
        fn = st.u["fn_unpaid"][D].astype(np.int64)
        legal = (dpd >= 30) & self.unpaid_notice(st.u, D) & (day - fn >= 8)
        notice = ~rel | (dpd >= 30)
        return np.where(act == LEGAL, legal, np.where(act == FORMAL_NOTICE, notice, True))

    def ladder(self, st: State, D: np.ndarray, t: int, agg: dict, al: np.ndarray) -> np.ndarray:
        """The escalation ladder's choice (greedy logging policy) for units ``D``."""
        dpd = agg["maxdpd"][D]
        stage = (dpd[:, None] >= STAGE_DPD[None, :]).sum(axis=1) - 1
        choice = np.full(len(D), WAIT, np.int64)
        done = np.zeros(len(D), bool)
        for s, chain in LADDER.items():
            m = (stage == s) & ~done
            for act in chain:
                take = m & al[:, act] & ~done
                choice[take] = act
                done |= take
        disp = agg["open_dispute"][D]
        review = disp & (t - st.u["last_review"][D] >= 21) & al[:, DISPUTE_REVIEW]
        choice[disp] = np.where(review[disp], DISPUTE_REVIEW, WAIT)
        return choice

    def choose_slot(
        self,
        st: State,
        D: np.ndarray,
        t: int,
        act: np.ndarray,
        f: np.ndarray,
        fp: np.ndarray,
        keys: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Slot (day, local minute of the day) for each chosen contact, randomised as the
        policy does (always on the hour)."""
        feas = np.where((act == PHONE)[:, None], fp, f)
        u1, u2 = R.uniform2(keys, t, S_SLOT)
        nf = feas.sum(axis=1)
        first = np.argmax(feas, axis=1)
        kth = np.minimum((u1 * np.maximum(nf, 1)).astype(np.int64), np.maximum(nf - 1, 0))
        csum = np.cumsum(feas, axis=1)
        rand_k = np.argmax(csum > kth[:, None], axis=1)
        k = np.where(u1 < 0.6, first, rand_k)
        # u1 < 0.6 also makes kth small, so re-spread with u2 for the hour below
        day = t + 1 + k
        b2b = st.u["b2b"][D]
        h_any = HOURS_ANY[(u2 * len(HOURS_ANY)).astype(np.int64)]
        h_b = HOURS_PHONE_B2B[(u2 * len(HOURS_PHONE_B2B)).astype(np.int64)]
        h_c = HOURS_PHONE_B2C[(u2 * len(HOURS_PHONE_B2C)).astype(np.int64)]
        hour = np.where(act == PHONE, np.where(b2b, h_b, h_c), h_any)
        return day.astype(np.int32), (hour * 60).astype(np.int16)

    def triggered(self, st: State, t: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """Units due for a decision at the evening of day ``t`` (the ladder's cadence: a case
        without a pending contact reaching a new dunning stage, every 14 days at the legal
        stage, every 10 days during a dispute), their stages and the aggregates.

        Records the evening's stages (a stage falls when invoices are paid); the caller sets
        ``last_stage``, ``last_dec`` and ``next_dec`` of the units it decides for.
        """
        u = st.u
        agg = self._aggregates(st, t)
        has = agg["has_case"]
        dpd = agg["maxdpd"]
        stage = np.where(has, (dpd[:, None] >= STAGE_DPD[None, :]).sum(axis=1) - 1, -1)
        u["last_stage"] = np.minimum(u["last_stage"], stage).astype(np.int8)
        trig = (
            has
            & (u["pend_day"] >= INF)
            & (t >= u["next_dec"])
            & (
                (stage > u["last_stage"])
                | ((stage >= 6) & (t - u["last_dec"] >= 14))
                | (agg["open_dispute"] & (t - u["last_dec"] >= 10))
            )
        )
        return np.flatnonzero(trig), stage, agg

    def _decide(
        self, st: State, t: int, log: Log | None, last_day: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logging policy's evening decisions; returns the units, actions and propensities."""
        u = st.u
        D, stage, agg = self.triggered(st, t)
        if len(D) == 0:
            return D, np.zeros(0, np.int64), np.zeros(0)
        # decided in the evening (19:xx UTC): contacts up to 6 days later stay within 7 days
        al, f, fp = self.allowed_actions(st, D, t, agg, last_day, n_ahead=6)
        lad = self.ladder(st, D, t, agg, al)
        keys = u["dkey"][D]
        ue, ua = R.uniform2(keys, t, S_EXPLORE)
        eps = self.p.epsilon
        n_al = al.sum(axis=1)
        explore = ue < eps
        csum = np.cumsum(al, axis=1)
        kth = np.minimum((ua * n_al).astype(np.int64), n_al - 1)
        rand_a = np.argmax(csum > kth[:, None], axis=1)
        act = np.where(explore, rand_a, lad)
        prop = (1 - eps) * (act == lad) + eps / n_al
        day, sched_min = self.choose_slot(st, D, t, act, f, fp, keys)
        contact = act != WAIT
        rows = None
        if log is not None:
            minute = (R.uniform(keys, t, S_MINUTE) * 60).astype(np.int16)
            rows = log.add(
                dict(
                    unit=D,
                    day=np.full(len(D), t, np.int32),
                    minute=minute,
                    action=act.astype(np.int8),
                    propensity=prop,
                    sched_day=np.where(contact, day, INF).astype(np.int32),
                    sched_min=sched_min,
                )
            )
        C = D[contact]
        u["pend_day"][C] = day[contact]
        u["pend_act"][C] = act[contact]
        u["pend_min"][C] = sched_min[contact]
        u["pend_row"][C] = rows[contact] if rows is not None else -1
        u["next_dec"][D] = np.where(contact, day + 1, t + 7)
        u["last_stage"][D] = stage[D]
        u["last_dec"][D] = t
        u["last_review"][D[act == DISPUTE_REVIEW]] = t
        return D, act, prop

    # ------------------------------------------------------------------ main loop
    def step(self, st: State, t: int, log: Log | None, last_day: int, decide: bool = True) -> None:
        """Simulate day ``t`` (morning contacts, daytime events, evening decisions)."""
        i = st.i
        new_ptr = int(np.searchsorted(i["issue"], t, side="right"))
        if new_ptr > st.ptr:
            st.live = np.concatenate([st.live, np.arange(st.ptr, new_ptr, dtype=np.int64)])
            st.ptr = new_ptr
        if t % 14 == 0 and len(st.live):
            st.live = st.live[i["paid"][st.live] >= INF]
        self._update_stress(st, t)
        agg = self._aggregates(st, t)
        self._contacts(st, t, log, agg)
        self._payments(st, t, agg)
        u = st.u
        u["boost"] *= self.p.boost_decay
        u["annoy"] *= self.p.annoy_decay
        if decide and t <= last_day - 1:
            self._decide(st, t, log, last_day)
        st.t = t + 1

    def run(
        self,
        st: State,
        t_end: int,
        log: Log | None,
        last_day: int,
        progress: bool = False,
        desc: str = "simulating",
    ) -> None:
        """Simulate days ``st.t .. t_end-1``."""
        days = range(st.t, t_end)
        if progress:
            from tqdm.auto import tqdm

            days = tqdm(days, desc=desc, unit="day")
        for t in days:
            self.step(st, t, log, last_day)


def sector_shocks(seed: int, n_weeks: int, n_groups: int, p: WorldParams) -> np.ndarray:
    """Per-group (NAF sections + households) AR(1) weekly stress shocks, plus a macro one."""
    g = np.random.default_rng([seed, 2])
    out = np.zeros((n_groups, n_weeks))
    macro = np.zeros(n_weeks)
    x = g.normal(0, p.sector_shock_sd_week / np.sqrt(1 - p.sector_shock_phi_week**2), n_groups)
    m = 0.0
    for w in range(n_weeks):
        x = p.sector_shock_phi_week * x + p.sector_shock_sd_week * g.standard_normal(n_groups)
        m = 0.98 * m + 0.04 * g.standard_normal()
        out[:, w] = x
        macro[w] = m
    return out + macro[None, :]
