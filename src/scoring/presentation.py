"""How decisions and scores are shown, one source for the batch output and the API: channels,
templates, risk grades, local times, the one-line reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.explain import Reason, reasons_summary

#: Risk grades by calibrated default probability (upper bounds).
GRADES = (("A", 0.02), ("B", 0.05), ("C", 0.15), ("D", 0.35), ("E", 1.01))


def risk_grade(p: np.ndarray) -> np.ndarray:
    bounds = np.array([b for _, b in GRADES])
    letters = np.array([g for g, _ in GRADES])
    return letters[
        np.searchsorted(bounds, np.asarray(p, dtype=float), side="right").clip(0, len(GRADES) - 1)
    ]


#: How each action reaches the debtor.
CHANNELS: dict[str, str | None] = {
    "wait": None,
    "email_reminder": "email",
    "sms_reminder": "sms",
    "whatsapp_reminder": "whatsapp",
    "phone_call": "phone",
    "letter": "letter",
    "formal_notice": "registered_letter",
    "payment_plan_offer": "agent",
    "dispute_review": "agent",
    "legal_escalation": "legal",
}


def channel(action: str) -> str | None:
    """How ``action`` reaches the debtor (None for ``wait``)."""
    return CHANNELS.get(action)


def template(action: str, tone: str | None, lang: str) -> str | None:
    """The message template of an action in a tone and language (None without a tone)."""
    return f"{action}.{tone}.{lang}" if tone else None


#: Prefix of each model's part of the one-line reasons, by language.
REASON_PREFIX = {
    "fr": {"default_risk": "Risque de défaut : ", "dispute_risk": "Risque de litige : "},
    "en": {"default_risk": "Default risk: ", "dispute_risk": "Dispute risk: "},
}
#: Said in place of a missing model's reasons.
NOT_SERVED = {"fr": "modèle non disponible", "en": "model not available"}


def reason_line(per_model: dict[str, list[Reason]], lang: str) -> str:
    """One line of reasons for a case: each risk model's top reasons after its prefix (a model
    missing from ``per_model`` is said to be unavailable)."""
    pre = REASON_PREFIX.get(lang, REASON_PREFIX["en"])
    return " | ".join(
        f"{pre[key]}{reasons_summary(per_model[key], lang) if key in per_model else NOT_SERVED.get(lang, NOT_SERVED['en'])}"
        for key in pre
    )


def debtor_zone(department: str):
    """The debtor's time zone (``ZoneInfo``) from its département: the API shows every time in
    it, the batch writes ISO 8601 with its offset (:func:`local_iso`)."""
    from zoneinfo import ZoneInfo

    from scoring.calendar import time_zone

    return ZoneInfo(time_zone(str(department)))


def local_iso(utc: pd.Series, departments: np.ndarray) -> list[str | None]:
    """ISO 8601 strings with the debtor's local offset (None for NaT), one pass per time zone."""
    from scoring.calendar import time_zone

    t = pd.Series(pd.to_datetime(pd.Series(utc), utc=True).to_numpy(), dtype="datetime64[ns, UTC]")
    deps = np.asarray(departments, dtype=object)
    zone_of = {d: time_zone(str(d)) for d in pd.unique(deps)}
    zone = np.array([zone_of[d] for d in deps])
    out = np.full(len(t), None, dtype=object)
    for z in np.unique(zone):
        idx = np.flatnonzero((zone == z) & t.notna().to_numpy())
        if len(idx):
            local = t.iloc[idx].dt.tz_convert(z)
            text = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
                r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True
            )
            out[idx] = text.to_numpy(dtype=object)
    return out.tolist()


# --------------------------------------------------------------------------------------
# The explanation a debtor reads (GDPR art. 22: the right to an explanation)

_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)  # fmt: skip

_OPENERS = {
    "email_reminder": ("Nous vous avons adressé ce rappel", "We sent you this reminder"),
    "sms_reminder": ("Nous vous avons adressé ce rappel", "We sent you this reminder"),
    "whatsapp_reminder": ("Nous vous avons adressé ce rappel", "We sent you this reminder"),
    "letter": ("Nous vous avons adressé ce courrier", "We sent you this letter"),
    "phone_call": ("Nous vous contactons par téléphone", "We are calling you"),
    "formal_notice": (
        "Nous vous adressons une mise en demeure",
        "We are sending you a formal notice",
    ),
    "legal_escalation": (
        "Votre dossier est transmis à notre service contentieux",
        "Your file is being passed to our litigation department",
    ),
    "payment_plan_offer": (
        "Nous vous proposons un échéancier",
        "We are offering you a payment plan",
    ),
}


def _date_text(d, lang: str) -> str:
    if lang == "fr":
        day = "1er" if d.day == 1 else str(d.day)
        return f"{day} {_MONTHS_FR[d.month - 1]} {d.year}"
    return f"{d.day} {d.strftime('%B')} {d.year}"


def debtor_explanation(action: str, case, lang: str = "fr") -> str:
    """Why this action, in plain words for the debtor (no internal code, no score): the
    invoice concerned, how late it is, and what the debtor can do. ``case`` is the
    :class:`~scoring.cases.Case` decided on."""
    fr = lang == "fr"
    day = pd.Timestamp(case.as_of).tz_convert("Europe/Paris").date()
    invoices = sorted(case.open_invoices, key=lambda i: (i.due_date, i.issue_date))
    disputed = [i for i in invoices if i.dispute_date and not i.dispute_resolved_date]
    overdue = [i for i in invoices if i.due_date < day]
    first = overdue[0] if overdue else invoices[0]
    issued = _date_text(first.issue_date, lang)
    if action == "wait":
        return (
            "Aucune relance n'est prévue pour le moment ; vous pouvez nous contacter pour toute "
            "question sur vos factures."
            if fr
            else "No reminder is planned for now; you can contact us with any question about "
            "your invoices."
        )
    if action == "dispute_review":
        inv = disputed[0] if disputed else first
        d = _date_text(inv.issue_date, lang)
        return (
            f"Nous revenons vers vous au sujet de la facture du {d} afin de la vérifier avec "
            "vous ; vous pouvez nous transmettre tout élément utile (bon de commande, "
            "livraison, conditions du contrat)."
            if fr
            else f"We are getting back to you about the invoice of {d} to check it with you; "
            "you can send us anything useful (purchase order, delivery, contract terms)."
        )
    opener = _OPENERS.get(action, _OPENERS["email_reminder"])[0 if fr else 1]
    if overdue:
        late = (day - first.due_date).days
        if len(overdue) == 1:
            why = (
                f"car la facture du {issued} est échue depuis {late} jours"
                if fr
                else f"because the invoice of {issued} has been overdue for {late} days"
            )
        else:
            why = (
                f"car {len(overdue)} factures sont échues, la plus ancienne (facture du "
                f"{issued}) depuis {late} jours"
                if fr
                else f"because {len(overdue)} invoices are overdue, the oldest (invoice of "
                f"{issued}) for {late} days"
            )
    else:
        due = _date_text(first.due_date, lang)
        why = (
            f"car la facture du {issued} arrive à échéance le {due}"
            if fr
            else f"because the invoice of {issued} falls due on {due}"
        )
    if action == "payment_plan_offer":
        close = (
            "vous pouvez l'accepter ou nous contacter pour en adapter les montants."
            if fr
            else "you can accept it or contact us to adjust the amounts."
        )
    else:
        close = (
            "vous pouvez nous contacter pour convenir d'un échéancier."
            if fr
            else "you can contact us to agree a payment plan."
        )
    return f"{opener} {why} ; {close}" if fr else f"{opener} {why}; {close}"
