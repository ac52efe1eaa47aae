"""The feature catalogue: every feature once, with its French and English label, description,
kind, vocabulary and monotone direction (for the default-risk model)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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
        "contacts_since_last_payment",
        "Relances depuis le dernier paiement",
        "Contacts since the last payment",
        "contacts decided after the last payment (in the 180 days before as_of)",
        unit="count",
    ),
    _f(
        "days_contact_to_payment",
        "Délai de réaction au dernier paiement",
        "Days from contact to last payment",
        "days from the last contact before the last payment to that payment (how fast the "
        "debtor answers a reminder)",
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
#: pandas dtype of each categorical feature (its fixed vocabulary)
CATEGORY_DTYPES = {
    f.name: pd.CategoricalDtype(list(f.categories)) for f in FEATURES if f.kind == "cat"
}
#: code of each category of each categorical feature
CATEGORY_CODES = {
    f.name: {c: i for i, c in enumerate(f.categories)} for f in FEATURES if f.kind == "cat"
}


def monotone_constraints(names: list[str] | None = None) -> list[int]:
    """LightGBM ``monotone_constraints`` for the default-risk model, in column order."""
    return [FEATURE_BY_NAME[n].monotone_default for n in (names or FEATURE_NAMES)]
