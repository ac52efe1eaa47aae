"""Scenario worlds: named behavioural laws of the synthetic collections world, as data.

Portfolios differ: which action works for whom, when, how strongly, and how much the
collection team explored. A :class:`Scenario` is a name, a one-line description, the law in
plain words and a set of :class:`~scoring.synthetic.params.WorldParams` overrides; nothing in
the simulator knows scenario names, the params are the law. ``baseline`` has no overrides: it is
the world the generator has always produced (same seed, same bytes).

    world = generate(3000, seed=1, scenario="b2b_phone")
    SCENARIOS["strategic"].params()          # its WorldParams

Learners and feature code must never import this module (a test scans the imports): they see
only the contract tables, whatever the scenario.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .params import ACTION_CODE, ACTIONS, WorldParams

#: channel order of the ``[segment, channel]`` reach-time arrays
CHANNELS = ("email_reminder", "sms_reminder", "whatsapp_reminder", "phone_call")
_SEG = {"B2B": 0, "B2C": 1}


class UnknownScenarioError(ValueError):
    """Raised for a scenario name that is not in :data:`SCENARIOS`."""


@dataclass(frozen=True)
class Scenario:
    """A named behavioural law: ``overrides`` replace fields of the default :class:`WorldParams`."""

    name: str
    description: str
    law: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def params(self, base: WorldParams | None = None) -> WorldParams:
        """The scenario's params: ``base`` (default: the baseline params) with the overrides."""
        base = base or WorldParams()
        unknown = set(self.overrides) - {f.name for f in dataclasses.fields(WorldParams)}
        if unknown:
            raise ValueError(f"scenario {self.name}: unknown params {sorted(unknown)}")
        kw = {}
        for k, v in self.overrides.items():
            default = getattr(base, k)
            if isinstance(default, np.ndarray):
                v = np.asarray(v, dtype=np.float64)
                if v.shape != default.shape:
                    raise ValueError(f"scenario {self.name}: {k} has shape {v.shape}")
            elif isinstance(default, tuple):
                v = tuple(v)
            kw[k] = v
        return dataclasses.replace(base, **kw)

    @property
    def epsilon(self) -> float:
        """Exploration rate of the logging policy in this scenario."""
        return float(self.overrides.get("epsilon", WorldParams().epsilon))


def by_action(default: float | np.ndarray, **values: float) -> np.ndarray:
    """A per-action vector (index = action code): ``default`` with some actions set by name."""
    out = np.array(default, dtype=np.float64) * np.ones(len(ACTIONS))
    for a, v in values.items():
        out[ACTION_CODE[a]] = v
    return out


def by_segment_action(
    default: float, b2b: Mapping[str, float] | None = None, b2c: Mapping[str, float] | None = None
) -> np.ndarray:
    """A ``[segment (B2B, B2C), action]`` array: ``default`` with some cells set by name."""
    out = np.full((2, len(ACTIONS)), float(default))
    for seg, values in (("B2B", b2b), ("B2C", b2c)):
        for a, v in (values or {}).items():
            out[_SEG[seg], ACTION_CODE[a]] = v
    return out


def by_segment_channel(
    base: np.ndarray, b2b: Mapping[str, float] | None = None, b2c: Mapping[str, float] | None = None
) -> np.ndarray:
    """A ``[segment (B2B, B2C), channel]`` array: a copy of ``base`` with some cells set."""
    out = np.array(base, dtype=np.float64, copy=True)
    names = CHANNELS + ("letter",) if out.shape[1] == 5 else CHANNELS
    for seg, values in (("B2B", b2b), ("B2C", b2c)):
        for c, v in (values or {}).items():
            out[_SEG[seg], names.index(c)] = v
    return out


_P = WorldParams()

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "baseline",
            "today's world: escalation ladder, forgetful and strategic payers, 20 % exploration",
            "Debtors pay by a hidden, time-varying financial stress; reminders work on forgetful "
            "payers, formal notices on strategic ones and annoy long-standing customers; reach "
            "depends mildly on the hour (calls at the debtor's preferred hour and weekday). "
            "The logging ladder explores 20 % of its decisions uniformly.",
        ),
        Scenario(
            "b2b_phone",
            "B2B-heavy, large balances; a call at the firm's own usual hour and weekday recovers "
            "most, e-mails barely work for firms; thin exploration (10 %)",
            "Three debtors in four are firms, with invoices about three times larger. A firm "
            "answers the phone almost only within an hour or so of its own preferred hour "
            "(sharp peak, 5 % of the peak reach far from it) and far better on its preferred "
            "weekday (x1.5, x0.45 on other days); once reached, a call moves it 3 times as "
            "much as in the baseline, while e-mails (x0.2), SMS and WhatsApp (x0.6) do little. "
            "Consumers behave as in the baseline. The ladder calls at a random hour on the "
            "first free day, so the log rarely shows the peak, and explores only 10 %.",
            {
                "share_b2b": 0.75,
                "amount_b2b_median": (2500.0, 7000.0, 20000.0, 50000.0),
                "hour_sd": by_segment_channel(_P.hour_sd, b2b={"phone_call": 0.9}),
                "hour_floor": by_segment_channel(_P.hour_floor, b2b={"phone_call": 0.05}),
                "hour_amp": by_segment_channel(_P.hour_amp, b2b={"phone_call": 0.95}),
                "dow_pref_mult": by_segment_channel(_P.dow_pref_mult, b2b={"phone_call": 1.5}),
                "dow_other_mult": by_segment_channel(_P.dow_other_mult, b2b={"phone_call": 0.45}),
                "reach_mult": by_segment_channel(_P.reach_mult, b2b={"phone_call": 1.35}),
                "eff_mult": by_segment_action(
                    1.0,
                    b2b={
                        "phone_call": 3.0,
                        "email_reminder": 0.2,
                        "sms_reminder": 0.6,
                        "whatsapp_reminder": 0.6,
                    },
                ),
                "epsilon": 0.10,
            },
        ),
        Scenario(
            "evening_messages",
            "consumer portfolio reading SMS, WhatsApp and e-mail in the evening (18-20h); "
            "messages work for consumers, calls annoy them; wide exploration (30 %)",
            "Three debtors in four are consumers, most of whom (90 %) prefer about 19:00. For "
            "them SMS, WhatsApp and e-mail are read mostly within an hour or so of that time "
            "(10 % of the peak reach far from it) and, once read, move them about twice as much "
            "as in the baseline; more of them accept WhatsApp. A call to a consumer is resented "
            "(complaint log-odds +2.5) and moves them little (x0.3). Firms behave as in the "
            "baseline. The ladder sends messages at random hours and explores 30 %.",
            {
                "share_b2b": 0.25,
                "consent_b2c": (0.85, 0.80, 0.45, 0.55),
                "pref_hour_b2c": (12.5, 19.0),
                "pref_hour_b2c_first": 0.1,
                "pref_hour_sd": 0.6,
                "hour_sd": by_segment_channel(
                    _P.hour_sd,
                    b2c={"email_reminder": 1.0, "sms_reminder": 1.0, "whatsapp_reminder": 1.0},
                ),
                "hour_floor": by_segment_channel(
                    _P.hour_floor,
                    b2c={"email_reminder": 0.1, "sms_reminder": 0.1, "whatsapp_reminder": 0.1},
                ),
                "hour_amp": by_segment_channel(
                    _P.hour_amp,
                    b2c={"email_reminder": 0.9, "sms_reminder": 0.95, "whatsapp_reminder": 0.95},
                ),
                "eff_mult": by_segment_action(
                    1.0,
                    b2c={
                        "email_reminder": 1.8,
                        "sms_reminder": 2.2,
                        "whatsapp_reminder": 2.2,
                        "phone_call": 0.3,
                    },
                ),
                "complaint_logit": by_segment_action(0.0, b2c={"phone_call": 2.5}),
                "epsilon": 0.30,
            },
        ),
        Scenario(
            "letters_only",
            "about 30 % of debtors answer letters only (no e-mail, SMS or phone reach), and "
            "letters work well on them; thin exploration (15 %)",
            "A hidden quarter of firms and a third of consumers never read e-mails or messages "
            "and never pick up the phone (3 % of their usual reach); a letter reaches them as "
            "usual and moves them 2.5 times as much as in the baseline (formal notices x1.6). "
            "Their consent flags look like everyone else's, so only the history of unanswered "
            "contacts betrays them. The others behave as in the baseline; exploration 15 %.",
            {
                "share_letter_only": (0.25, 0.35),
                "letter_only_reach": 0.03,
                "eff_letter_only_mult": by_action(1.0, letter=2.5, formal_notice=1.6),
                "epsilon": 0.15,
            },
        ),
        Scenario(
            "loyal_resent",
            "long-standing customers resent pressure (sensitivity rising with tenure): calls and "
            "formal notices cause complaints and lower payment, gentle e-mails work; "
            "exploration 20 %",
            "An older portfolio (mean tenure 8 years) whose pressure sensitivity rises steeply "
            "with tenure (+0.12 a year up to 15 years, capped at 2.5 instead of 1.2). Sensitive "
            "debtors answer a formal notice, a call or a letter with complaints (extra log-odds "
            "1.5, 1.0 and 0.4 per unit of sensitivity) and pay less after them, while a plain "
            "e-mail works better the more sensitive they are. Exploration 20 %.",
            {
                "tenure_mean_years": 8.0,
                "sens_tenure_slope": 0.12,
                "sens_max": 2.5,
                "eff_sensitive": by_action(
                    _P.eff_sensitive,
                    email_reminder=-0.5,
                    phone_call=1.2,
                    letter=0.6,
                    formal_notice=3.5,
                    payment_plan_offer=0.3,
                ),
                "complaint_sens": by_action(
                    0.0,
                    phone_call=1.0,
                    letter=0.4,
                    formal_notice=1.5,
                    legal_escalation=1.5,
                    payment_plan_offer=0.3,
                ),
            },
        ),
        Scenario(
            "billing_errors",
            "many invoices carry billing errors (no PO reference, paper): a dispute review "
            "unlocks payment, pressure provokes disputes; exploration 25 %",
            "Billing errors are four to five times as frequent (4 % base, +22 % without a "
            "purchase-order reference, +18 % on paper, and fewer PO references and more paper "
            "invoices). An invoice with an error is barely paid until it is corrected. A "
            "reached dispute review corrects the debtor's errors directly 90 % of the time (no "
            "dispute, payment unlocked for 20 days), whereas a call (70 %), a letter (50 %), a "
            "formal notice (90 %) or a payment-plan offer (60 %) makes the debtor contest the "
            "faulty invoice (a dispute). Exploration 25 %.",
            {
                "billing_error_base": 0.04,
                "billing_error_no_po": 0.22,
                "billing_error_paper": 0.18,
                "po_ref_b2b": 0.4,
                "delivery_b2b": (0.2, 0.5, 0.3),
                "delivery_b2c": (0.05, 0.6, 0.35),
                "review_fix_prob": 0.9,
                "find_prob": by_action(
                    _P.find_prob,
                    email_reminder=0.35,
                    sms_reminder=0.35,
                    whatsapp_reminder=0.35,
                    phone_call=0.7,
                    letter=0.5,
                    formal_notice=0.9,
                    payment_plan_offer=0.6,
                ),
                "epsilon": 0.25,
            },
        ),
        Scenario(
            "strategic",
            "many strategic late payers who yield only to formal notices and legal escalation; "
            "soft reminders do almost nothing for them; thin exploration (12 %)",
            "A hidden 35 % of firms and 20 % of consumers sit on their invoices on purpose "
            "(payment log-odds -1, strategic trait U(1.2, 2.2) instead of Beta(1.2, 5)). "
            "E-mails, SMS and WhatsApp move them 5 % as much as others, letters 15 %, calls "
            "40 %; a formal notice moves them 1.5 times as much as its already strong baseline "
            "effect on strategic payers, and once handed to litigation they settle quickly "
            "(daily payment hazard 3 % times the trait during the first 21 days). The others "
            "behave as in the baseline. Exploration 12 %.",
            {
                "share_strategic_type": (0.35, 0.20),
                "strategic_type_level": (1.2, 2.2),
                "eff_strategic_type_mult": by_action(
                    1.0,
                    email_reminder=0.05,
                    sms_reminder=0.05,
                    whatsapp_reminder=0.05,
                    letter=0.15,
                    phone_call=0.4,
                    formal_notice=1.5,
                    payment_plan_offer=0.5,
                ),
                "strategic_type_pay_shift": -1.0,
                "legal_strategic_rate": 0.03,
                "epsilon": 0.12,
            },
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; :class:`UnknownScenarioError` lists the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}"
        ) from None


def scenario_params(name: str) -> WorldParams:
    """The :class:`WorldParams` of the scenario called ``name``."""
    return get_scenario(name).params()
