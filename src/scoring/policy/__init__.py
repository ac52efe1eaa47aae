"""The collection policy: compliance rules, local calendars and the policy configuration."""

from scoring.policy.config import PolicyConfig, load_policy_config
from scoring.policy.rules import (
    RULE_IDS,
    allowed_pairs,
    candidates,
    evaluate,
    removal_reasons,
    removal_summary,
    violation_list,
)

__all__ = [
    "RULE_IDS",
    "PolicyConfig",
    "allowed_pairs",
    "candidates",
    "evaluate",
    "load_policy_config",
    "removal_reasons",
    "removal_summary",
    "violation_list",
]
