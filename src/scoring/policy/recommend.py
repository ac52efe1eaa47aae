"""The policy: compliance rules first, then the best expected value, with a little exploration.

For each case: every (action, slot) candidate goes through the rules engine; for each allowed
action the slot with the highest learned reachability is kept (earliest on ties); the action
value model prices each allowed action at its slot; a softmax over expected values (temperature
in EUR, with a propensity floor) picks the action and records the probability it had, so that
the service's own decisions can train the next policy without bias.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.cases import CaseSet
from scoring.contract import ACTIONS
from scoring.policy.calendar import (
    NS_PER_DAY,
    local_days,
    tz_codes,
    utc_datetimes,
    utc_index,
    utc_ns,
    utc_to_local_ns,
    weekdays,
)
from scoring.policy.config import PolicyConfig
from scoring.policy.rules import (
    ACTION_DTYPE,
    WAIT,
    action_codes,
    candidate_arrays,
    evaluate_arrays,
    removal_reasons_arrays,
    removal_summary_arrays,
)
from scoring.policy.value import ActionValueModel

HARSH = ("formal_notice", "legal_escalation")
NS_PER_HOUR = 3_600 * 10**9


@dataclass
class Policy:
    """Value model + configuration: what is registered as the ``policy`` model."""

    value_model: ActionValueModel
    config: PolicyConfig
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "value_model": self.value_model.to_dict(),
            "config": self.config.model_dump(mode="json"),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        return cls(
            ActionValueModel.from_dict(d["value_model"]),
            PolicyConfig.model_validate(d["config"]),
            d.get("info", {}),
        )

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path) -> Policy:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    # ------------------------------------------------------------------------------
    def action_values(
        self,
        cs: CaseSet,
        X: pd.DataFrame | Mapping[str, np.ndarray],
        pairs: pd.DataFrame | None = None,
        num_threads: int = 0,
    ) -> pd.DataFrame:
        """Expected value of every allowed action at its best slot, per case.

        Returns rows ``case, action, scheduled_at, requires_review, p_reach, paid_share,
        p_dispute, p_complaint, expected_paid, cost, expected_value, uplift``, ordered by case
        then action. ``pairs``: the output of :func:`allowed_pairs` (computed when omitted).
        """
        if pairs is None:
            case, act, t = candidate_arrays(cs, self.config)
            mask, review = evaluate_arrays(cs, case, act, t, self.config)
        else:
            case = pairs["case"].to_numpy(dtype=np.int64)
            act = action_codes(pairs["action"]) if len(pairs) else np.zeros(0, dtype=np.int64)
            t = utc_ns(pairs["scheduled_at"])
            mask = np.where(pairs["allowed"].to_numpy(dtype=bool), 0, 1)
            review = pairs["requires_review"].to_numpy(dtype=bool)
        return _frame(self._values(cs, X, case, act, t, mask, review, num_threads))

    def _values(
        self,
        cs: CaseSet,
        X: pd.DataFrame | Mapping[str, np.ndarray],
        case: np.ndarray,
        act: np.ndarray,
        t: np.ndarray,
        mask: np.ndarray,
        review: np.ndarray,
        num_threads: int = 0,
    ) -> dict[str, np.ndarray]:
        """:meth:`action_values` on the arrays of the rules engine, as a dict of columns."""
        cfg = self.config
        ok = mask == 0
        case, act, t, review = case[ok], np.asarray(act, dtype=np.int64)[ok], t[ok], review[ok]
        is_wait = act == WAIT
        tz = tz_codes(cs.column("cases", "department"))
        local = utc_to_local_ns(t, tz[case])
        day = local_days(local)
        wd = np.where(is_wait, 0, weekdays(day))
        hr = np.where(is_wait, 0, (local - day * NS_PER_DAY) // NS_PER_HOUR)
        max_dpd = np.asarray(X["max_days_past_due"])[case]
        names = np.asarray(ACTIONS, dtype=object)
        p_reach = np.where(
            is_wait,
            1.0,
            self.value_model.reach(
                cs.column("cases", "segment")[case],
                names[np.where(is_wait, ACTIONS.index("email_reminder"), act)],
                wd,
                hr,
                max_dpd,
            ),
        )
        as_of = cs.column("cases", "as_of")
        lead = np.where(is_wait, np.nan, (t - as_of[case]) / NS_PER_HOUR)
        # best slot per (case, action): highest reachability, then earliest
        order = np.lexsort((np.where(is_wait, np.inf, lead), -p_reach, act, case))
        case, act, t, review = case[order], act[order], t[order], review[order]
        p_reach, lead, wd, hr, is_wait = (
            p_reach[order],
            lead[order],
            wd[order],
            hr[order],
            is_wait[order],
        )
        first = np.ones(len(case), dtype=bool)
        first[1:] = (case[1:] != case[:-1]) | (act[1:] != act[:-1])
        case, act, t, review = case[first], act[first], t[first], review[first]
        p_reach, lead, wd, hr, wait = (
            p_reach[first],
            lead[first],
            wd[first],
            hr[first],
            is_wait[first],
        )
        slots = pd.DataFrame(
            {
                "action": names[act],
                "slot_weekday": np.where(wait, np.nan, wd),
                "slot_hour": np.where(wait, np.nan, hr),
                "lead_hours": np.where(wait, np.nan, lead),
            }
        )
        pred = self.value_model.predict(_take(X, case), slots, num_threads=num_threads)
        amount = np.asarray(X["open_amount"])[case]
        costs = np.array([cfg.costs[a] for a in ACTIONS])[act]
        paid_share = pred["paid_share"].to_numpy()
        p_dispute = pred["p_dispute"].to_numpy()
        p_complaint = pred["p_complaint"].to_numpy()
        expected_paid = amount * paid_share
        value = (
            expected_paid
            - costs
            - cfg.penalties.dispute * p_dispute
            - cfg.penalties.complaint * p_complaint
        )
        wait_value = np.full(len(cs), np.nan)
        wait_value[case[wait]] = value[wait]
        return {
            "case": case,
            "action": act,
            "scheduled_at": t,
            "requires_review": review,
            "p_reach": p_reach,
            "paid_share": paid_share,
            "p_dispute": p_dispute,
            "p_complaint": p_complaint,
            "expected_paid": expected_paid,
            "cost": costs,
            "expected_value": value,
            "uplift": value - wait_value[case],
        }

    def distribution(self, values: pd.DataFrame) -> np.ndarray:
        """Softmax probabilities over each case's allowed actions, with a propensity floor."""
        return self._distribution(
            values["case"].to_numpy(dtype=np.int64), values["expected_value"].to_numpy(float)
        )

    def _distribution(self, case: np.ndarray, value: np.ndarray) -> np.ndarray:
        cfg = self.config.exploration
        if not len(case):
            return np.zeros(0)
        n = int(case.max()) + 1
        v = value / cfg.temperature
        vmax = np.full(n, -np.inf)
        np.maximum.at(vmax, case, v)
        e = np.exp(v - vmax[case])
        p = e / np.bincount(case, weights=e, minlength=n)[case]
        k = np.bincount(case, minlength=n)[case]
        floor = np.minimum(cfg.min_propensity, 1.0 / k)
        return floor + (1.0 - floor * k) * p

    def recommend(
        self,
        cs: CaseSet,
        X: pd.DataFrame | Mapping[str, np.ndarray],
        explore: bool = True,
        seed: int | None = None,
        num_threads: int = 0,
        with_details: bool = False,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """One decision per case: ``action, scheduled_at, expected_value, uplift, propensity,
        requires_review, tone, installments`` and the rules that removed actions.

        Sampling is reproducible: each case draws from a generator seeded by its debtor id and
        ``as_of`` (plus ``seed``). ``explore=False`` takes the best action (propensity still
        reported as the softmax probability of that action).
        """
        cand_case, cand_act, cand_t = candidate_arrays(cs, self.config)
        mask, review = evaluate_arrays(cs, cand_case, cand_act, cand_t, self.config)
        v = self._values(cs, X, cand_case, cand_act, cand_t, mask, review, num_threads)
        case = v["case"]
        prob = self._distribution(case, v["expected_value"])
        v["probability"] = prob
        n = len(cs)
        # rows are grouped by case (every case has its wait row): where each case starts, ends
        start = np.searchsorted(case, np.arange(n), side="left")
        end = np.searchsorted(case, np.arange(n), side="right")
        if explore:
            u = _uniforms(cs, seed)
            # cumulative probabilities within each case, summed from the case's first row
            pos = np.arange(len(case)) - start[case]
            table = np.zeros((n, int(pos.max()) + 1 if len(pos) else 1))
            table[case, pos] = prob
            cum = np.cumsum(table, axis=1)[case, pos]
            hit = (cum - prob <= u[case]) & (u[case] < cum)
            # the first hit of each case; rounding may leave none: then the case's last row
            first_hit = np.full(n, len(case), dtype=np.int64)
            np.minimum.at(first_hit, case[hit], np.flatnonzero(hit))
            chosen = np.where(first_hit < end, first_hit, end - 1)
        else:
            order = np.lexsort((-v["expected_value"], case))  # stable: first best row
            chosen = order[start]
        act = np.asarray(ACTIONS, dtype=object)[v["action"][chosen]]
        dpd = np.asarray(X["max_days_past_due"])
        out = pd.DataFrame(
            {
                "debtor_id": cs.column("cases", "debtor_id"),
                "action": act.astype(str),
                "scheduled_at": utc_index(v["scheduled_at"][chosen]),
                "expected_value": v["expected_value"][chosen],
                "uplift": v["uplift"][chosen],
                "propensity": prob[chosen],
                "requires_review": v["requires_review"][chosen].astype(bool),
                "tone": tone(act, dpd, np.asarray(X["n_formal_notices"])),
                "installments": installments(
                    act, np.asarray(X["open_amount"]), cs.column("cases", "segment")
                ),
            }
        )
        details: dict[str, Any] = {}
        if with_details:
            details["values"] = _frame(v)
            details["removed"] = removal_reasons_arrays(cand_case, cand_act, mask, n)
        else:
            details["removal_summary"] = removal_summary_arrays(cand_case, cand_act, mask, n)
        return out, details


def _take(X: pd.DataFrame | Mapping[str, np.ndarray], rows: np.ndarray):
    """The feature rows ``rows`` of a feature frame or of feature arrays."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows].reset_index(drop=True)
    return {k: np.asarray(v)[rows] for k, v in X.items()}


def _frame(v: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns of :meth:`Policy._values` as the frame :meth:`Policy.action_values` returns."""
    cols = dict(v)
    cols["action"] = pd.Categorical.from_codes(v["action"], dtype=ACTION_DTYPE)
    cols["scheduled_at"] = utc_index(v["scheduled_at"])
    return pd.DataFrame(cols)


def _uniforms(cs: CaseSet, seed: int | None) -> np.ndarray:
    # each case's key is formatted on its own (a column-wide format would let the other cases
    # of a batch change it, e.g. one as_of with fractional seconds): "2026-03-07 08:00:00+00:00"
    keys = [
        f"{d}|{t}|{seed or 0}"
        for d, t in zip(
            cs.column("cases", "debtor_id").tolist(),
            utc_datetimes(cs.column("cases", "as_of")),
            strict=True,
        )
    ]
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little") / 2**64
            for k in keys
        ]
    )


def tone(action: np.ndarray, max_dpd: np.ndarray, n_formal: np.ndarray) -> np.ndarray:
    """Template tone: preventive before the due date, firm from 30 days or after a formal notice."""
    firm = (np.asarray(max_dpd) >= 30) | (np.asarray(n_formal) > 0) | np.isin(action, HARSH)
    t = np.where(np.asarray(max_dpd) <= 0, "preventive", np.where(firm, "firm", "amicable"))
    return np.where(np.asarray(action) == "wait", None, t)


def installments(action: np.ndarray, open_amount: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Suggested number of monthly instalments for payment-plan offers (2 to 12).

    Sized so a monthly instalment is about 150 EUR for a consumer, 2,000 EUR for a business.
    """
    per_month = np.where(np.asarray(segment) == "B2C", 150.0, 2000.0)
    n = np.clip(np.ceil(np.asarray(open_amount, dtype=float) / per_month), 2, 12)
    return np.where(np.asarray(action) == "payment_plan_offer", n, np.nan)
