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

from scoring.cases import CaseSet, as_of_day
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


def _obj(values) -> np.ndarray:
    """Values as an object array (strings) with None for every kind of missing value."""
    a = np.asarray(values, dtype=object)
    return np.where(pd.isna(a), None, a)


def _cat(values, feat: Feature) -> pd.Categorical:
    """Codes in the fixed vocabulary: missing -> ``none``, out of vocabulary -> ``unknown``."""
    index = _CODES[feat.name]
    missing = index.get(NONE, -1)
    unknown = index.get(UNKNOWN, -1)
    codes = np.fromiter(
        (missing if x is None else index.get(x, unknown) for x in _obj(values)),
        dtype=np.int16,
    )
    return pd.Categorical.from_codes(codes, dtype=_DTYPES[feat.name])


def unknown_values(cs: CaseSet) -> list[list[str]]:
    """Per case, the fields whose value was never seen in the vocabulary (scored as unknown)."""
    out: list[list[str]] = [[] for _ in range(len(cs))]
    sec = cs.cases["sector"]
    bad = sec.notna() & ~sec.isin(SECTORS)
    for i in np.flatnonzero(bad.to_numpy()):
        out[i].append("sector")
    return out


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


def _last_per_case(values, case: np.ndarray, n: int) -> np.ndarray:
    """The last value of each case (rows sorted by case then time); None if none."""
    out = np.full(n, None, dtype=object)
    out[np.asarray(case)] = _obj(values)  # later rows overwrite earlier ones
    return out


def features(cs: CaseSet) -> pd.DataFrame:
    """The feature matrix of a :class:`CaseSet`: one row per case, columns :data:`FEATURE_NAMES`."""
    c = cs.cases
    n = len(c)
    day = as_of_day(c["as_of"])
    out: dict[str, object] = {}

    out["segment"] = _cat(c["segment"], FEATURE_BY_NAME["segment"])
    b2b = (c["segment"] == "B2B").to_numpy(dtype=bool)
    out["sector"] = _cat(np.where(b2b, _obj(c["sector"]), None), FEATURE_BY_NAME["sector"])
    out["company_size"] = _cat(
        np.where(b2b, _obj(c["company_size"]), None), FEATURE_BY_NAME["company_size"]
    )
    out["overseas"] = np.array([len(str(d)) == 3 for d in c["department"]], dtype=float)
    out["relationship_years"] = ((day - c["customer_since"]).dt.days / 365.25).to_numpy()
    out["credit_limit"] = c["credit_limit"].to_numpy(dtype=float)
    out["external_score"] = c["external_score"].to_numpy(dtype=float)
    out["n_consents"] = (
        c[["consent_email", "consent_sms", "consent_whatsapp", "consent_phone"]]
        .sum(axis=1)
        .to_numpy(dtype=float)
    )

    inv = cs.invoices
    ic = inv["case"].to_numpy()
    iday = day.to_numpy()[ic]
    dpd = (iday - inv["due_date"].to_numpy()).astype("timedelta64[D]").astype(float)
    amount = inv["amount"].to_numpy(dtype=float)
    overdue = dpd > 0
    open_amount = np.bincount(ic, weights=amount, minlength=n)
    out["n_open_invoices"] = np.bincount(ic, minlength=n).astype(float)
    out["open_amount"] = open_amount
    out["overdue_amount"] = np.bincount(ic, weights=amount * overdue, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_overdue"] = out["overdue_amount"] / open_amount
        out["max_days_past_due"] = _per_case(dpd, ic, n, "max")
        out["mean_days_past_due"] = np.bincount(ic, weights=amount * dpd, minlength=n) / open_amount
        out["max_invoice_amount"] = _per_case(amount, ic, n, "max")
        po = inv["purchase_order_ref"]
        no_po = np.where(po.isna(), np.nan, (~po.fillna(True)).astype(float))
        out["share_no_po_ref"] = _per_case(no_po, ic, n, "mean")
        chan = inv["delivery_channel"]
        paper = np.where(chan.isna(), np.nan, (chan == "paper").fillna(False).astype(float))
        out["share_paper"] = _per_case(paper, ic, n, "mean")
        open_disp = (inv["dispute_date"].notna() & inv["dispute_resolved_date"].isna()).to_numpy(
            dtype=float
        )
        out["n_open_disputes"] = np.bincount(ic, weights=open_disp, minlength=n) + c[
            "n_open_disputes_other"
        ].to_numpy(dtype=float)
        limit = c["credit_limit"].to_numpy(dtype=float)
        out["exposure_ratio"] = np.where(
            limit > 0, open_amount / np.where(limit > 0, limit, 1.0), np.nan
        )
        mia = c["mean_invoice_amount"].to_numpy(dtype=float)
        out["balance_vs_usual"] = open_amount / mia

        n_paid = c["n_paid"].to_numpy(dtype=float)
        n_paid12 = c["n_paid_12m"].to_numpy(dtype=float)
        n_inv = c["n_invoices"].to_numpy(dtype=float)
        out["n_invoices_hist"] = n_inv
        out["share_paid_late"] = np.where(
            n_paid > 0, c["n_paid_late"].to_numpy(dtype=float) / n_paid, np.nan
        )
        out["share_paid_late_12m"] = np.where(
            n_paid12 > 0, c["n_paid_late_12m"].to_numpy(dtype=float) / n_paid12, np.nan
        )
        n_paid90 = c["n_paid_90d"].to_numpy(dtype=float)
        out["n_paid_90d"] = n_paid90
        out["share_paid_late_90d"] = np.where(
            n_paid90 > 0, c["n_paid_late_90d"].to_numpy(dtype=float) / n_paid90, np.nan
        )
        out["mean_days_late_90d"] = c["mean_days_late_90d"].to_numpy(dtype=float)
        out["mean_days_late"] = c["mean_days_late"].to_numpy(dtype=float)
        out["max_days_late"] = c["max_days_late"].to_numpy(dtype=float)
        out["last5_n_late"] = np.where(
            c["last5_n"].to_numpy() > 0, c["last5_n_late"].to_numpy(dtype=float), np.nan
        )
        out["n_disputes"] = c["n_disputes"].to_numpy(dtype=float)
        out["dispute_rate"] = np.where(n_inv > 0, out["n_disputes"] / n_inv, np.nan)
        out["n_disputes_12m"] = c["n_disputes_12m"].to_numpy(dtype=float)
        out["n_legal"] = c["n_legal"].to_numpy(dtype=float)
        out["days_since_last_payment"] = (day - c["last_payment_date"]).dt.days.to_numpy(
            dtype=float
        )
        out["amount_paid_12m"] = c["amount_paid_12m"].to_numpy(dtype=float)

    act = cs.actions
    ac = act["case"].to_numpy()
    a_as_of = c["as_of"].to_numpy()[ac]
    age_days = (a_as_of - act["decided_at"].to_numpy()).astype("timedelta64[s]").astype(
        float
    ) / 86400.0
    is_contact = (act["action"] != "wait").fillna(True).to_numpy()
    oldest_issue = _per_case(
        inv["issue_date"].to_numpy().astype("datetime64[D]").astype(float), ic, n, "min"
    )
    a_day = as_of_day(act["decided_at"]).to_numpy().astype("datetime64[D]").astype(float)
    in_cycle = a_day >= oldest_issue[ac]
    outcome = act["outcome"]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(ac, weights=mask.astype(float), minlength=n)

    out["n_contacts_30d"] = count(is_contact & (age_days <= 30))
    out["n_contacts_cycle"] = count(is_contact & in_cycle)
    out["n_calls_30d"] = count(
        (act["action"] == "phone_call").fillna(False).to_numpy() & (age_days <= 30)
    )
    out["n_formal_notices"] = count((act["action"] == "formal_notice").fillna(False).to_numpy())
    out["days_since_last_contact"] = _per_case(np.where(is_contact, age_days, np.nan), ac, n, "min")
    # actions are sorted by (case, decided_at): the last row per case is the latest
    out["last_action"] = _cat(_last_per_case(act["action"], ac, n), FEATURE_BY_NAME["last_action"])
    has_outcome = is_contact & outcome.notna().to_numpy()
    out["last_outcome"] = _cat(
        _last_per_case(outcome[has_outcome], ac[has_outcome], n), FEATURE_BY_NAME["last_outcome"]
    )
    out["n_not_reached_90d"] = count(
        (outcome == "not_reached").fillna(False).to_numpy() & (age_days <= 90)
    )
    out["n_promises_90d"] = count(
        (outcome == "promise_to_pay").fillna(False).to_numpy() & (age_days <= 90)
    )
    out["n_complaints_180d"] = count((outcome == "complaint").fillna(False).to_numpy())

    local = c["as_of"].dt.tz_convert("Europe/Paris")
    out["month"] = local.dt.month.to_numpy(dtype=float)
    out["weekday"] = local.dt.weekday.to_numpy(dtype=float)

    cols = {}
    for k in FEATURE_NAMES:
        v = out[k]
        if k not in CATEGORICAL:
            v = np.asarray(v, dtype="float64")
            v = np.where(np.isinf(v), np.nan, v)
        cols[k] = v
    return pd.DataFrame(cols)


def monotone_constraints(names: list[str] | None = None) -> list[int]:
    """LightGBM ``monotone_constraints`` for the default-risk model, in column order."""
    return [FEATURE_BY_NAME[n].monotone_default for n in (names or FEATURE_NAMES)]
