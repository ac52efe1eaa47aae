"""Cases -> feature matrix: one vectorised function shared by training, batch and the API.

Every feature is declared once in :data:`FEATURES` with its French and English label, a short
description, its kind and (for the default-risk model) a monotone direction where the domain
is unambiguous. Categorical features use the fixed vocabularies of the contract; a value
outside them becomes ``unknown`` (see :func:`unknown_values`), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.calendar import NAT, TIME_ZONES, local_days, utc_to_local_ns, weekdays
from scoring.cases import REFERENCE_TZ, CaseSet
from scoring.contract import ACTIONS, COMPANY_SIZES, OUTCOMES, SECTORS

UNKNOWN = "unknown"
NONE = "none"


@dataclass(frozen=True)
class Feature:
    name: str
    label_fr: str
    label_en: str
    description: str
    kind: str = "num"  # "num" or "cat"
    categories: tuple[str, ...] = ()
    monotone_default: int = 0  # +1: never lowers default risk; -1: never raises it
    unit: str = ""  # how a value reads in a reason text: "days", "EUR", "share", "count", "years"

    def label(self, lang: str) -> str:
        return self.label_fr if lang == "fr" else self.label_en


def _f(*args, **kw) -> Feature:
    return Feature(*args, **kw)


FEATURES: tuple[Feature, ...] = (
    # -- debtor
    _f("segment", "Segment", "Segment", "B2B or B2C debtor", "cat", ("B2B", "B2C")),
    _f(
        "sector",
        "Secteur d'activité",
        "Business sector",
        "NAF section (none for B2C)",
        "cat",
        (*SECTORS, NONE, UNKNOWN),
    ),
    _f(
        "company_size",
        "Taille d'entreprise",
        "Company size",
        "B2B company size",
        "cat",
        (*COMPANY_SIZES, NONE),
    ),
    _f(
        "overseas",
        "Département d'outre-mer",
        "Overseas département",
        "debtor in an overseas département",
        unit="flag",
    ),
    _f(
        "relationship_years",
        "Ancienneté de la relation",
        "Relationship length",
        "years since customer_since",
        unit="years",
    ),
    _f(
        "credit_limit", "Plafond de crédit", "Credit limit", "credit limit granted, EUR", unit="EUR"
    ),
    _f(
        "external_score",
        "Score externe",
        "External credit score",
        "third-party score 0-1000, higher is safer",
        unit="score",
    ),
    _f(
        "n_consents",
        "Canaux autorisés",
        "Channels consented",
        "number of electronic/phone channels consented",
        unit="count",
    ),
    # -- open invoices
    _f(
        "n_open_invoices",
        "Factures ouvertes",
        "Open invoices",
        "invoices open at as_of",
        unit="count",
    ),
    _f(
        "open_amount",
        "Encours ouvert",
        "Open balance",
        "total amount of open invoices, EUR",
        unit="EUR",
    ),
    _f(
        "overdue_amount",
        "Montant échu",
        "Overdue amount",
        "amount of open invoices past their due date, EUR",
        unit="EUR",
    ),
    _f(
        "share_overdue",
        "Part échue de l'encours",
        "Overdue share of balance",
        "overdue amount / open amount",
        unit="share",
    ),
    _f(
        "max_days_past_due",
        "Retard maximal",
        "Days past due",
        "days past due of the oldest open invoice (negative: not yet due)",
        monotone_default=1,
        unit="days",
    ),
    _f(
        "mean_days_past_due",
        "Retard moyen pondéré",
        "Mean days past due",
        "amount-weighted days past due of open invoices",
        monotone_default=1,
        unit="days",
    ),
    _f(
        "max_invoice_amount",
        "Plus grosse facture ouverte",
        "Largest open invoice",
        "largest open invoice, EUR",
        unit="EUR",
    ),
    _f(
        "share_no_po_ref",
        "Factures sans bon de commande",
        "Invoices without PO reference",
        "share of open invoices not quoting the order reference",
        unit="share",
    ),
    _f(
        "share_paper",
        "Factures papier",
        "Paper invoices",
        "share of open invoices sent on paper",
        unit="share",
    ),
    _f(
        "n_open_disputes",
        "Litiges en cours",
        "Open disputes",
        "invoices with an unresolved dispute (open ones and the debtor's others)",
        unit="count",
    ),
    _f(
        "n_open_undisputed",
        "Factures ouvertes non contestées",
        "Open invoices not disputed",
        "open invoices without a dispute",
        unit="count",
    ),
    _f(
        "max_days_past_due_undisputed",
        "Retard maximal hors litige",
        "Days past due (undisputed)",
        "days past due of the oldest open invoice without a dispute",
        unit="days",
    ),
    _f(
        "min_days_past_due_undisputed",
        "Retard de la plus récente hors litige",
        "Days past due of the newest undisputed",
        "days past due of the most recently due open invoice without a dispute",
        unit="days",
    ),
    _f(
        "n_open_skipped",
        "Factures sautées",
        "Invoices skipped",
        "open undisputed invoices already due when the debtor last paid (something else)",
        unit="count",
    ),
    _f(
        "share_open_skipped",
        "Part sautée de l'encours",
        "Skipped share of balance",
        "amount of skipped invoices / open amount",
        unit="share",
    ),
    _f(
        "skip_days",
        "Retard au dernier paiement",
        "Overdue at last payment",
        "days the oldest skipped invoice was past due when the debtor last paid",
        unit="days",
    ),
    _f(
        "exposure_ratio",
        "Encours / plafond",
        "Balance / credit limit",
        "open amount over credit limit",
        unit="share",
    ),
    _f(
        "balance_vs_usual",
        "Encours / facture moyenne",
        "Balance / usual invoice",
        "open amount over the mean invoice amount",
        unit="ratio",
    ),
    # -- payment history
    _f(
        "n_invoices_hist",
        "Historique de factures",
        "Invoice history",
        "invoices issued before as_of",
        unit="count",
    ),
    _f(
        "share_paid_late",
        "Part payée en retard",
        "Share paid late",
        "share of paid invoices paid after the due date",
        monotone_default=1,
        unit="share",
    ),
    _f(
        "share_paid_late_12m",
        "Part payée en retard (12 mois)",
        "Share paid late (12 months)",
        "same over the last 12 months",
        monotone_default=1,
        unit="share",
    ),
    _f(
        "share_paid_late_90d",
        "Part payée en retard (90 jours)",
        "Share paid late (90 days)",
        "share of the invoices paid in the last 90 days that were paid late",
        unit="share",
    ),
    _f(
        "mean_days_late_90d",
        "Retard moyen récent",
        "Recent mean days late",
        "mean days late of the invoices paid in the last 90 days",
        unit="days",
    ),
    _f(
        "n_paid_90d",
        "Paiements (90 jours)",
        "Payments (90 days)",
        "invoices paid in the last 90 days",
        unit="count",
    ),
    _f(
        "mean_days_late",
        "Retard moyen de paiement",
        "Mean days late",
        "mean days late over paid invoices",
        unit="days",
    ),
    _f(
        "max_days_late",
        "Retard maximal de paiement",
        "Max days late",
        "maximum days late over paid invoices",
        unit="days",
    ),
    _f(
        "last5_n_late",
        "Retards sur les 5 dernières",
        "Late among last 5",
        "of the last (up to) 5 paid invoices, how many were late",
        unit="last5",
    ),
    _f(
        "n_disputes",
        "Litiges passés",
        "Past disputes",
        "disputes raised before as_of",
        unit="count",
    ),
    _f(
        "dispute_rate",
        "Taux de litige",
        "Dispute rate",
        "disputes per invoice issued",
        unit="share",
    ),
    _f(
        "n_disputes_12m",
        "Litiges (12 mois)",
        "Disputes (12 months)",
        "disputes raised in the last 12 months",
        unit="count",
    ),
    _f(
        "n_disputes_billing",
        "Litiges pour erreur de facturation",
        "Billing-error disputes",
        "past disputes whose reason was a billing error",
        unit="count",
    ),
    _f(
        "billing_dispute_rate",
        "Taux d'erreurs de facturation",
        "Billing-error rate",
        "past billing-error disputes per invoice issued",
        unit="share",
    ),
    _f(
        "n_legal",
        "Contentieux passés",
        "Past litigation",
        "invoices handed to litigation before as_of",
        unit="count",
    ),
    _f(
        "days_since_last_payment",
        "Jours depuis le dernier paiement",
        "Days since last payment",
        "days since the last payment",
        unit="days",
    ),
    _f(
        "amount_paid_12m",
        "Payé sur 12 mois",
        "Paid over 12 months",
        "amount paid in the last 12 months, EUR",
        unit="EUR",
    ),
    # -- contact history
    _f(
        "n_contacts_30d",
        "Relances (30 jours)",
        "Contacts (30 days)",
        "contacts in the last 30 days",
        unit="count",
    ),
    _f(
        "n_contacts_cycle",
        "Relances sur l'encours",
        "Contacts on open balance",
        "contacts since the oldest open invoice was issued",
        unit="count",
    ),
    _f(
        "n_calls_30d",
        "Appels (30 jours)",
        "Calls (30 days)",
        "phone calls in the last 30 days",
        unit="count",
    ),
    _f(
        "n_formal_notices",
        "Mises en demeure",
        "Formal notices",
        "formal notices in the last 180 days",
        unit="count",
    ),
    _f(
        "days_since_last_contact",
        "Jours depuis la dernière relance",
        "Days since last contact",
        "days since the last contact",
        unit="days",
    ),
    _f(
        "last_action",
        "Dernière action",
        "Last action",
        "last action decided",
        "cat",
        (*ACTIONS, NONE),
    ),
    _f(
        "last_outcome",
        "Dernier résultat",
        "Last outcome",
        "outcome of the last contact",
        "cat",
        (*OUTCOMES, NONE),
    ),
    _f(
        "n_not_reached_90d",
        "Injoignable (90 jours)",
        "Not reached (90 days)",
        "contacts not reached in the last 90 days",
        unit="count",
    ),
    _f(
        "n_promises_90d",
        "Promesses de paiement (90 jours)",
        "Promises to pay (90 days)",
        "promises to pay in the last 90 days",
        unit="count",
    ),
    _f(
        "n_complaints_180d",
        "Réclamations (180 jours)",
        "Complaints (180 days)",
        "complaints in the last 180 days",
        unit="count",
    ),
    # -- calendar
    _f("month", "Mois", "Month", "month of as_of", unit="month"),
    _f("weekday", "Jour de la semaine", "Weekday", "weekday of as_of (0 = Monday)", unit="weekday"),
)
FEATURE_BY_NAME = {f.name: f for f in FEATURES}
FEATURE_NAMES = [f.name for f in FEATURES]
CATEGORICAL = [f.name for f in FEATURES if f.kind == "cat"]
_CODES = {f.name: {c: i for i, c in enumerate(f.categories)} for f in FEATURES if f.kind == "cat"}
_DTYPES = {f.name: pd.CategoricalDtype(list(f.categories)) for f in FEATURES if f.kind == "cat"}
_COLUMN = {name: j for j, name in enumerate(FEATURE_NAMES)}
_PARIS = TIME_ZONES.index(REFERENCE_TZ)
_CONSENTS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_phone")


def _codes(values: np.ndarray, feat: Feature) -> np.ndarray:
    """Codes in the fixed vocabulary: missing -> ``none``, out of vocabulary -> ``unknown``
    (-1 when the vocabulary has no such category)."""
    index = _CODES[feat.name]
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


def feature_arrays(cs: CaseSet) -> dict[str, np.ndarray]:
    """Every feature of every case as a numpy array: float64 for numeric features, int16
    vocabulary codes for categorical ones. :func:`features` and :func:`feature_matrix` wrap it.
    """
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
        if k not in _DTYPES:
            v = np.asarray(out[k], dtype=np.float64)
            out[k] = np.where(np.isinf(v), np.nan, v)
    return out


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


def frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`feature_arrays` as the feature frame."""
    return pd.DataFrame(
        {
            k: pd.Categorical.from_codes(arrays[k], dtype=_DTYPES[k]) if k in _DTYPES else arrays[k]
            for k in FEATURE_NAMES
        }
    )


def feature_matrix(
    arrays: dict[str, np.ndarray], names: list[str], vocab: dict[str, list[str]]
) -> np.ndarray | None:
    """The float matrix a model trained on ``names`` sees (categoricals as codes, NaN when
    missing), straight from :func:`feature_arrays`; None when a vocabulary of the model differs
    from the current one (then go through :func:`scoring.models.risk.as_matrix`)."""
    for k, cats in vocab.items():
        if k not in _DTYPES or list(_DTYPES[k].categories) != list(cats):
            return None
    n = len(next(iter(arrays.values()))) if arrays else 0
    out = np.empty((n, len(names)), dtype=np.float64)
    for j, k in enumerate(names):
        v = arrays[k]
        out[:, j] = np.where(v < 0, np.nan, v) if k in _DTYPES else v
    return out


def monotone_constraints(names: list[str] | None = None) -> list[int]:
    """LightGBM ``monotone_constraints`` for the default-risk model, in column order."""
    return [FEATURE_BY_NAME[n].monotone_default for n in (names or FEATURE_NAMES)]
