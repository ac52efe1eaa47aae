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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scoring.cases import CaseSet
from scoring.policy.calendar import local_times
from scoring.policy.config import PolicyConfig
from scoring.policy.rules import allowed_pairs, removal_reasons, removal_summary
from scoring.policy.value import ActionValueModel

HARSH = ("formal_notice", "legal_escalation")


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
        self, cs: CaseSet, X: pd.DataFrame, pairs: pd.DataFrame | None = None, num_threads: int = 0
    ) -> pd.DataFrame:
        """Expected value of every allowed action at its best slot, per case.

        Returns rows ``case, action, scheduled_at, p_reach, paid_share, p_dispute, p_complaint,
        expected_paid, cost, expected_value, uplift, requires_review``.
        """
        cfg = self.config
        if pairs is None:
            pairs = allowed_pairs(cs, cfg)
        ok = pairs[pairs["allowed"].to_numpy()].copy()
        case = ok["case"].to_numpy(dtype=np.int64)
        action = ok["action"].astype(str).to_numpy()
        is_wait = action == "wait"
        local = local_times(ok["scheduled_at"], cs.cases["department"].to_numpy()[case])
        wd = local.dt.weekday.fillna(0).to_numpy(dtype=int)
        hr = local.dt.hour.fillna(0).to_numpy(dtype=int)
        max_dpd = X["max_days_past_due"].to_numpy()[case]
        p_reach = np.where(
            is_wait,
            1.0,
            self.value_model.reach(
                cs.cases["segment"].to_numpy()[case],
                np.where(is_wait, "email_reminder", action),
                wd,
                hr,
                max_dpd,
            ),
        )
        ok["p_reach"] = p_reach
        sched_ns = _ns(ok["scheduled_at"])
        as_of_ns = _ns(cs.cases["as_of"])[case]
        ok["_lead"] = np.where(is_wait, np.nan, (sched_ns - as_of_ns) / 3.6e12)
        ok["_wd"], ok["_hr"] = wd, hr
        # best slot per (case, action): highest reachability, then earliest
        ok = ok.sort_values(
            ["case", "action", "p_reach", "_lead"],
            ascending=[True, True, False, True],
            kind="stable",
        )
        best = (
            ok.groupby(["case", "action"], observed=True, sort=False).head(1).reset_index(drop=True)
        )
        case = best["case"].to_numpy(dtype=np.int64)
        act = best["action"].astype(str).to_numpy()
        wait = act == "wait"
        slots = pd.DataFrame(
            {
                "action": act,
                "slot_weekday": np.where(wait, np.nan, best["_wd"]),
                "slot_hour": np.where(wait, np.nan, best["_hr"]),
                "lead_hours": np.where(wait, np.nan, best["_lead"]),
            }
        )
        pred = self.value_model.predict(
            X.iloc[case].reset_index(drop=True), slots, num_threads=num_threads
        )
        amount = X["open_amount"].to_numpy()[case]
        costs = np.array([cfg.costs[a] for a in act])
        best["paid_share"] = pred["paid_share"].to_numpy()
        best["p_dispute"] = pred["p_dispute"].to_numpy()
        best["p_complaint"] = pred["p_complaint"].to_numpy()
        best["expected_paid"] = amount * best["paid_share"].to_numpy()
        best["cost"] = costs
        best["expected_value"] = (
            best["expected_paid"]
            - costs
            - cfg.penalties.dispute * best["p_dispute"]
            - cfg.penalties.complaint * best["p_complaint"]
        )
        wait_value = pd.Series(best["expected_value"].to_numpy()[wait], index=case[wait])
        best["uplift"] = best["expected_value"].to_numpy() - wait_value.reindex(case).to_numpy()
        return best.drop(
            columns=["_lead", "_wd", "_hr", "allowed", "removed_by", "violations"], errors="ignore"
        )

    def distribution(self, values: pd.DataFrame) -> np.ndarray:
        """Softmax probabilities over each case's allowed actions, with a propensity floor."""
        cfg = self.config.exploration
        case = values["case"].to_numpy(dtype=np.int64)
        v = values["expected_value"].to_numpy(dtype=float) / cfg.temperature
        vmax = pd.Series(v).groupby(case).transform("max").to_numpy()
        e = np.exp(v - vmax)
        p = e / pd.Series(e).groupby(case).transform("sum").to_numpy()
        k = pd.Series(case).groupby(case).transform("size").to_numpy()
        floor = np.minimum(cfg.min_propensity, 1.0 / k)
        return floor + (1.0 - floor * k) * p

    def recommend(
        self,
        cs: CaseSet,
        X: pd.DataFrame,
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
        pairs = allowed_pairs(cs, self.config)
        values = self.action_values(cs, X, pairs, num_threads=num_threads)
        values["probability"] = self.distribution(values)
        case = values["case"].to_numpy(dtype=np.int64)
        n = len(cs)
        u = _uniforms(cs, seed)
        # within each case (rows grouped by case): cumulative probabilities
        cum = values.groupby("case", sort=False)["probability"].cumsum().to_numpy()
        if explore:
            chosen_mask = (cum - values["probability"].to_numpy() <= u[case]) & (u[case] < cum)
            # guard against rounding: if a case picked nothing, take its last row
            picked = np.bincount(case[chosen_mask], minlength=n)
            last = values.groupby("case", sort=False).tail(1).index
            fix = picked[values.loc[last, "case"].to_numpy()] == 0
            chosen_mask[np.asarray(last)[fix]] = True
        else:
            best_idx = values.groupby("case", sort=False)["expected_value"].idxmax()
            chosen_mask = np.zeros(len(values), dtype=bool)
            chosen_mask[best_idx.to_numpy()] = True
        chosen = values[chosen_mask].drop_duplicates("case").set_index("case").reindex(range(n))
        act = chosen["action"].astype(str).to_numpy()
        dpd = X["max_days_past_due"].to_numpy()
        out = pd.DataFrame(
            {
                "debtor_id": cs.cases["debtor_id"].to_numpy(),
                "action": act,
                "scheduled_at": chosen["scheduled_at"].to_numpy(),
                "expected_value": chosen["expected_value"].to_numpy(),
                "uplift": chosen["uplift"].to_numpy(),
                "propensity": chosen["probability"].to_numpy(),
                "requires_review": chosen["requires_review"].fillna(False).to_numpy(dtype=bool),
                "tone": tone(act, dpd, X["n_formal_notices"].to_numpy()),
                "installments": installments(
                    act, X["open_amount"].to_numpy(), cs.cases["segment"].to_numpy()
                ),
            }
        )
        out["scheduled_at"] = pd.to_datetime(out["scheduled_at"], utc=True)
        details: dict[str, Any] = {}
        if with_details:
            details["values"] = values
            details["removed"] = removal_reasons(pairs, n)
        else:
            details["removal_summary"] = removal_summary(pairs)
        return out, details


def _ns(s: pd.Series) -> np.ndarray:
    """Tz-aware timestamps as int64 nanoseconds since the epoch (UTC)."""
    return pd.Series(s).dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array.asi8


def _uniforms(cs: CaseSet, seed: int | None) -> np.ndarray:
    keys = cs.cases["debtor_id"].astype(str) + "|" + cs.cases["as_of"].astype(str) + f"|{seed or 0}"
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
