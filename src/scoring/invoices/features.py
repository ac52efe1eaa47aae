"""Features of each open invoice: the invoice's own facts next to its case's features.

One row per row of ``CaseSet.invoices`` (same order). The matrix is plain float64: the
invoice columns of :data:`INVOICE_FEATURES`, then every case feature of
:data:`scoring.features.FEATURE_NAMES` (categoricals as their vocabulary codes, -1 when
missing, which LightGBM reads as missing). Training, the batch and the API all go through
:func:`invoice_matrix`, so they read the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scoring.calendar import (
    NAT,
    TIME_ZONES,
    holiday_groups,
    is_holiday_days,
    local_days,
    utc_to_local_ns,
    weekdays,
)
from scoring.cases import REFERENCE_TZ, CaseSet
from scoring.explain import reason_text
from scoring.features import FEATURE_NAMES, feature_arrays
from scoring.features.catalogue import CATEGORY_DTYPES

_PARIS = TIME_ZONES.index(REFERENCE_TZ)
CHANNELS = ("e_invoice", "email", "paper")


@dataclass(frozen=True)
class InvoiceFeature:
    name: str
    label_fr: str
    label_en: str
    description: str
    categorical: bool = False


INVOICE_FEATURES: tuple[InvoiceFeature, ...] = (
    InvoiceFeature("inv_amount", "Montant de la facture", "Invoice amount", "EUR"),
    InvoiceFeature(
        "inv_amount_vs_usual",
        "Montant par rapport à l'habituel",
        "Amount vs usual",
        "amount / the debtor's mean invoice amount before as_of",
    ),
    InvoiceFeature(
        "inv_share_of_balance",
        "Part de l'encours",
        "Share of the open balance",
        "amount / open amount of the case",
    ),
    InvoiceFeature(
        "inv_terms_days", "Délai de paiement", "Payment terms", "due date - issue date, days"
    ),
    InvoiceFeature(
        "inv_days_past_due",
        "Retard de la facture",
        "Invoice days past due",
        "as_of day - due date (negative: not yet due)",
    ),
    InvoiceFeature(
        "inv_age_days", "Âge de la facture", "Invoice age", "as_of day - issue date, days"
    ),
    InvoiceFeature(
        "inv_po_ref",
        "Référence de commande",
        "Order reference",
        "1 if the invoice quotes the order reference, 0 if not, missing if unknown",
    ),
    InvoiceFeature(
        "inv_channel",
        "Canal d'envoi",
        "Delivery channel",
        "code of e_invoice, email, paper (missing if unknown)",
        categorical=True,
    ),
    InvoiceFeature(
        "inv_disputed",
        "Facture contestée",
        "Invoice disputed",
        "1 if a dispute was raised on it before as_of",
    ),
    InvoiceFeature(
        "inv_dispute_resolved",
        "Litige résolu",
        "Dispute resolved",
        "1 if its dispute was resolved before as_of",
    ),
    InvoiceFeature(
        "inv_skipped",
        "Facture contournée",
        "Invoice skipped",
        "1 if already due when the debtor last paid (another invoice) and not disputed",
    ),
    InvoiceFeature(
        "inv_due_rank",
        "Rang d'échéance",
        "Due-date rank",
        "0 for the case's oldest due date, 1 for the next, ...",
    ),
    InvoiceFeature(
        "inv_n_same_day",
        "Factures du même jour",
        "Invoices issued the same day",
        "open invoices of the case issued the same day",
    ),
)
INVOICE_FEATURE_NAMES = [f.name for f in INVOICE_FEATURES]
INVOICE_BY_NAME = {f.name: f for f in INVOICE_FEATURES}
#: every column of the invoice matrix, in order
MATRIX_COLUMNS = [*INVOICE_FEATURE_NAMES, *FEATURE_NAMES]
#: positions of the categorical columns (LightGBM ``categorical_feature``)
CATEGORICAL_POSITIONS = [
    j
    for j, n in enumerate(MATRIX_COLUMNS)
    if n in CATEGORY_DTYPES or (n in INVOICE_BY_NAME and INVOICE_BY_NAME[n].categorical)
]


def _days(v: np.ndarray) -> np.ndarray:
    d = np.asarray(v).astype("datetime64[D]")
    return np.where(np.isnat(d), np.nan, d.astype(np.int64).astype(np.float64))


def _paris_days(utc_ns: np.ndarray) -> np.ndarray:
    local = utc_to_local_ns(utc_ns, np.full(len(utc_ns), _PARIS, dtype=np.int64))
    return np.where(local == NAT, np.nan, local_days(local).astype(np.float64))


@dataclass
class InvoiceMatrix:
    """The invoice matrix of a case set and what reasons and aggregation need."""

    X: np.ndarray  # (n_invoices, len(MATRIX_COLUMNS))
    case: np.ndarray  # case position of each row
    n_cases: int
    day: np.ndarray  # as_of calendar day number (Europe/Paris) of each row
    due: np.ndarray  # due date day number of each row
    amount: np.ndarray
    disputed: np.ndarray  # bool: dispute raised before as_of (cannot be raised again)
    holiday_group: np.ndarray | None = None  # public-holiday calendar of each row's debtor

    def column(self, name: str) -> np.ndarray:
        return self.X[:, MATRIX_COLUMNS.index(name)]


def invoice_matrix(cs: CaseSet, case_arrays=None) -> InvoiceMatrix:
    """The invoice matrix of ``cs`` (``case_arrays``: its case feature arrays if already
    computed, see :func:`scoring.features.feature_arrays`)."""
    arrays = case_arrays if case_arrays is not None else feature_arrays(cs)
    n = len(cs)
    ic = np.asarray(cs.column("invoices", "case"), dtype=np.int64)
    day_case = _paris_days(cs.column("cases", "as_of"))
    day = day_case[ic]
    issue = _days(cs.column("invoices", "issue_date"))
    due = _days(cs.column("invoices", "due_date"))
    amount = np.asarray(cs.column("invoices", "amount"), dtype=np.float64)
    mean_amount = np.asarray(cs.column("cases", "mean_invoice_amount"), dtype=np.float64)[ic]
    last_paid = _days(cs.column("cases", "last_payment_date"))[ic]
    open_amount = np.bincount(ic, weights=amount, minlength=n)[ic]
    po = np.asarray(cs.column("invoices", "purchase_order_ref"), dtype=np.float64)
    chan = cs.column("invoices", "delivery_channel")
    chan_code = np.array(
        [CHANNELS.index(c) if c in CHANNELS else np.nan for c in chan], dtype=np.float64
    )
    disputed = ~np.isnan(_days(cs.column("invoices", "dispute_date")))
    resolved = ~np.isnan(_days(cs.column("invoices", "dispute_resolved_date")))
    dpd = day - due
    # rank of the due date within the case (rows are sorted by case, due date)
    order = np.lexsort((due, ic))
    rank = np.empty(len(ic), dtype=np.float64)
    if len(ic):
        starts = np.r_[0, np.flatnonzero(np.diff(ic[order])) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, len(ic)]))
        rank[order] = np.arange(len(ic)) - first
    key = ic * 1_000_000 + np.nan_to_num(issue, nan=0).astype(np.int64)
    _, inv_idx, counts = np.unique(key, return_inverse=True, return_counts=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols = {
            "inv_amount": amount,
            "inv_amount_vs_usual": np.where(mean_amount > 0, amount / mean_amount, np.nan),
            "inv_share_of_balance": np.where(open_amount > 0, amount / open_amount, np.nan),
            "inv_terms_days": due - issue,
            "inv_days_past_due": dpd,
            "inv_age_days": day - issue,
            "inv_po_ref": po,
            "inv_channel": chan_code,
            "inv_disputed": disputed.astype(np.float64),
            "inv_dispute_resolved": resolved.astype(np.float64),
            "inv_skipped": (~disputed & (last_paid - due > 0)).astype(np.float64),
            "inv_due_rank": rank,
            "inv_n_same_day": counts[inv_idx].astype(np.float64),
        }
    X = np.empty((len(ic), len(MATRIX_COLUMNS)), dtype=np.float64)
    for j, name in enumerate(INVOICE_FEATURE_NAMES):
        X[:, j] = cols[name]
    k = len(INVOICE_FEATURE_NAMES)
    for j, name in enumerate(FEATURE_NAMES):
        v = np.asarray(arrays[name])
        if name in CATEGORY_DTYPES:
            v = np.where(v < 0, np.nan, v.astype(np.float64))
        X[:, k + j] = v.astype(np.float64)[ic]
    groups = holiday_groups(np.asarray(cs.column("cases", "department")).astype(str))[ic]
    return InvoiceMatrix(X, ic, n, day, due, amount, disputed, groups)


#: calendar columns of the hazard model's weeks
WEEK_COLUMNS = ["week_business_days", "week_month_end", "week_start_mday"]


def week_calendar(day: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """For weeks starting on day numbers ``day``: working days (Monday to Friday, not a public
    holiday of the debtor's département), whether a month ends in the week, and the day of the
    month the week starts on. ``(n, 3)`` float."""
    d0 = np.nan_to_num(day, nan=0).astype(np.int64)
    if len(d0) == 0:
        return np.zeros((0, 3))
    g = np.zeros(len(d0), np.int64) if groups is None else np.asarray(groups, np.int64)
    days = d0[:, None] + np.arange(7)[None, :]
    wd = weekdays(days.ravel()).reshape(days.shape)
    hol = is_holiday_days(np.repeat(g, 7), days.ravel()).reshape(days.shape)
    business = ((wd < 5) & ~hol).sum(axis=1)
    dt = d0.astype("datetime64[D]")
    month_end = (dt.astype("datetime64[M]") != (dt + 6).astype("datetime64[M]")).astype(float)
    mday = (dt - dt.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return np.column_stack([business.astype(float), month_end, mday.astype(float)])


# --------------------------------------------------------------------------------------
# Reason phrases of an invoice ("facture 1234 : sans référence de commande, envoyée sur papier")


def _num(v: float, lang: str) -> str:
    s = f"{v:,.1f}".rstrip("0").rstrip(".")
    return s.replace(",", " ").replace(".", ",") if lang == "fr" else s


def invoice_phrase(name: str, value: float, lang: str = "fr") -> str:
    """A short phrase describing an invoice feature's value."""
    fr = lang == "fr"
    if name.startswith("inv_"):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        f = INVOICE_BY_NAME[name]
        if missing:
            return f"{f.label_fr} inconnu(e)" if fr else f"{f.label_en} unknown"
        v = float(value)
        if name == "inv_po_ref":
            if v >= 0.5:
                return "avec référence de commande" if fr else "quotes the order reference"
            return "sans référence de commande" if fr else "no order reference"
        if name == "inv_channel":
            ch = CHANNELS[int(v)]
            return {
                "paper": ("envoyée sur papier", "sent on paper"),
                "email": ("envoyée par e-mail", "sent by e-mail"),
                "e_invoice": ("facture électronique", "e-invoice"),
            }[ch][0 if fr else 1]
        if name == "inv_amount_vs_usual":
            return (
                f"montant {_num(v, lang)} fois l'habituel"
                if fr
                else f"{_num(v, lang)}x the usual amount"
            )
        if name == "inv_amount":
            return f"montant {_num(v, lang)} EUR" if fr else f"amount EUR {_num(v, lang)}"
        if name == "inv_share_of_balance":
            pct = _num(100 * v, lang)
            return f"{pct} % de l'encours" if fr else f"{pct}% of the balance"
        if name == "inv_days_past_due":
            if v > 0:
                return (
                    f"échue depuis {_num(v, lang)} jours"
                    if fr
                    else f"{_num(v, lang)} days past due"
                )
            return (
                f"échéance dans {_num(-v, lang)} jours" if fr else f"due in {_num(-v, lang)} days"
            )
        if name == "inv_terms_days":
            return (
                f"délai de paiement de {_num(v, lang)} jours"
                if fr
                else f"{_num(v, lang)}-day terms"
            )
        if name == "inv_age_days":
            return (
                f"émise il y a {_num(v, lang)} jours" if fr else f"issued {_num(v, lang)} days ago"
            )
        if name == "inv_disputed":
            return (
                ("déjà contestée" if fr else "already disputed")
                if v
                else ("jamais contestée" if fr else "never disputed")
            )
        if name == "inv_dispute_resolved":
            return (
                ("litige résolu" if fr else "dispute resolved")
                if v
                else ("litige en cours" if fr else "dispute open")
            )
        if name == "inv_skipped":
            if v:
                return (
                    "laissée de côté lors du dernier paiement"
                    if fr
                    else "left aside at the last payment"
                )
            return "non contournée" if fr else "not skipped"
        if name == "inv_due_rank":
            return f"échéance n° {int(v) + 1} du dossier" if fr else f"due-date rank {int(v) + 1}"
        if name == "inv_n_same_day":
            return (
                f"{int(v)} facture(s) émise(s) le même jour"
                if fr
                else f"{int(v)} invoice(s) issued the same day"
            )
    # a case feature: the case's reason sentence (categoricals as their category)
    if name in CATEGORY_DTYPES:
        cats = list(CATEGORY_DTYPES[name].categories)
        cat = None if value is None or math.isnan(value) else cats[int(value)]
        return reason_text(name, cat, lang)
    return reason_text(name, None if math.isnan(value) else float(value), lang)
