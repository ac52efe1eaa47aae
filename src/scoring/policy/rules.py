"""Compliance rules (CONTRACT §4): a vectorised engine over (case, action, time) candidates.

:func:`evaluate` takes a :class:`~scoring.cases.CaseSet` and a candidate table
``[case, action, scheduled_at]`` (``scheduled_at`` tz-aware, NaT for ``wait``) and returns the
same rows with

* ``allowed`` (bool): the candidate passes every rule;
* ``removed_by`` (categorical, NaN when allowed): the first failing rule in :data:`RULE_IDS`
  order;
* ``violations`` (categorical string): every failing rule id, comma-separated, ``""`` if none
  (:func:`violation_list` splits it);
* ``requires_review`` (bool): rule 9, a person must confirm it (B2C formal notice, legal).

``wait`` is always allowed. Every number comes from the policy configuration
(:mod:`scoring.policy.config`), the rules are interpreted as follows:

* R0_horizon: a contact is scheduled in ``(as_of, as_of + horizon]`` (NaT or past: removed).
* R1_sunday_holiday / R2_*: on the debtor's local calendar (:mod:`scoring.calendar`);
  hour windows are ``[start, end)``: a contact at exactly 20:00 is out of hours.
* R4 caps and the frequency part of R7: contacts of the actions log count (every action but
  ``wait``; its time is ``scheduled_at``, else ``decided_at``), each on its local calendar day.
  A window of ``w`` days is ``w`` consecutive local days; the candidate passes when *every*
  window holding its day (the one ending on it included) holds at most ``max_contacts``
  contacts, the candidate counted. Without future contacts in the log this is exactly "the
  window ending at the candidate"; with contacts already scheduled after it, it also keeps
  their windows within the cap. Candidates are judged one at a time (not against each other).
* R5: a dispute is open when an open invoice has a ``dispute_date`` and no
  ``dispute_resolved_date``, or the history reports unresolved disputes on the debtor's other
  invoices (``n_open_disputes_other``).
* R6: at the scheduled local day the oldest open invoice is ``min_days_past_due`` past due,
  and a notice (``formal_notice``) was sent ``min_days_after_notice`` days before or more with
  no payment since (``last_payment_date`` before the notice's day, or none).
* R7: reliable = ``min_relationship_years`` full years of relationship at ``as_of`` and at
  most ``max_paid_late_12m`` invoices paid late in the last 12 months.
* R8 (agency mode): a contact with no earlier contact in the log must be a ``letter``.
* R9: the debtor contested a decision that no reviewer has resolved yet: the case set's
  ``paused`` flags (set by the service from its audit trail; never set in training).

Rows too far from ``as_of`` (removed by R0) are not checked against the count-based rules
(R4, frequency part of R7); every other rule is checked on every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.calendar import (
    NAT,
    NS_PER_DAY,
    NS_PER_MINUTE,
    WEEKDAYS,
    candidate_slot_arrays,
    holiday_groups,
    is_holiday_days,
    local_days,
    parse_hhmm,
    tz_codes,
    utc_ns,
    utc_to_local_ns,
    weekdays,
)
from scoring.cases import CaseSet
from scoring.contract import ACTIONS
from scoring.policy.config import (
    ActionSet,
    CapRule,
    HoursRule,
    PolicyConfig,
    load_policy_config,
    resolve_actions,
)

#: Rule ids, in the order used for ``removed_by`` (the first failing rule).
RULE_IDS: tuple[str, ...] = (
    "R0_horizon",
    "R1_sunday_holiday",
    "R2_contact_hours",
    "R2_phone_hours",
    "R3_consent",
    "R4_daily_cap",
    "R4_weekly_cap",
    "R4_phone_30d_cap",
    "R5_open_dispute",
    "R6_legal_prerequisites",
    "R7_reliable_customer",
    "R8_agency_first_letter",
    "R9_contest_pause",
)
_BIT = {r: i for i, r in enumerate(RULE_IDS)}
_N_MASKS = 1 << len(RULE_IDS)
_CAPS = (("daily", "R4_daily_cap"), ("weekly", "R4_weekly_cap"), ("phone_30d", "R4_phone_30d_cap"))

WAIT = ACTIONS.index("wait")
N_ACTIONS = len(ACTIONS)
_FAR = np.int64(1) << 40  # a day number beyond any real date (no overflow when shifted)
_INT64_MAX = np.iinfo(np.int64).max

ACTION_DTYPE = pd.CategoricalDtype(list(ACTIONS))
_ACTION_INDEX = {a: i for i, a in enumerate(ACTIONS)}
RULE_DTYPE = pd.CategoricalDtype(list(RULE_IDS))


# --------------------------------------------------------------------------------------
# Helpers


def _action_vector(spec: ActionSet | tuple[str, ...]) -> np.ndarray:
    """Boolean vector over :data:`ACTIONS`: is the action in the set?"""
    members = resolve_actions(spec) if spec == "contacts" else frozenset(spec)
    return np.array([a in members for a in ACTIONS], dtype=bool)


def action_codes(actions: pd.Series | np.ndarray) -> np.ndarray:
    """Index into :data:`ACTIONS` of each action (raises on an unknown action)."""
    if isinstance(actions.dtype, pd.CategoricalDtype) and tuple(actions.cat.categories) == ACTIONS:  # type: ignore[union-attr]
        codes = actions.cat.codes.to_numpy()  # type: ignore[union-attr]
    elif len(actions) <= 64:  # a few rows (the API): a dictionary lookup beats pandas
        values = actions if isinstance(actions, np.ndarray) else actions.to_numpy(dtype=object)
        codes = np.array([_ACTION_INDEX.get(a, -1) for a in values], dtype=np.int64)
    else:
        codes = pd.Categorical(actions, categories=list(ACTIONS)).codes
    if (codes < 0).any():
        bad = sorted(set(pd.Series(actions)[codes < 0].astype(str).unique()[:5]))
        raise ValueError(f"unknown or missing action(s): {bad}")
    return codes.astype(np.int64)


def _days_of(v: np.ndarray) -> np.ndarray:
    """Day numbers of naive ``datetime64`` values (NaT -> ``NAT``)."""
    return v.astype("datetime64[D]").astype(np.int64)


def _hours_table(rule: HoursRule) -> np.ndarray:
    """Boolean table ``[segment (B2B, B2C), weekday, minute of day]``: inside the hours?"""
    table = np.zeros((2, 7, 24 * 60), dtype=bool)
    days = [WEEKDAYS.index(d) for d in rule.weekdays]
    for s, seg in enumerate(("B2B", "B2C")):
        for start, end in rule.hours[seg]:  # type: ignore[index]
            table[s, days, parse_hhmm(start) : parse_hhmm(end)] = True
    return table


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months).astype(np.int64) + 1
    return year, month, day


def _full_years(start_days: np.ndarray, end_days: np.ndarray) -> np.ndarray:
    """Whole years from ``start`` to ``end`` (day numbers; NaT start -> -1)."""
    ok = start_days != NAT
    s = np.where(ok, start_days, 0)
    y0, m0, d0 = _ymd(s)
    y1, m1, d1 = _ymd(end_days)
    before = (m1 < m0) | ((m1 == m0) & (d1 < d0))
    return np.where(ok, y1 - y0 - before, -1)


def _window_exceeds(
    n: int, case: np.ndarray, rel_day: np.ndarray, cap: CapRule, n_offsets: int
) -> np.ndarray:
    """``[n, n_offsets]``: would one more contact on day ``o`` (relative to the local day of
    ``as_of``) break the cap? ``case``/``rel_day``: the counted log contacts."""
    w = cap.window_days
    base = -(w - 1)
    width = n_offsets + 2 * (w - 1)
    keep = (rel_day >= base) & (rel_day < base + width)
    flat = case[keep] * width + (rel_day[keep] - base)
    counts = np.bincount(flat, minlength=n * width).astype(np.int32).reshape(n, width)
    prefix = np.zeros((n, width + 1), dtype=np.int32)
    np.cumsum(counts, axis=1, out=prefix[:, 1:])
    per_start = prefix[:, w:] - prefix[:, :-w]  # window starting at column j
    worst = np.lib.stride_tricks.sliding_window_view(per_start, w, axis=1).max(axis=2)
    return worst + 1 > cap.max_contacts


# --------------------------------------------------------------------------------------
# Per-case facts


@dataclass
class CaseFacts:
    """What the rules need to know about each case, as arrays of length ``n``."""

    n: int
    as_of: np.ndarray  # int64 UTC ns
    tz: np.ndarray  # index into calendar.TIME_ZONES
    holiday_group: np.ndarray  # index into calendar.HOLIDAY_GROUPS
    day0: np.ndarray  # local day number of as_of
    b2c: np.ndarray  # bool
    consent_ok: np.ndarray  # bool [n, N_ACTIONS]
    open_dispute: np.ndarray  # bool
    oldest_due: np.ndarray  # day number of the earliest due date of the open invoices
    reliable: np.ndarray  # bool
    first_contact: np.ndarray  # int64 UTC ns of the earliest logged contact (max if none)
    legal_ready: np.ndarray  # first local day number the notice prerequisite of R6 holds
    paused: np.ndarray  # bool: an unresolved contest (R9)
    cap_exceeded: dict[str, np.ndarray]  # rule id -> bool [n, n_offsets]
    n_offsets: int


def case_facts(cs: CaseSet, config: PolicyConfig) -> CaseFacts:
    """Compute the per-case facts of the rules (vectorised over cases and their logs)."""
    rc = config.compliance

    def c(name: str) -> np.ndarray:
        return cs.column("cases", name)

    n = len(cs)
    as_of = c("as_of")
    tz = tz_codes(c("department"))
    day0 = local_days(utc_to_local_ns(as_of, tz))
    n_offsets = rc.horizon.days + 2  # local days 0..horizon+1 after as_of (DST margin)

    consent_ok = np.ones((n, N_ACTIONS), dtype=bool)
    for action, flag in rc.consent.required.items():
        consent_ok[:, ACTIONS.index(action)] = c(flag)

    def inv(name: str) -> np.ndarray:
        return cs.column("invoices", name)

    icase = inv("case")
    oldest_due = np.full(n, _FAR, dtype=np.int64)
    due = _days_of(inv("due_date"))
    ok = due != NAT
    np.minimum.at(oldest_due, icase[ok], due[ok])
    open_dispute = np.zeros(n, dtype=bool)
    disputed = (_days_of(inv("dispute_date")) != NAT) & (
        _days_of(inv("dispute_resolved_date")) == NAT
    )
    open_dispute[icase[disputed]] = True
    # unresolved disputes on the debtor's other invoices (not yet due, in litigation) count too
    open_dispute |= c("n_open_disputes_other") > 0

    # the actions log: contacts, their instant and local day
    def a(name: str) -> np.ndarray:
        return cs.column("actions", name)

    acase = a("case")
    acode = action_codes(a("action")) if len(acase) else np.zeros(0, dtype=np.int64)
    when = a("scheduled_at")
    decided = a("decided_at")
    when = np.where(when == NAT, decided, when)
    is_contact = (acode != WAIT) & (when != NAT)
    acase, acode, when = acase[is_contact], acode[is_contact], when[is_contact]
    aday = local_days(utc_to_local_ns(when, tz[acase]))
    rel = aday - day0[acase]

    first_contact = np.full(n, _INT64_MAX, dtype=np.int64)
    np.minimum.at(first_contact, acase, when)

    caps = {rule_id: getattr(rc.caps, key) for key, rule_id in _CAPS}
    caps["R7_reliable_customer"] = rc.reliable_customer.as_cap()
    cap_exceeded = {}
    for rule_id, cap in caps.items():
        if cap.enabled:
            counted = _action_vector(cap.counts)[acode]
            cap_exceeded[rule_id] = _window_exceeds(n, acase[counted], rel[counted], cap, n_offsets)

    legal = rc.legal_prerequisites
    notice = acode == ACTIONS.index(legal.notice_action)
    if legal.no_payment_since_notice:
        last_paid = _days_of(c("last_payment_date"))[acase]
        notice &= (last_paid == NAT) | (last_paid < aday)
    first_notice = np.full(n, _FAR, dtype=np.int64)
    np.minimum.at(first_notice, acase[notice], aday[notice])
    legal_ready = first_notice + legal.min_days_after_notice

    rel_rule = rc.reliable_customer
    years = _full_years(_days_of(c("customer_since")), day0)
    late = c("n_paid_late_12m")
    reliable = (years >= rel_rule.min_relationship_years) & (late <= rel_rule.max_paid_late_12m)

    return CaseFacts(
        n=n,
        as_of=as_of,
        tz=tz,
        holiday_group=holiday_groups(c("department")),
        day0=day0,
        b2c=c("segment") == "B2C",
        consent_ok=consent_ok,
        open_dispute=open_dispute,
        oldest_due=oldest_due,
        reliable=reliable,
        first_contact=first_contact,
        legal_ready=legal_ready,
        paused=_paused(cs, n),
        cap_exceeded=cap_exceeded,
        n_offsets=n_offsets,
    )


def _paused(cs: CaseSet, n: int) -> np.ndarray:
    p = getattr(cs, "paused", None)
    if p is None:
        return np.zeros(n, dtype=bool)
    p = np.asarray(p, dtype=bool)
    if p.shape != (n,):
        raise ValueError(f"CaseSet.paused must hold one flag per case ({n}), got {p.shape}")
    return p


# --------------------------------------------------------------------------------------
# The engine


def _violation_masks(
    facts: CaseFacts,
    config: PolicyConfig,
    case: np.ndarray,
    act: np.ndarray,
    t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bitmask of failing rules (bit i = ``RULE_IDS[i]``) and ``requires_review`` per row."""
    rc = config.compliance
    f = facts
    n = len(case)
    contact = act != WAIT
    timed = contact & (t != NAT)
    as_of = f.as_of[case]
    mask = np.zeros(n, dtype=np.uint16)

    def flag(rule_id: str, failed: np.ndarray) -> None:
        np.bitwise_or(mask, np.uint16(1 << _BIT[rule_id]), out=mask, where=failed)

    # R0: the horizon
    flag(
        "R0_horizon",
        contact & ((t == NAT) | (t <= as_of) | (t > as_of + rc.horizon.days * NS_PER_DAY)),
    )

    # calendar of each timed row (untimed rows get the day of as_of, never used for a verdict)
    local = utc_to_local_ns(np.where(timed, t, as_of), f.tz[case])
    day = local_days(local)
    minute = (local - day * NS_PER_DAY) // NS_PER_MINUTE
    wday = weekdays(day)
    seg = f.b2c[case].astype(np.int64)
    del local, as_of

    r1 = rc.sunday_holiday
    if r1.enabled:
        off_days = np.isin(np.arange(7), [WEEKDAYS.index(d) for d in r1.weekdays])
        off = off_days[wday]
        if r1.public_holidays:
            off |= is_holiday_days(f.holiday_group[case], day)
        flag("R1_sunday_holiday", timed & off)

    for rule_id, hours in (
        ("R2_contact_hours", rc.contact_hours),
        ("R2_phone_hours", rc.phone_hours),
    ):
        if hours.enabled:
            inside = _hours_table(hours)[seg, wday, minute]
            flag(rule_id, timed & _action_vector(hours.actions)[act] & ~inside)
    del minute, wday

    flat = case * N_ACTIONS + act
    if rc.consent.enabled:
        flag("R3_consent", contact & ~f.consent_ok.ravel()[flat])

    rel = day - f.day0[case]
    in_range = timed & (rel >= 0) & (rel < f.n_offsets)
    cap_index = case * f.n_offsets + np.clip(rel, 0, f.n_offsets - 1)
    del rel
    for key, rule_id in _CAPS:
        cap = getattr(rc.caps, key)
        if cap.enabled:
            over = f.cap_exceeded[rule_id].ravel()[cap_index]
            flag(rule_id, in_range & _action_vector(cap.applies_to)[act] & over)

    if rc.open_dispute.enabled:
        permitted = _action_vector(rc.open_dispute.allowed_actions)
        flag("R5_open_dispute", contact & f.open_dispute[case] & ~permitted[act])

    days_past_due = day - f.oldest_due[case]
    legal = rc.legal_prerequisites
    if legal.enabled:
        ready = (days_past_due >= legal.min_days_past_due) & (day >= f.legal_ready[case])
        flag("R6_legal_prerequisites", timed & _action_vector(legal.actions)[act] & ~ready)

    rel_rule = rc.reliable_customer
    if rel_rule.enabled:
        over = f.cap_exceeded["R7_reliable_customer"].ravel()[cap_index]
        too_often = in_range & _action_vector(rel_rule.applies_to)[act] & over
        too_early = (
            timed
            & _action_vector(rel_rule.restricted_actions)[act]
            & (days_past_due < rel_rule.restricted_min_days_past_due)
        )
        flag("R7_reliable_customer", f.reliable[case] & (too_often | too_early))
    del days_past_due, cap_index, in_range, day

    agency = rc.agency_mode
    if agency.enabled:
        first_ok = _action_vector(agency.first_contact_actions)
        at = np.where(t == NAT, f.as_of[case], t)
        no_prior = ~(f.first_contact[case] < at)
        flag("R8_agency_first_letter", contact & no_prior & ~first_ok[act])

    pause = rc.contest_pause
    if pause.enabled:
        flag("R9_contest_pause", contact & f.paused[case] & _action_vector(pause.actions)[act])

    mask[~contact] = 0
    review = np.zeros(n, dtype=bool)
    if rc.review.enabled:
        table = np.stack(
            [_action_vector(tuple(rc.review.actions.get(s, ()))) for s in ("B2B", "B2C")]
        )
        review = table[seg, act] & contact
    return mask, review


def _first_rule_table() -> np.ndarray:
    """Code (index in RULE_IDS) of the lowest set bit of every mask; -1 for 0."""
    m = np.arange(_N_MASKS)
    out = np.full(_N_MASKS, -1, dtype=np.int8)
    for i in reversed(range(len(RULE_IDS))):
        out[(m >> i) & 1 == 1] = i
    return out


_FIRST_RULE = _first_rule_table()


def mask_to_ids(mask: int) -> list[str]:
    """Rule ids of a violation bitmask, in :data:`RULE_IDS` order."""
    return [r for i, r in enumerate(RULE_IDS) if mask >> i & 1]


def violation_list(violations: str) -> list[str]:
    """The rule ids of a ``violations`` value (``""`` -> ``[]``)."""
    return [v for v in str(violations).split(",") if v]


def evaluate_arrays(
    cs: CaseSet, case: np.ndarray, act: np.ndarray, t: np.ndarray, config: PolicyConfig
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`evaluate` on arrays (``case``, action code, ``scheduled_at`` as int64 UTC ns with
    ``NAT`` for wait): the bitmask of failing rules (bit i = ``RULE_IDS[i]``, 0 = allowed) and
    ``requires_review`` of each row."""
    return _violation_masks(case_facts(cs, config), config, case, act, t)


def evaluate(
    cs: CaseSet, candidates: pd.DataFrame, config: PolicyConfig | None = None
) -> pd.DataFrame:
    """Check candidate (case, action, scheduled_at) rows against the compliance rules.

    ``candidates`` has columns ``case`` (row position in ``cs.cases``), ``action`` (one of
    the catalogue) and ``scheduled_at`` (tz-aware; NaT for ``wait``). Returns the same rows
    (same index, columns kept) with ``allowed``, ``removed_by``, ``violations`` and
    ``requires_review`` added (see the module docstring).
    """
    config = config if config is not None else load_policy_config()
    missing = {"case", "action", "scheduled_at"} - set(candidates.columns)
    if missing:
        raise ValueError(f"candidates lack column(s) {sorted(missing)}")
    case = candidates["case"].to_numpy(dtype=np.int64)
    if len(case) and (case.min() < 0 or case.max() >= len(cs)):
        raise ValueError("candidates.case must be a row position of cs.cases")
    act = action_codes(candidates["action"]) if len(case) else np.zeros(0, dtype=np.int64)
    t = utc_ns(candidates["scheduled_at"])
    mask, review = evaluate_arrays(cs, case, act, t, config)

    present = np.flatnonzero(np.bincount(mask, minlength=_N_MASKS))
    remap = np.zeros(_N_MASKS, dtype=np.int32)
    remap[present] = np.arange(len(present))
    labels = [",".join(mask_to_ids(int(m))) for m in present]
    out = candidates.copy(deep=False)
    out["allowed"] = mask == 0
    out["removed_by"] = pd.Categorical.from_codes(_FIRST_RULE[mask], dtype=RULE_DTYPE)
    out["violations"] = pd.Categorical.from_codes(remap[mask], categories=labels)
    out["requires_review"] = review
    return out


# --------------------------------------------------------------------------------------
# Candidate grid


def candidates(cs: CaseSet, config: PolicyConfig | None = None) -> pd.DataFrame:
    """Every contact action at every candidate slot of each case, plus one ``wait`` row.

    Slots are the configured local hours on the next days in the debtor's time zone, within
    ``(as_of, as_of + min(days_ahead, horizon) days]``. Rows are ordered by case, then
    ``wait`` first, then action (catalogue order), then time. Columns: ``case``, ``action``
    (categorical over :data:`~scoring.contract.ACTIONS`), ``scheduled_at`` (UTC, NaT for wait).
    """
    config = config if config is not None else load_policy_config()
    case, code, t = candidate_arrays(cs, config)
    return pd.DataFrame(
        {
            "case": case,
            "action": pd.Categorical.from_codes(code, dtype=ACTION_DTYPE),
            "scheduled_at": pd.DatetimeIndex(t.view("datetime64[ns]")).tz_localize("UTC"),
        }
    )


def candidate_arrays(
    cs: CaseSet, config: PolicyConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`candidates` as arrays: ``case``, action code (index in :data:`ACTIONS`) and
    ``scheduled_at`` (int64 UTC ns, ``NAT`` for wait)."""
    n = len(cs)
    days = min(config.slots.days_ahead, config.compliance.horizon.days)
    slot_case, slot_t = candidate_slot_arrays(
        cs.column("cases", "as_of"),
        tz_codes(cs.column("cases", "department")),
        config.slots.hours,
        days,
    )
    per_case = np.bincount(slot_case, minlength=n).astype(np.int64)
    slot_start = np.concatenate([[0], np.cumsum(per_case)[:-1]]) if n else per_case
    n_contact = N_ACTIONS - 1
    rows_per_case = n_contact * per_case + 1
    total = int(rows_per_case.sum())
    row_case = np.repeat(np.arange(n, dtype=np.int64), rows_per_case)
    case_first_row = np.concatenate([[0], np.cumsum(rows_per_case)[:-1]]) if n else rows_per_case
    pos = np.arange(total, dtype=np.int64) - case_first_row[row_case]
    is_wait = pos == 0
    q = np.maximum(pos - 1, 0)
    k = np.maximum(per_case[row_case], 1)
    contact_codes = np.array([i for i in range(N_ACTIONS) if i != WAIT], dtype=np.int8)
    code = np.where(is_wait, WAIT, contact_codes[np.minimum(q // k, n_contact - 1)]).astype(np.int8)
    padded = np.append(slot_t, NAT)  # safe index when a case (or all) has no slot
    t = np.where(is_wait, NAT, padded[np.minimum(slot_start[row_case] + q % k, len(slot_t))])
    return row_case, code, t


def allowed_pairs(cs: CaseSet, config: PolicyConfig | None = None) -> pd.DataFrame:
    """:func:`evaluate` on the full :func:`candidates` grid."""
    config = config if config is not None else load_policy_config()
    return evaluate(cs, candidates(cs, config), config)


# --------------------------------------------------------------------------------------
# Summaries


def removal_summary(result: pd.DataFrame) -> pd.DataFrame:
    """Per case, the actions with no allowed row and the rules that removed them.

    ``result`` is the output of :func:`evaluate`. Returns one row per (case, removed action):
    ``case``, ``action``, ``removed_by`` (the rule that removed most of its rows, ties going to
    the earlier rule), ``rules`` (every rule that removed some row, most rows first,
    comma-separated) and ``n_rows`` (how many rows the action had).
    """
    case = result["case"].to_numpy(dtype=np.int64)
    act = action_codes(result["action"]) if len(result) else np.zeros(0, dtype=np.int64)
    n_cases = int(case.max()) + 1 if len(case) else 0
    rule = result["removed_by"].cat.codes.to_numpy().astype(np.int64)
    return _summary(case, act, rule, n_cases)


def removal_summary_arrays(
    case: np.ndarray, act: np.ndarray, mask: np.ndarray, n_cases: int
) -> pd.DataFrame:
    """:func:`removal_summary` from arrays (``mask`` as returned by :func:`evaluate_arrays`)."""
    return _summary(
        np.asarray(case, dtype=np.int64),
        np.asarray(act, dtype=np.int64),
        _FIRST_RULE[mask].astype(np.int64),
        n_cases,
    )


def _summary(case: np.ndarray, act: np.ndarray, rule: np.ndarray, n_cases: int) -> pd.DataFrame:
    removed, ranked = _removed_rules(case, act, rule, n_cases)
    n_rules = len(RULE_IDS)
    patterns, inverse = (
        np.unique(ranked, axis=0, return_inverse=True)
        if len(removed)
        else (np.zeros((0, n_rules), dtype=np.int8), np.zeros(0, dtype=np.int64))
    )
    labels = [",".join(RULE_IDS[i] for i in p if i >= 0) for p in patterns]
    top = ranked[:, 0] if len(removed) else np.zeros(0, dtype=np.int8)
    return pd.DataFrame(
        {
            "case": removed // N_ACTIONS,
            "action": pd.Categorical.from_codes(removed % N_ACTIONS, dtype=ACTION_DTYPE),
            "removed_by": pd.Categorical.from_codes(top.astype(np.int8), dtype=RULE_DTYPE),
            "rules": pd.Categorical.from_codes(np.ravel(inverse), categories=labels),
            "n_rows": np.bincount(case * N_ACTIONS + act, minlength=n_cases * N_ACTIONS)[removed],
        }
    )


def _removed_rules(
    case: np.ndarray, act: np.ndarray, rule: np.ndarray, n_cases: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (case, action) keys (``case * N_ACTIONS + action``) with rows but none allowed, and
    for each the rule codes that removed its rows, most rows first (ties: earlier rule), -1
    padded. ``rule`` is the first failing rule of each row (-1 when allowed)."""
    key = case * N_ACTIONS + act
    size = n_cases * N_ACTIONS
    n_rows = np.bincount(key, minlength=size)
    n_allowed = np.bincount(key[rule < 0], minlength=size)
    removed = np.flatnonzero((n_rows > 0) & (n_allowed == 0))
    n_rules = len(RULE_IDS)
    rank = np.full(size, -1, dtype=np.int64)
    rank[removed] = np.arange(len(removed))
    r = rank[key]
    sel = (r >= 0) & (rule >= 0)
    counts = np.bincount(r[sel] * n_rules + rule[sel], minlength=len(removed) * n_rules)
    counts = counts.reshape(len(removed), n_rules)
    order = np.argsort(-counts, axis=1, kind="stable")
    ranked = np.where(np.take_along_axis(counts, order, axis=1) > 0, order, -1).astype(np.int8)
    return removed, ranked


def removal_reasons_arrays(
    case: np.ndarray, act: np.ndarray, mask: np.ndarray, n_cases: int
) -> list[dict[str, list[str]]]:
    """:func:`removal_reasons` from arrays (``mask`` as returned by :func:`evaluate_arrays`).

    The rules that fail on *every* candidate slot of a removed action are the ones that
    removed it (consent, an open dispute, the legal prerequisites...): they are given alone,
    in :data:`RULE_IDS` order. Only when no single rule fails everywhere (a Sunday slot here,
    an out-of-hours one there) are the first failing rules of the slots given, most slots
    first: so the Sunday rule is not blamed for an action that consent forbids anyway."""
    case = np.asarray(case, dtype=np.int64)
    act = np.asarray(act, dtype=np.int64)
    mask = np.asarray(mask)
    removed, ranked = _removed_rules(case, act, _FIRST_RULE[mask].astype(np.int64), n_cases)
    everywhere = np.zeros(len(removed), dtype=np.int64)
    if len(removed):
        key = case * N_ACTIONS + act
        order = np.argsort(key, kind="stable")
        keys, starts = np.unique(key[order], return_index=True)
        all_fail = np.bitwise_and.reduceat(mask[order].astype(np.int64), starts)
        everywhere = all_fail[np.searchsorted(keys, removed)]
    out: list[dict[str, list[str]]] = [{} for _ in range(n_cases)]
    for key, rules, both in zip(
        removed.tolist(), ranked.tolist(), everywhere.tolist(), strict=True
    ):
        names = mask_to_ids(int(both)) if both else [RULE_IDS[i] for i in rules if i >= 0]
        out[key // N_ACTIONS][ACTIONS[key % N_ACTIONS]] = names
    return out


def removal_reasons(result: pd.DataFrame, n_cases: int | None = None) -> list[dict[str, list[str]]]:
    """Per case (list position = case), ``{removed action: [rule ids, most rows first]}``.

    Meant for responses of a few cases (it builds Python objects per removed action).
    """
    summary = removal_summary(result)
    if n_cases is None:
        n_cases = int(result["case"].max()) + 1 if len(result) else 0
    out: list[dict[str, list[str]]] = [{} for _ in range(n_cases)]
    for c, a, rules in zip(summary["case"], summary["action"], summary["rules"], strict=True):
        out[int(c)][str(a)] = violation_list(rules)
    return out
