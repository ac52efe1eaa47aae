"""Contributions -> reason codes and texts in French and English.

A *reason* is one feature's TreeSHAP contribution to a score (log-odds), with a code
(``DEFAULT.SHARE_PAID_LATE.UP``), the feature's label and a sentence built from the case's own
value ("4 of the last 5 invoices paid late" / "4 des 5 dernières factures payées en retard").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scoring.features import FEATURE_BY_NAME, NONE, Features, feature_values

_ACTIONS_FR = {
    "wait": "attente",
    "email_reminder": "relance e-mail",
    "sms_reminder": "relance SMS",
    "whatsapp_reminder": "relance WhatsApp",
    "phone_call": "appel",
    "letter": "courrier",
    "formal_notice": "mise en demeure",
    "payment_plan_offer": "proposition d'échéancier",
    "dispute_review": "revue du litige",
    "legal_escalation": "passage au contentieux",
}
_OUTCOMES_FR = {
    "not_reached": "injoignable",
    "reached": "joint",
    "promise_to_pay": "promesse de paiement",
    "dispute_raised": "litige soulevé",
    "complaint": "réclamation",
}


def _num(v: float, lang: str, decimals: int = 0) -> str:
    s = f"{v:,.{decimals}f}"
    return s.replace(",", "\u202f").replace(".", ",") if lang == "fr" else s


def _eur(v: float, lang: str) -> str:
    return f"{_num(v, lang)} €" if lang == "fr" else f"EUR {_num(v, lang)}"


def _pct(v: float, lang: str) -> str:
    return f"{_num(100 * v, lang)} %" if lang == "fr" else f"{_num(100 * v, lang)}%"


# Sentences for features whose value reads naturally; others use "label: value".
_TEMPLATES: dict[str, tuple[str, str]] = {
    "max_days_past_due": (
        "plus ancienne facture échue depuis {d} jours",
        "oldest invoice {d} days past due",
    ),
    "mean_days_past_due": (
        "retard moyen de {d} jours sur l'encours",
        "balance {d} days past due on average",
    ),
    "share_paid_late": ("{pct} des factures payées en retard", "{pct} of invoices paid late"),
    "share_paid_late_12m": (
        "{pct} des factures payées en retard sur 12 mois",
        "{pct} of invoices paid late over 12 months",
    ),
    "last5_n_late": (
        "{v} des 5 dernières factures payées en retard",
        "{v} of the last 5 invoices paid late",
    ),
    "share_no_po_ref": (
        "{pct} des factures ouvertes sans référence de bon de commande",
        "{pct} of open invoices without a purchase-order reference",
    ),
    "share_paper": (
        "{pct} des factures ouvertes envoyées sur papier",
        "{pct} of open invoices sent on paper",
    ),
    "n_open_disputes": ("{v} litige(s) en cours", "{v} open dispute(s)"),
    "n_disputes": ("{v} litige(s) par le passé", "{v} past dispute(s)"),
    "n_disputes_12m": ("{v} litige(s) sur 12 mois", "{v} dispute(s) in the last 12 months"),
    "open_amount": ("encours de {eur}", "open balance of {eur}"),
    "overdue_amount": ("{eur} échus", "{eur} overdue"),
    "external_score": ("score externe de {v}", "external score of {v}"),
    "relationship_years": ("client depuis {y} ans", "customer for {y} years"),
    "exposure_ratio": (
        "encours à {pct} du plafond de crédit",
        "balance at {pct} of the credit limit",
    ),
    "days_since_last_payment": ("dernier paiement il y a {d} jours", "last payment {d} days ago"),
    "days_since_last_contact": ("dernière relance il y a {d} jours", "last contact {d} days ago"),
    "contacts_since_last_payment": (
        "{d} relance(s) depuis le dernier paiement",
        "{d} contact(s) since the last payment",
    ),
    "days_contact_to_payment": (
        "dernier paiement {d} jours après une relance",
        "last payment {d} days after a contact",
    ),
    "n_contacts_cycle": ("{v} relance(s) sur l'encours", "{v} contact(s) on the open balance"),
    "n_not_reached_90d": ("injoignable {v} fois en 90 jours", "not reached {v} time(s) in 90 days"),
    "n_promises_90d": (
        "{v} promesse(s) de paiement en 90 jours",
        "{v} promise(s) to pay in 90 days",
    ),
    "n_complaints_180d": ("{v} réclamation(s) en 180 jours", "{v} complaint(s) in 180 days"),
    "share_paid_late_90d": (
        "{pct} des factures payées ces 90 jours l'ont été en retard",
        "{pct} of the invoices paid in the last 90 days were late",
    ),
    "mean_days_late_90d": (
        "paie en moyenne {d} jours après l'échéance ces 90 jours",
        "paid {d} days after the due date on average in the last 90 days",
    ),
    "max_days_late": ("jusqu'à {d} jours de retard de paiement", "paid up to {d} days late"),
    "mean_days_late": (
        "paie en moyenne {d} jours après l'échéance",
        "pays {d} days after the due date on average",
    ),
    "n_open_skipped": (
        "{v} facture(s) échue(s) restée(s) impayée(s) malgré un paiement plus récent",
        "{v} overdue invoice(s) left unpaid while a later payment was made",
    ),
    "n_disputes_billing": (
        "{v} litige(s) passé(s) pour erreur de facturation",
        "{v} past dispute(s) for a billing error",
    ),
    "n_legal": ("{v} facture(s) passée(s) au contentieux", "{v} invoice(s) sent to litigation"),
    "n_formal_notices": ("{v} mise(s) en demeure récente(s)", "{v} recent formal notice(s)"),
}


def reason_text(feature: str, value, lang: str = "fr") -> str:
    """A sentence describing a feature's value for a case."""
    f = FEATURE_BY_NAME[feature]
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing:
        return f"{f.label(lang)} : inconnu" if lang == "fr" else f"{f.label(lang)}: unknown"
    if (
        feature in ("max_days_past_due", "mean_days_past_due")
        and not isinstance(value, str)
        and float(value) <= 0
    ):
        d = _num(-float(value), lang)
        if feature == "max_days_past_due":
            return (
                f"aucune facture échue, prochaine échéance dans {d} jours"
                if lang == "fr"
                else f"nothing overdue, next invoice due in {d} days"
            )
        return (
            f"encours à échoir dans {d} jours en moyenne"
            if lang == "fr"
            else f"balance due in {d} days on average"
        )
    tpl = _TEMPLATES.get(feature)
    if tpl is not None and not isinstance(value, str):
        v = float(value)
        return (tpl[0] if lang == "fr" else tpl[1]).format(
            v=_num(v, lang),
            d=_num(v, lang),
            pct=_pct(v, lang),
            eur=_eur(v, lang),
            y=_num(v, lang, 1),
        )
    if isinstance(value, str):
        shown = value
        if value == NONE:
            shown = "aucun" if lang == "fr" else "none"
        elif lang == "fr":
            shown = _ACTIONS_FR.get(value, _OUTCOMES_FR.get(value, value))
        else:
            shown = value.replace("_", " ")
    elif f.unit == "EUR":
        shown = _eur(float(value), lang)
    elif f.unit == "share":
        shown = _pct(float(value), lang)
    elif f.unit == "flag":
        shown = ("oui" if value else "non") if lang == "fr" else ("yes" if value else "no")
    else:
        shown = _num(float(value), lang, 0 if float(value).is_integer() else 1)
    return f"{f.label(lang)} : {shown}" if lang == "fr" else f"{f.label(lang)}: {shown}"


@dataclass
class Reason:
    code: str
    feature: str
    label: str
    value: object
    contribution: float
    text: str


def top_reasons(
    model_key: str,
    contributions: np.ndarray,
    X: Features,
    feature_names: list[str],
    k: int = 5,
    lang: str = "fr",
) -> list[list[Reason]]:
    """For each row, the ``k`` contributions of largest magnitude as :class:`Reason`s."""
    k = max(0, min(k, contributions.shape[1]))
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    cols = {feature_names[j]: feature_values(X, feature_names[j]) for j in np.unique(order)}
    out: list[list[Reason]] = []
    prefix = model_key.upper().replace("_RISK", "")
    for i, row in enumerate(order):
        reasons = []
        for j in row:
            name = feature_names[j]
            value = cols[name][i]
            if isinstance(value, float) and math.isnan(value):
                value = None
            c = float(contributions[i, j])
            reasons.append(
                Reason(
                    code=f"{prefix}.{name.upper()}.{'UP' if c >= 0 else 'DOWN'}",
                    feature=name,
                    label=FEATURE_BY_NAME[name].label(lang),
                    value=value,
                    contribution=c,
                    text=reason_text(name, value, lang),
                )
            )
        out.append(reasons)
    return out


def reasons_summary(reasons: list[Reason], lang: str = "fr", k: int = 3) -> str:
    """One line for batch output: the top risk-raising reasons."""
    up = [r for r in reasons if r.contribution > 0][:k] or reasons[:k]
    return "; ".join(r.text for r in up)
