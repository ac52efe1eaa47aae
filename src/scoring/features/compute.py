"""The one feature function: a :class:`~scoring.cases.CaseSet` -> feature arrays (vectorised,
shared by training, batch and the API)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.calendar import NAT, TIME_ZONES, local_days, utc_to_local_ns, weekdays
from scoring.cases import REFERENCE_TZ, CaseSet
from scoring.contract import SECTORS
from scoring.features.catalogue import (
    CATEGORY_CODES,
    CATEGORY_DTYPES,
    FEATURE_BY_NAME,
    FEATURE_NAMES,
    NONE,
    UNKNOWN,
    Feature,
)
from scoring.features.matrix import FeatureArrays, frame

_COLUMN = {name: j for j, name in enumerate(FEATURE_NAMES)}
_PARIS = TIME_ZONES.index(REFERENCE_TZ)
_CONSENTS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_phone")


def _codes(values: np.ndarray, feat: Feature) -> np.ndarray:
    """Codes in the fixed vocabulary: missing -> ``none``, out of vocabulary -> ``unknown``
    (-1 when the vocabulary has no such category)."""
    index = CATEGORY_CODES[feat.name]
    missing = index.get(NONE, -1)
    unknown = index.get(UNKNOWN, -1)
    return np.fromiter(
        (missing if x is None else index.get(x, unknown) for x in values),
        dtype=np.int16,
        count=len(values),
    )


def unknown_values(cs: CaseSet) -> list[list[str]]:
    """Per case, the fields whose value was never seen in the vocabulary (scored as unknown)."""
    known = set(SECTORS)
    return [
        ["sector"] if s is not None and s not in known else [] for s in cs.column("cases", "sector")
    ]


def _per_case(values, case: np.ndarray, n: int, how: str) -> np.ndarray:
    """max / min / mean of ``values`` per case, NaN-skipping; NaN for a case without values."""
    v = np.asarray(values, dtype="float64")
    ok = ~np.isnan(v)
    v, c = v[ok], np.asarray(case)[ok]
    if how == "mean":
        cnt = np.bincount(c, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, np.bincount(c, weights=v, minlength=n) / cnt, np.nan)
    out = np.full(n, -np.inf if how == "max" else np.inf)
    (np.maximum if how == "max" else np.minimum).at(out, c, v)
    return np.where(np.isinf(out), np.nan, out)


def _last_per_case(values: np.ndarray, case: np.ndarray, n: int) -> np.ndarray:
    """The last value of each case (rows sorted by case then time); None if none."""
    out = np.full(n, None, dtype=object)
    out[np.asarray(case)] = values  # later rows overwrite earlier ones
    return out


# -- columns, as :meth:`CaseSet.column` gives them ----------------------------------------
class _Table:
    """``table[name]``: a column of a case set as a numpy array (see :meth:`CaseSet.column`)."""

    def __init__(self, cs: CaseSet, table: str) -> None:
        self._cs, self._table = cs, table

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cs.column(self._table, name)


def _num(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float64, copy=False)


def _days(v: np.ndarray) -> np.ndarray:
    """Day numbers (float, NaN when missing) of naive dates."""
    d = v.astype("datetime64[D]")
    return np.where(np.isnat(d), np.nan, d.astype(np.int64).astype(np.float64))


def _paris_days(utc_ns: np.ndarray) -> np.ndarray:
    """Day numbers (float) of the Europe/Paris calendar day of UTC instants (see ``as_of_day``)."""
    local = utc_to_local_ns(utc_ns, np.full(len(utc_ns), _PARIS, dtype=np.int64))
    return np.where(local == NAT, np.nan, local_days(local).astype(np.float64))


def feature_arrays(cs: CaseSet) -> FeatureArrays:
    """Every feature of every case as a numpy array (:class:`FeatureArrays`): float64 for
    numeric features, int16 vocabulary codes for categorical ones; :func:`features` is its
    frame."""
    c = _Table(cs, "cases")
    n = len(cs)
    as_of = c["as_of"]
    day = _paris_days(as_of)
    out: dict[str, np.ndarray] = {}

    segment = c["segment"]
    out["segment"] = _codes(segment, FEATURE_BY_NAME["segment"])
    b2b = segment == "B2B"
    none = np.full(n, None, dtype=object)
    out["sector"] = _codes(np.where(b2b, c["sector"], none), FEATURE_BY_NAME["sector"])
    out["company_size"] = _codes(
        np.where(b2b, c["company_size"], none), FEATURE_BY_NAME["company_size"]
    )
    out["overseas"] = np.array([len(str(d)) == 3 for d in c["department"]], dtype=float)
    out["relationship_years"] = (day - _days(c["customer_since"])) / 365.25
    limit = _num(c["credit_limit"])
    out["credit_limit"] = limit
    out["external_score"] = _num(c["external_score"])
    out["n_consents"] = sum(c[k].astype(np.float64) for k in _CONSENTS) + np.zeros(n)

    inv = _Table(cs, "invoices")
    ic = inv["case"]
    dpd = day[ic] - _days(inv["due_date"])
    amount = _num(inv["amount"])
    overdue = dpd > 0
    open_amount = np.bincount(ic, weights=amount, minlength=n)
    out["n_open_invoices"] = np.bincount(ic, minlength=n).astype(float)
    out["open_amount"] = open_amount
    out["overdue_amount"] = np.bincount(ic, weights=amount * overdue, minlength=n)
    hist = {k: _num(c[k]) for k in _HISTORY_NUMERIC}
    last_paid = _days(c["last_payment_date"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_overdue"] = out["overdue_amount"] / open_amount
        out["max_days_past_due"] = _per_case(dpd, ic, n, "max")
        out["mean_days_past_due"] = np.bincount(ic, weights=amount * dpd, minlength=n) / open_amount
        out["max_invoice_amount"] = _per_case(amount, ic, n, "max")
        po = _num(inv["purchase_order_ref"])
        out["share_no_po_ref"] = _per_case(1.0 - po, ic, n, "mean")
        chan = inv["delivery_channel"]
        paper = np.where(np.equal(chan, None), np.nan, (chan == "paper").astype(float))  # type: ignore[call-overload]
        out["share_paper"] = _per_case(paper, ic, n, "mean")
        disputed = ~np.isnan(_days(inv["dispute_date"])) & np.isnan(
            _days(inv["dispute_resolved_date"])
        )
        out["n_open_disputes"] = (
            np.bincount(ic, weights=disputed.astype(float), minlength=n)
            + hist["n_open_disputes_other"]
        )
        # undisputed open invoices; "skipped" ones were already due when the debtor last
        # paid: paying other invoices but not this one points to a problem with it
        undisp = np.isnan(_days(inv["dispute_date"]))
        out["n_open_undisputed"] = np.bincount(ic, weights=undisp.astype(float), minlength=n)
        out["max_days_past_due_undisputed"] = _per_case(np.where(undisp, dpd, np.nan), ic, n, "max")
        out["min_days_past_due_undisputed"] = _per_case(np.where(undisp, dpd, np.nan), ic, n, "min")
        gap = last_paid[ic] - _days(inv["due_date"])
        skipped = undisp & (gap > 0)
        out["n_open_skipped"] = np.bincount(ic, weights=skipped.astype(float), minlength=n)
        out["share_open_skipped"] = (
            np.bincount(ic, weights=amount * skipped, minlength=n) / open_amount
        )
        out["skip_days"] = _per_case(np.where(skipped, gap, np.nan), ic, n, "max")
        out["exposure_ratio"] = np.where(
            limit > 0, open_amount / np.where(limit > 0, limit, 1.0), np.nan
        )
        out["balance_vs_usual"] = open_amount / hist["mean_invoice_amount"]

        n_paid = hist["n_paid"]
        n_paid12 = hist["n_paid_12m"]
        n_inv = hist["n_invoices"]
        out["n_invoices_hist"] = n_inv
        out["share_paid_late"] = np.where(n_paid > 0, hist["n_paid_late"] / n_paid, np.nan)
        out["share_paid_late_12m"] = np.where(
            n_paid12 > 0, hist["n_paid_late_12m"] / n_paid12, np.nan
        )
        n_paid90 = hist["n_paid_90d"]
        out["n_paid_90d"] = n_paid90
        out["share_paid_late_90d"] = np.where(
            n_paid90 > 0, hist["n_paid_late_90d"] / n_paid90, np.nan
        )
        out["mean_days_late_90d"] = hist["mean_days_late_90d"]
        out["mean_days_late"] = hist["mean_days_late"]
        out["max_days_late"] = hist["max_days_late"]
        out["last5_n_late"] = np.where(hist["last5_n"] > 0, hist["last5_n_late"], np.nan)
        out["n_disputes"] = hist["n_disputes"]
        out["dispute_rate"] = np.where(n_inv > 0, out["n_disputes"] / n_inv, np.nan)
        out["n_disputes_12m"] = hist["n_disputes_12m"]
        out["n_disputes_billing"] = hist["n_disputes_billing"]
        out["billing_dispute_rate"] = np.where(n_inv > 0, out["n_disputes_billing"] / n_inv, np.nan)
        out["n_legal"] = hist["n_legal"]
        out["days_since_last_payment"] = day - last_paid
        out["amount_paid_12m"] = hist["amount_paid_12m"]

    act = _Table(cs, "actions")
    ac = act["case"]
    decided = act["decided_at"]
    # whole seconds between the decision and as_of, as the frame arithmetic truncates them
    gap = as_of[ac] - decided
    age_days = np.where(decided == NAT, np.nan, (np.sign(gap) * (np.abs(gap) // 10**9)) / 86400.0)
    action = act["action"]
    outcome = act["outcome"]
    is_contact = action != "wait"
    oldest_issue = _per_case(_days(inv["issue_date"]), ic, n, "min")
    in_cycle = _paris_days(decided) >= oldest_issue[ac]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(ac, weights=mask.astype(float), minlength=n)

    out["n_contacts_30d"] = count(is_contact & (age_days <= 30))
    out["n_contacts_cycle"] = count(is_contact & in_cycle)
    out["n_calls_30d"] = count((action == "phone_call") & (age_days <= 30))
    out["n_formal_notices"] = count(action == "formal_notice")
    out["days_since_last_contact"] = _per_case(np.where(is_contact, age_days, np.nan), ac, n, "min")
    # responsiveness: contacts left unanswered since the last payment, and how soon after a
    # contact the last payment came
    contact_day = _paris_days(decided)
    paid_day = last_paid[ac]
    after = is_contact & (contact_day > paid_day)
    out["contacts_since_last_payment"] = np.where(
        np.isnan(last_paid), count(is_contact), count(after)
    )
    before = is_contact & (contact_day <= paid_day)
    last_before = _per_case(np.where(before, contact_day, np.nan), ac, n, "max")
    out["days_contact_to_payment"] = last_paid - last_before
    # actions are sorted by (case, decided_at): the last row per case is the latest
    out["last_action"] = _codes(_last_per_case(action, ac, n), FEATURE_BY_NAME["last_action"])
    has_outcome = is_contact & np.not_equal(outcome, None)  # type: ignore[call-overload]
    out["last_outcome"] = _codes(
        _last_per_case(outcome[has_outcome], ac[has_outcome], n), FEATURE_BY_NAME["last_outcome"]
    )
    out["n_not_reached_90d"] = count((outcome == "not_reached") & (age_days <= 90))
    out["n_promises_90d"] = count((outcome == "promise_to_pay") & (age_days <= 90))
    out["n_complaints_180d"] = count(outcome == "complaint")

    local_day = _paris_days(as_of)  # the calendar of as_of in Paris
    ok = ~np.isnan(local_day)
    d = np.where(ok, local_day, 0).astype(np.int64).astype("datetime64[D]")
    out["month"] = np.where(ok, d.astype("datetime64[M]").astype(np.int64) % 12 + 1.0, np.nan)
    out["weekday"] = np.where(ok, weekdays(np.where(ok, local_day, 0)).astype(float), np.nan)

    for k in FEATURE_NAMES:
        if k not in CATEGORY_DTYPES:
            v = np.asarray(out[k], dtype=np.float64)
            out[k] = np.where(np.isinf(v), np.nan, v)
    return FeatureArrays(out)


_HISTORY_NUMERIC = (
    "n_open_disputes_other", "mean_invoice_amount", "n_paid", "n_paid_12m", "n_invoices",
    "n_paid_late", "n_paid_late_12m", "n_paid_90d", "n_paid_late_90d", "mean_days_late_90d",
    "mean_days_late", "max_days_late", "last5_n", "last5_n_late", "n_disputes", "n_disputes_12m",
    "n_legal", "amount_paid_12m", "n_disputes_billing",
)  # fmt: skip


def features(cs: CaseSet) -> pd.DataFrame:
    """The feature matrix of a :class:`CaseSet`: one row per case, columns :data:`FEATURE_NAMES`
    (categorical features as pandas categoricals in the fixed vocabularies)."""
    return frame(feature_arrays(cs))
