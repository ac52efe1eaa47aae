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
