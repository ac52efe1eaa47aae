"""The versioned policy configuration (``scoring/config/policy.yaml``) as a frozen model.

:func:`load_policy_config` reads and validates it (path ``None`` = the packaged default).
Every number of the compliance rules (CONTRACT §4), the action costs (§2), the reward
penalties (§3), the candidate time slots and the exploration settings lives in that file;
the code only interprets it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from scoring.calendar import parse_hhmm
from scoring.configuration import FrozenConfig, load_yaml_config
from scoring.contract import ACTIONS, CONSENTS, CONTACT_ACTIONS, HARSH_ACTIONS

Action = Literal[ACTIONS]  # type: ignore[valid-type]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
Segment = Literal["B2B", "B2C"]
Consent = Literal[CONSENTS]  # type: ignore[valid-type]
#: ``"contacts"`` (every action but ``wait``) or an explicit list of actions.
ActionSet = Literal["contacts"] | tuple[Action, ...]


def _hhmm(v: str) -> str:
    parse_hhmm(v)
    return v


HHMM = Annotated[str, AfterValidator(_hhmm)]


def _window(v: tuple[str, str]) -> tuple[str, str]:
    if parse_hhmm(v[0]) >= parse_hhmm(v[1]):
        raise ValueError(f"empty hour window {v[0]}-{v[1]}")
    return v


HourWindow = Annotated[tuple[HHMM, HHMM], AfterValidator(_window)]


def resolve_actions(spec: ActionSet) -> frozenset[str]:
    """The actions an :data:`ActionSet` stands for."""
    return frozenset(CONTACT_ACTIONS) if spec == "contacts" else frozenset(spec)


_Frozen = FrozenConfig


class HorizonRule(_Frozen):
    """R0_horizon: contacts are scheduled in ``(as_of, as_of + days]``."""

    days: int = Field(7, ge=1, le=31)


class SundayHolidayRule(_Frozen):
    """R1_sunday_holiday: no contact on these weekdays nor on local public holidays."""

    enabled: bool = True
    weekdays: tuple[Weekday, ...] = ("Sun",)
    public_holidays: bool = True


class HoursRule(_Frozen):
    """R2_*: allowed weekdays and local hour windows ``[start, end)`` per segment."""

    enabled: bool = True
    actions: ActionSet = "contacts"
    weekdays: tuple[Weekday, ...]
    hours: dict[Segment, tuple[HourWindow, ...]]

    @model_validator(mode="after")
    def _segments(self) -> HoursRule:
        missing = {"B2B", "B2C"} - set(self.hours)
        if missing:
            raise ValueError(f"hours missing for segment(s) {sorted(missing)}")
        return self


class ConsentRule(_Frozen):
    """R3_consent: the consent flag each action needs."""

    enabled: bool = True
    required: dict[Action, Consent] = Field(default_factory=dict)


class CapRule(_Frozen):
    """A rolling cap: at most ``max_contacts`` counted actions in any ``window_days`` local
    calendar days, the candidate itself included (it applies to ``applies_to`` actions)."""

    enabled: bool = True
    window_days: int = Field(ge=1, le=366)
    max_contacts: int = Field(ge=0)
    counts: ActionSet = "contacts"
    applies_to: ActionSet = "contacts"


class CapsRule(_Frozen):
    """R4_daily_cap, R4_weekly_cap, R4_phone_30d_cap."""

    daily: CapRule
    weekly: CapRule
    phone_30d: CapRule


class OpenDisputeRule(_Frozen):
    """R5_open_dispute: while a dispute is open only these actions (and ``wait``)."""

    enabled: bool = True
    allowed_actions: tuple[Action, ...] = ("dispute_review",)


class LegalRule(_Frozen):
    """R6_legal_prerequisites for ``actions`` (legal escalation)."""

    enabled: bool = True
    actions: tuple[Action, ...] = ("legal_escalation",)
    min_days_past_due: int = Field(30, ge=0)
    notice_action: Action = "formal_notice"
    min_days_after_notice: int = Field(8, ge=0)
    no_payment_since_notice: bool = True


class ReliableCustomerRule(_Frozen):
    """R7_reliable_customer: a lighter touch for long-standing customers who pay on time."""

    enabled: bool = True
    min_relationship_years: int = Field(3, ge=0)
    max_paid_late_12m: int = Field(0, ge=0)
    window_days: int = Field(14, ge=1, le=366)
    max_contacts: int = Field(1, ge=0)
    counts: ActionSet = "contacts"
    applies_to: ActionSet = "contacts"
    restricted_actions: tuple[Action, ...] = HARSH_ACTIONS
    restricted_min_days_past_due: int = Field(30, ge=0)

    def as_cap(self) -> CapRule:
        """The contact-frequency part as a :class:`CapRule`."""
        return CapRule(  # type: ignore[call-arg]
            enabled=self.enabled,
            window_days=self.window_days,
            max_contacts=self.max_contacts,
            counts=self.counts,
            applies_to=self.applies_to,
        )


class AgencyModeRule(_Frozen):
    """R8_agency_first_letter: when enabled, the first contact must be one of these."""

    enabled: bool = False
    first_contact_actions: tuple[Action, ...] = ("letter",)


class ReviewRule(_Frozen):
    """Rule 9: actions returned with ``requires_review`` per segment."""

    enabled: bool = True
    actions: dict[Segment, tuple[Action, ...]] = Field(default_factory=dict)


class ContestPauseRule(_Frozen):
    """R9_contest_pause: while a debtor contests a decision (``POST /decisions/{id}/contest``)
    and no reviewer has resolved it, these actions are removed for that debtor."""

    enabled: bool = True
    actions: ActionSet = "contacts"


class ComplianceConfig(_Frozen):
    """The compliance rules of CONTRACT §4."""

    horizon: HorizonRule = HorizonRule()
    sunday_holiday: SundayHolidayRule = SundayHolidayRule()
    contact_hours: HoursRule
    phone_hours: HoursRule
    consent: ConsentRule
    caps: CapsRule
    open_dispute: OpenDisputeRule = OpenDisputeRule()
    legal_prerequisites: LegalRule = LegalRule()
    reliable_customer: ReliableCustomerRule = ReliableCustomerRule()
    agency_mode: AgencyModeRule = AgencyModeRule()
    review: ReviewRule = ReviewRule()
    contest_pause: ContestPauseRule = ContestPauseRule()


class SlotGrid(_Frozen):
    """Candidate contact times: ``hours`` (local) on each of the next ``days_ahead`` days."""

    days_ahead: int = Field(7, ge=1, le=31)
    hours: tuple[HHMM, ...] = ("09:00", "11:00", "14:00", "17:00", "19:00")
    delay_horizon_days: float = Field(
        14.0,
        gt=0,
        description="A contact scheduled L whole days after as_of keeps (1 - L / this) of its "
        "effect against waiting (the reward counts payments within 14 days of the decision).",
    )


class Penalties(_Frozen):
    """Reward penalties in EUR (CONTRACT §3)."""

    dispute: float = Field(50.0, ge=0)
    complaint: float = Field(50.0, ge=0)


class Exploration(_Frozen):
    """Settings of the stochastic policy."""

    temperature: float = Field(1.0, gt=0)
    min_propensity: float = Field(0.01, ge=0, lt=1)


class PolicyConfig(_Frozen):
    """The whole policy configuration (see ``scoring/config/policy.yaml``)."""

    version: str
    costs: dict[Action, float]
    penalties: Penalties = Penalties()
    slots: SlotGrid = SlotGrid()
    exploration: Exploration = Exploration()
    harm_cap: float | None = Field(
        None,
        ge=0,
        description="Optional cap on an action's expected disputes + complaints (per case, "
        "14 days): actions above it are not recommended (wait always stays).",
    )
    compliance: ComplianceConfig

    @model_validator(mode="after")
    def _complete(self) -> PolicyConfig:
        missing = [a for a in ACTIONS if a not in self.costs]
        if missing:
            raise ValueError(f"costs missing for action(s) {missing}")
        if any(c < 0 for c in self.costs.values()):
            raise ValueError("costs must be >= 0")
        if self.costs["wait"] != 0:
            raise ValueError("wait must cost 0")
        return self

    @property
    def actions(self) -> tuple[str, ...]:
        """The action catalogue, in contract order (``wait`` first)."""
        return ACTIONS


def default_policy_path() -> Path:
    """Path of the packaged default configuration."""
    return Path(str(resources.files("scoring").joinpath("config/policy.yaml")))


def load_policy_config(path: str | Path | None = None) -> PolicyConfig:
    """Read and validate a policy configuration (``None``: the packaged default)."""
    p = Path(path) if path is not None else default_policy_path()
    return load_yaml_config(PolicyConfig, p, "policy configuration")
