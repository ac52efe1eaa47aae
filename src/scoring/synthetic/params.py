"""Tunable parameters and static reference data of the synthetic collections world."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

#: Action catalogue (CONTRACT §2), in the order used for integer codes.
ACTIONS: tuple[str, ...] = (
    "wait",
    "email_reminder",
    "sms_reminder",
    "whatsapp_reminder",
    "phone_call",
    "letter",
    "formal_notice",
    "payment_plan_offer",
    "dispute_review",
    "legal_escalation",
)
N_ACTIONS = len(ACTIONS)
(
    WAIT,
    EMAIL,
    SMS,
    WHATSAPP,
    PHONE,
    LETTER,
    FORMAL_NOTICE,
    PAYMENT_PLAN,
    DISPUTE_REVIEW,
    LEGAL,
) = range(N_ACTIONS)
ACTION_CODE: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}

#: Default action costs in EUR (CONTRACT §2); callers may pass their own.
DEFAULT_COSTS: dict[str, float] = {
    "wait": 0.0,
    "email_reminder": 0.05,
    "sms_reminder": 0.10,
    "whatsapp_reminder": 0.08,
    "phone_call": 4.00,
    "letter": 1.50,
    "formal_notice": 7.50,
    "payment_plan_offer": 6.00,
    "dispute_review": 15.00,
    "legal_escalation": 150.00,
}

OUTCOMES: tuple[str, ...] = (
    "not_reached",
    "reached",
    "promise_to_pay",
    "dispute_raised",
    "complaint",
)
NOT_REACHED, REACHED, PROMISE, DISPUTE_RAISED, COMPLAINT = range(len(OUTCOMES))
NO_OUTCOME = -1

DISPUTE_REASONS: tuple[str, ...] = ("billing_error", "contract_terms", "quality", "other")
DELIVERY_CHANNELS: tuple[str, ...] = ("e_invoice", "email", "paper")
COMPANY_SIZES: tuple[str, ...] = ("micro", "small", "medium", "large")

#: NAF rev.2 sections with rough weights of French firms that buy on credit (B2B debtors).
NAF_WEIGHTS: dict[str, float] = {
    "A": 3.0,
    "B": 0.2,
    "C": 9.0,
    "D": 0.5,
    "E": 0.8,
    "F": 14.0,
    "G": 22.0,
    "H": 5.0,
    "I": 8.0,
    "J": 4.0,
    "K": 2.0,
    "L": 4.0,
    "M": 11.0,
    "N": 6.0,
    "O": 0.5,
    "P": 1.5,
    "Q": 4.0,
    "R": 1.5,
    "S": 2.5,
    "T": 0.1,
    "U": 0.05,
}
#: Sector-level riskiness (added to the mean financial stress).
NAF_RISK: dict[str, float] = {
    "A": 0.1,
    "B": 0.0,
    "C": 0.0,
    "D": -0.3,
    "E": -0.1,
    "F": 0.35,
    "G": 0.1,
    "H": 0.15,
    "I": 0.4,
    "J": -0.1,
    "K": -0.3,
    "L": 0.0,
    "M": -0.1,
    "N": 0.15,
    "O": -0.6,
    "P": -0.4,
    "Q": -0.3,
    "R": 0.2,
    "S": 0.2,
    "T": 0.1,
    "U": -0.5,
}

#: Population of each département in thousands (INSEE, about 2021), used as sampling weights.
DEPARTMENT_POP: dict[str, float] = {
    "01": 657,
    "02": 531,
    "03": 335,
    "04": 165,
    "05": 141,
    "06": 1094,
    "07": 328,
    "08": 270,
    "09": 153,
    "10": 310,
    "11": 374,
    "12": 279,
    "13": 2043,
    "14": 694,
    "15": 144,
    "16": 352,
    "17": 651,
    "18": 302,
    "19": 240,
    "2A": 158,
    "2B": 182,
    "21": 534,
    "22": 600,
    "23": 116,
    "24": 413,
    "25": 543,
    "26": 516,
    "27": 599,
    "28": 431,
    "29": 915,
    "30": 748,
    "31": 1400,
    "32": 191,
    "33": 1623,
    "34": 1176,
    "35": 1079,
    "36": 219,
    "37": 610,
    "38": 1271,
    "39": 259,
    "40": 413,
    "41": 329,
    "42": 765,
    "43": 227,
    "44": 1429,
    "45": 680,
    "46": 174,
    "47": 331,
    "48": 76,
    "49": 818,
    "50": 495,
    "51": 566,
    "52": 172,
    "53": 307,
    "54": 733,
    "55": 184,
    "56": 759,
    "57": 1046,
    "58": 204,
    "59": 2608,
    "60": 829,
    "61": 279,
    "62": 1466,
    "63": 662,
    "64": 682,
    "65": 229,
    "66": 479,
    "67": 1140,
    "68": 767,
    "69": 1883,
    "70": 235,
    "71": 551,
    "72": 566,
    "73": 436,
    "74": 826,
    "75": 2145,
    "76": 1255,
    "77": 1421,
    "78": 1448,
    "79": 374,
    "80": 570,
    "81": 389,
    "82": 261,
    "83": 1076,
    "84": 561,
    "85": 685,
    "86": 438,
    "87": 372,
    "88": 364,
    "89": 335,
    "90": 142,
    "91": 1301,
    "92": 1624,
    "93": 1655,
    "94": 1407,
    "95": 1249,
    "971": 384,
    "972": 361,
    "973": 286,
    "974": 868,
    "975": 6,
    "976": 256,
}
DEPARTMENTS: tuple[str, ...] = tuple(DEPARTMENT_POP)

#: ``holidays.France`` subdivision of a département (None: national calendar only).
HOLIDAY_SUBDIV: dict[str, str] = {
    "57": "57",
    "67": "6AE",
    "68": "6AE",
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "975": "PM",
    "976": "976",
}
#: Time zone of a département (all others: Europe/Paris).
DEPARTMENT_TZ: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
}
TIMEZONES: tuple[str, ...] = (
    "Europe/Paris",
    "America/Guadeloupe",
    "America/Martinique",
    "America/Cayenne",
    "Indian/Reunion",
    "America/Miquelon",
    "Indian/Mayotte",
)


def _f(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


@dataclass
class WorldParams:
    """Tunable parameters of the generator (all have realistic defaults).

    Changing any of them changes the world; they are stored with a written data set so that
    :func:`scoring.synthetic.load_world` rebuilds exactly the same hidden state.
    """

    # --- population -------------------------------------------------------------------
    share_b2b: float = 0.55
    #: probability of company sizes micro/small/medium/large
    size_probs: tuple[float, ...] = (0.62, 0.25, 0.10, 0.03)
    #: share of debtors whose relationship starts inside the window (new customers)
    share_new: float = 0.15
    tenure_mean_years: float = 5.5
    tenure_max_years: float = 20.0
    consent_b2b: tuple[float, ...] = (0.95, 0.35, 0.07, 0.85)  # email, sms, whatsapp, phone
    consent_b2c: tuple[float, ...] = (0.85, 0.70, 0.15, 0.55)
    share_en: tuple[float, float] = (0.06, 0.03)  # B2B, B2C
    null_external_score: tuple[float, float] = (0.08, 0.30)
    null_credit_limit: tuple[float, float] = (0.30, 0.75)
    # --- invoicing --------------------------------------------------------------------
    invoices_per_month_b2b: float = 0.55  # median, log-normal across debtors
    invoices_per_month_b2c: float = 0.33
    amount_b2b_median: tuple[float, ...] = (900.0, 2500.0, 7000.0, 18000.0)  # by size
    amount_b2b_sigma: float = 0.9
    amount_b2c_median: float = 85.0
    amount_b2c_sigma: float = 0.7
    terms_b2b: tuple[int, ...] = (30, 45, 60)
    terms_b2b_probs: tuple[float, ...] = (0.55, 0.25, 0.20)
    terms_b2c: tuple[int, ...] = (0, 7, 14, 15, 30)
    terms_b2c_probs: tuple[float, ...] = (0.15, 0.15, 0.2, 0.2, 0.3)
    po_ref_b2b: float = 0.6
    delivery_b2b: tuple[float, ...] = (0.35, 0.50, 0.15)  # e_invoice, email, paper
    delivery_b2c: tuple[float, ...] = (0.05, 0.75, 0.20)
    # --- hidden traits ----------------------------------------------------------------
    billing_error_base: float = 0.01
    billing_error_no_po: float = 0.05
    billing_error_paper: float = 0.04
    stress_offset: float = -0.35
    stress_phi_week: float = 0.93
    stress_sd_week: float = 0.16
    crisis_enter_week: float = 0.004
    crisis_exit_week: float = 0.06
    crisis_size: float = 1.6
    sector_shock_sd_week: float = 0.06
    sector_shock_phi_week: float = 0.97
    # --- payment behaviour ------------------------------------------------------------
    pay_intercept: float = 1.1
    pay_stress: float = 1.25
    pay_pre_due_scale: float = 0.32
    pay_post_due_scale: float = 0.22
    pay_post_due_decay: float = 0.4
    balance_burden: float = 0.45
    boost_decay: float = 0.82
    # action effects when reached: base boost, weight of forgetfulness, of strategic
    # behaviour, and penalty of pressure-sensitivity (index = action code)
    eff_base: np.ndarray = field(
        default_factory=lambda: _f(0, 0.45, 0.55, 0.65, 1.0, 0.45, 0.9, 0.3, 0.2, 0)
    )
    eff_forget: np.ndarray = field(
        default_factory=lambda: _f(0, 1.4, 1.5, 1.6, 1.2, 0.9, 0.4, 0.2, 0.0, 0)
    )
    eff_strategic: np.ndarray = field(
        default_factory=lambda: _f(0, 0.0, 0.1, 0.1, 0.9, 0.4, 2.0, 0.2, 0.0, 0)
    )
    eff_sensitive: np.ndarray = field(
        default_factory=lambda: _f(0, 0.1, 0.2, 0.2, 0.4, 0.2, 2.4, 0.0, 0.0, 0)
    )
    annoy_add: np.ndarray = field(
        default_factory=lambda: _f(0, 0.6, 0.8, 0.7, 1.3, 0.8, 2.2, 0.5, 0.2, 3.0)
    )
    annoy_decay: float = 0.965
    dispute_resolve_rate: tuple[float, float] = (1 / 40, 1 / 70)  # billing error, other
    dispute_review_rate: tuple[float, float] = (0.30, 0.06)
    legal_recovery_rate: float = 0.012
    # --- logging policy ---------------------------------------------------------------
    epsilon: float = 0.2
    legal_min_balance: float = 250.0

    # ==================================================================================
    # Scenario laws (see :mod:`scoring.synthetic.scenarios`). Every default below leaves the
    # baseline world exactly as it was: multipliers are 1, extra log-odds are 0, shares are 0.
    # Arrays indexed ``[segment, ...]`` have row 0 = B2B and row 1 = B2C (the order of the
    # ``(B2B, B2C)`` pairs above); ``channel`` is e-mail, SMS, WhatsApp, phone (, letter).
    # ==================================================================================
    # --- preferred contact time (hidden, per debtor) ----------------------------------
    #: the two modes of the preferred local hour, and the probability of the first one
    pref_hour_b2b: tuple[float, float] = (10.0, 15.0)
    pref_hour_b2b_first: float = 0.6
    pref_hour_b2c: tuple[float, float] = (12.5, 18.5)
    pref_hour_b2c_first: float = 0.35
    #: spread of the preferred hour around its mode (hours)
    pref_hour_sd: float = 1.0
    # --- reach as a function of the contact time --------------------------------------
    #: time factor of a channel = (floor + amp * g) * (dow_pref_mult on the debtor's preferred
    #: weekday, dow_other_mult otherwise), g = exp(-(h - preferred hour)^2 / (2 hour_sd^2)),
    #: h the local contact time in hours (continuous: 14:30 is 14.5). E-mail also keeps its
    #: office-hours (B2B) / evening (B2C) factor, the phone its weekend and holiday factors.
    hour_sd: np.ndarray = field(default_factory=lambda: np.full((2, 4), 2.2))
    hour_floor: np.ndarray = field(
        default_factory=lambda: np.array([[1.0, 0.8, 0.8, 0.3], [1.0, 0.8, 0.8, 0.3]])
    )
    hour_amp: np.ndarray = field(
        default_factory=lambda: np.array([[0.0, 0.2, 0.2, 0.7], [0.0, 0.2, 0.2, 0.7]])
    )
    dow_pref_mult: np.ndarray = field(
        default_factory=lambda: np.array([[1.0, 1.0, 1.0, 1.3], [1.0, 1.0, 1.0, 1.3]])
    )
    dow_other_mult: np.ndarray = field(default_factory=lambda: np.ones((2, 4)))
    #: multiplier of each debtor's channel reachability ``[segment, channel (5, letter last)]``
    reach_mult: np.ndarray = field(default_factory=lambda: np.ones((2, 5)))
    # --- letter-only debtors ----------------------------------------------------------
    #: share of debtors who answer letters only (B2B, B2C)
    share_letter_only: tuple[float, float] = (0.0, 0.0)
    #: their e-mail, SMS, WhatsApp and phone reachability is multiplied by this
    letter_only_reach: float = 0.03
    #: multiplier of the effect of each action for them (index = action code)
    eff_letter_only_mult: np.ndarray = field(default_factory=lambda: np.ones(10))
    # --- pressure sensitivity ---------------------------------------------------------
    #: sensitivity = clip(Beta(2, 4) + slope * min(tenure years, cap) + 0.15 [healthy], 0, max)
    sens_tenure_slope: float = 0.035
    sens_tenure_cap: float = 15.0
    sens_max: float = 1.2
    # --- strategic late payers --------------------------------------------------------
    #: scale of the strategic trait Beta(1.2, 5) (B2B, B2C)
    strategic_scale: tuple[float, float] = (1.3, 0.8)
    #: share of "hard" strategic payers (B2B, B2C); their trait is U(level) instead
    share_strategic_type: tuple[float, float] = (0.0, 0.0)
    strategic_type_level: tuple[float, float] = (1.2, 2.0)
    #: multiplier of each action's effect on them (index = action code)
    eff_strategic_type_mult: np.ndarray = field(default_factory=lambda: np.ones(10))
    #: added to their payment log-odds (negative: they sit on their invoices)
    strategic_type_pay_shift: float = 0.0
    #: daily payment hazard, times the strategic trait, of invoices in litigation during the
    #: 21 days before the litigation process itself recovers anything (served debtors settle)
    legal_strategic_rate: float = 0.0
    # --- per-segment action laws ------------------------------------------------------
    #: multiplier of the effect on the propensity to pay ``[segment, action]``
    eff_mult: np.ndarray = field(default_factory=lambda: np.ones((2, 10)))
    #: extra complaint log-odds of a contact that touches the debtor ``[segment, action]``
    complaint_logit: np.ndarray = field(default_factory=lambda: np.zeros((2, 10)))
    #: extra complaint log-odds per unit of pressure sensitivity (index = action code)
    complaint_sens: np.ndarray = field(default_factory=lambda: np.zeros(10))
    # --- billing errors ---------------------------------------------------------------
    #: probability that a contact touching a debtor with a billing error turns it into a
    #: dispute (index = action code)
    find_prob: np.ndarray = field(
        default_factory=lambda: _f(0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.95, 0)
    )
    #: probability that a reached ``dispute_review`` corrects the debtor's undisputed billing
    #: errors directly (corrected invoice, no dispute), instead of finding them as a dispute
    review_fix_prob: float = 0.0

    def to_dict(self) -> dict:
        """JSON-serialisable form (arrays become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                v.tolist()
                if isinstance(v, np.ndarray)
                else (list(v) if isinstance(v, tuple) else v)
            )
        return out

    @classmethod
    def from_dict(cls, d: dict) -> WorldParams:
        """Inverse of :meth:`to_dict`."""
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            default = getattr(cls(), f.name)
            if isinstance(default, np.ndarray):
                v = np.asarray(v, dtype=np.float64)
            elif isinstance(default, tuple):
                v = tuple(v)
            kw[f.name] = v
        return cls(**kw)
