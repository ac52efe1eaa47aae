"""The policy, an estimator: compliance rules first, then the best expected value, at a slot the
debtor is likely to answer, with a little exploration.

``Policy(config, learner="auto").fit(history)`` learns from the actions log
(:class:`~scoring.policy.history.LoggedDecisions`):

* a reach model (:mod:`scoring.policy.reach`): P(reached) by channel, weekday and time of day,
  from the population and the debtor's own past outcomes;
* an effect learner (:mod:`scoring.policy.learners`): the value of each action when it reaches
  the debtor, and of waiting. With ``learner="auto"`` every candidate learner is fitted on the
  earlier part of the history and the one with the best cross-fitted doubly robust off-policy
  value on the later part is kept (:mod:`scoring.policy.select`), then refitted on the whole.

``recommend(cases, X)`` returns :class:`Recommendations`. For each case, every (action, slot)
candidate goes through the rules engine; each allowed one is priced as::

    value = P(reach | debtor, action, slot) x value_if_reached(case, action, lead)
          + (1 - P(reach)) x value_if_not_reached(case, action) - cost(action)

where each value is ``open amount x paid share - penalty_dispute x P(dispute) -
penalty_complaint x P(complaint)`` (CONTRACT §3). The best slot of each action is kept; a
softmax over the actions' values (temperature in EUR, propensity floor) picks the action and
records its probability, so the service's own decisions can train the next policy.

Policies registered before this design (one S-learner with slot features) still load and
decide as they did (``Policy.legacy_``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from scoring.calendar import (
    tz_codes,
    utc_datetimes,
    utc_index,
)
from scoring.cases import CaseSet
from scoring.contract import ACTIONS, HARSH_ACTIONS
from scoring.features import CATEGORICAL, FEATURE_BY_NAME, FEATURE_NAMES, Features, model_matrix
from scoring.policy.config import PolicyConfig, load_policy_config
from scoring.policy.learners import LEARNERS, EffectModel, make_learner
from scoring.policy.reach import SEGMENTS, Evidence, ReachModel, dpd_bucket_codes, local_slot
from scoring.policy.rules import (
    ACTION_DTYPE,
    WAIT,
    candidate_arrays,
    evaluate_arrays,
    removal_reasons_arrays,
    removal_summary_arrays,
)

HARSH = HARSH_ACTIONS
NS_PER_HOUR = 3_600 * 10**9
FORMAT = 2
_WEEKDAY_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def case_matrix(X: Features) -> np.ndarray:
    """The float matrix of the case features the effect learners see (categoricals as codes)."""
    cats = {c: list(FEATURE_BY_NAME[c].categories) for c in CATEGORICAL}
    return model_matrix(X, list(FEATURE_NAMES), cats)


@dataclass
class Recommendations:
    """What :meth:`Policy.recommend` returns: one decision per case and every option priced.

    * ``decisions``: ``debtor_id, action, scheduled_at, expected_value, uplift, propensity,
      requires_review, tone, installments, p_reach, timing_reason_fr, timing_reason_en``;
    * ``options``: every allowed action at its best slot (``case, action, scheduled_at,
      requires_review, p_reach, paid_share, p_dispute, p_complaint, expected_paid, cost,
      expected_value, uplift, probability``);
    * ``removed`` (per case: action -> rules that removed it) and ``removal_summary``,
      computed when first read.
    """

    decisions: pd.DataFrame
    values: dict[str, np.ndarray]
    n_cases: int
    _cand: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)

    @cached_property
    def options(self) -> pd.DataFrame:
        return _frame(self.values)

    @cached_property
    def removed(self) -> list[dict[str, list[str]]]:
        return removal_reasons_arrays(*self._cand, self.n_cases)

    @cached_property
    def removal_summary(self) -> pd.DataFrame:
        return removal_summary_arrays(*self._cand, self.n_cases)


class Policy:
    """Learns the value of each action from the actions log and recommends compliant actions.

    Parameters (stored as given, validated by :meth:`fit`):

    * ``config``: the :class:`PolicyConfig` (costs, penalties, slots, exploration, rules);
      ``None`` = the packaged default;
    * ``learner``: ``"auto"`` (chosen by off-policy validation) or one of :data:`LEARNERS`;
    * ``per_debtor_reach``: use the debtor's own contact outcomes in the reach model;
    * ``candidates``: the learners ``"auto"`` compares;
    * ``valid_fraction``: the later share of the history used to choose the learner;
    * ``prior``: the reference learner, kept unless another beats it significantly on the
      later history (:mod:`scoring.policy.select`);
    * ``refit``: refit the chosen learner on the whole history.

    Fitted attributes: ``effects_`` (:class:`EffectModel`), ``reach_`` (:class:`ReachModel`),
    ``selection_`` (the comparison of learners, when ``learner="auto"``), ``info_``.
    """

    def __init__(
        self,
        config: PolicyConfig | None = None,
        learner: str = "auto",
        per_debtor_reach: bool = True,
        candidates: tuple[str, ...] = LEARNERS,
        valid_fraction: float = 0.25,
        refit: bool = True,
        prior: str = "ensemble",
    ) -> None:
        self.config: PolicyConfig = config if config is not None else load_policy_config()
        self.prior = prior
        self.learner = learner
        self.per_debtor_reach = per_debtor_reach
        self.candidates = candidates
        self.valid_fraction = valid_fraction
        self.refit = refit
        self.legacy_: Any = None

    # -- parameters -----------------------------------------------------------------
    def _validate(self) -> PolicyConfig:
        if self.learner != "auto" and self.learner not in LEARNERS:
            raise ValueError(
                f"learner must be 'auto' or one of {list(LEARNERS)}, not {self.learner!r}"
            )
        bad = [c for c in self.candidates if c not in LEARNERS]
        if bad or not self.candidates:
            raise ValueError(f"candidates must be a non-empty subset of {list(LEARNERS)}: {bad}")
        if self.prior not in LEARNERS:
            raise ValueError(f"prior must be one of {list(LEARNERS)}, not {self.prior!r}")
        if not 0.05 <= self.valid_fraction <= 0.5:
            raise ValueError("valid_fraction must be within [0.05, 0.5]")
        if self.config is None:
            self.config = load_policy_config()
        return self.config

    @property
    def info(self) -> dict[str, Any]:
        return getattr(self, "info_", {})

    @property
    def is_fitted(self) -> bool:
        return self.legacy_ is not None or hasattr(self, "effects_")

    # -- fitting --------------------------------------------------------------------
    def fit(self, history) -> Policy:
        """Fit on logged decisions (a :class:`LoggedDecisions`, rows in time order)."""
        from scoring.policy.history import arm_data

        config = self._validate()
        n = len(history.log)
        if n < 200:
            raise ValueError(
                f"too few logged decisions with a case to learn action values ({n}, need 200)"
            )
        if self.learner == "auto" and len(self.candidates) > 1:
            from scoring.policy.select import select_learner

            sel = select_learner(history, config, self)
            self.selection_ = sel.table
            self.selection_fitted_ = sel.fitted  # every candidate, fitted on the earlier part
            chosen = sel.chosen
            if self.refit:
                self.reach_ = ReachModel.fit_history(history)
                self.effects_ = make_learner(chosen).fit(arm_data(history, self.reach_))
            else:
                self.reach_, self.effects_ = sel.fitted[chosen].reach_, sel.fitted[chosen].effects_
            ref = self.prior
            how = (
                f"reference learner {ref!r} kept: no other candidate beat it significantly on "
                "the later history (paired doubly robust difference)"
                if chosen == ref
                else f"{chosen!r} beat the reference {ref!r} on the later history (paired doubly "
                "robust and importance-weighted differences, both intervals above 0: bootstrap "
                "over debtors, 95 % with a Bonferroni correction)"
            )
        else:
            chosen = self.learner if self.learner != "auto" else self.candidates[0]
            self.reach_ = ReachModel.fit_history(history)
            self.effects_ = make_learner(chosen).fit(arm_data(history, self.reach_))
            how = "fixed by the caller"
        self.info_ = {
            "format": FORMAT,
            "learner": chosen,
            "learner_choice": how,
            "per_debtor_reach": self.per_debtor_reach,
            "config_version": config.version,
            "config_fingerprint": config.fingerprint(),
            "n_decisions": n,
            "reach": self.reach_.info,
            "effects": self.effects_.info,
        }
        if hasattr(self, "selection_"):
            self.info_["selection"] = self.selection_.to_dict(orient="records")
        return self

    def with_config(self, config: PolicyConfig) -> Policy:
        """The same fitted policy under another configuration (penalties, slots, rules)."""
        p = Policy(
            config,
            self.learner,
            self.per_debtor_reach,
            self.candidates,
            self.valid_fraction,
            self.refit,
            self.prior,
        )
        for k, v in vars(self).items():
            if k.endswith("_"):
                setattr(p, k, v)
        p.config = config
        return p

    # -- persistence ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.legacy_ is not None:
            return {
                "value_model": self.legacy_.to_dict(),
                "config": self.config.model_dump(mode="json"),
                "info": self.info,
            }
        return {
            "format": FORMAT,
            "params": {
                "learner": self.learner,
                "per_debtor_reach": self.per_debtor_reach,
                "candidates": list(self.candidates),
                "valid_fraction": self.valid_fraction,
                "refit": self.refit,
                "prior": self.prior,
            },
            "config": self.config.model_dump(mode="json"),
            "reach": self.reach_.to_dict(),
            "effects": self.effects_.to_dict(),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        config = PolicyConfig.model_validate(d["config"])
        if "value_model" in d:  # a policy registered before format 2
            from scoring.policy.value import ActionValueModel

            p = cls(config, learner="s")
            p.legacy_ = ActionValueModel.from_dict(d["value_model"])
            p.info_ = d.get("info", {})
            return p
        par = d.get("params", {})
        p = cls(
            config,
            par.get("learner", "auto"),
            par.get("per_debtor_reach", True),
            tuple(par.get("candidates", LEARNERS)),
            par.get("valid_fraction", 0.25),
            par.get("refit", True),
            par.get("prior", "ensemble"),
        )
        p.reach_ = ReachModel.from_dict(d["reach"])
        p.effects_ = EffectModel.from_dict(d["effects"])
        p.info_ = d.get("info", {})
        return p

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path) -> Policy:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    # -- pricing --------------------------------------------------------------------
    def action_values(self, cs: CaseSet, X, num_threads: int = 0) -> pd.DataFrame:
        """Expected value of every allowed action at its best slot, per case (a frame ordered
        by case then action); see :class:`Recommendations` ``options``."""
        cand_case, cand_act, cand_t = candidate_arrays(cs, self.config)
        mask, review = evaluate_arrays(cs, cand_case, cand_act, cand_t, self.config)
        v = self._values(cs, X, cand_case, cand_act, cand_t, mask, review, num_threads)
        v["probability"] = self._distribution(v["case"], v["expected_value"])
        return _frame(v)

    def _values(self, cs, X, case, act, t, mask, review, num_threads=0) -> dict[str, np.ndarray]:
        if self.legacy_ is not None:
            from scoring.policy.value import legacy_values

            return legacy_values(self, cs, X, case, act, t, mask, review, num_threads)
        cfg = self.config
        ok = mask == 0
        case, act, t, review = case[ok], np.asarray(act, dtype=np.int64)[ok], t[ok], review[ok]
        is_wait = act == WAIT
        n = len(cs)
        tz = tz_codes(cs.column("cases", "department"))
        as_of = cs.column("cases", "as_of")
        wd, hr = local_slot(np.where(is_wait, as_of[case], t), tz[case])  # wait: any real time
        lead_h = np.where(is_wait, np.nan, (t - as_of[case]) / NS_PER_HOUR)
        seg_all = np.array(
            [SEGMENTS.index(s) if s in SEGMENTS else 0 for s in cs.column("cases", "segment")]
        )
        bucket_all = dpd_bucket_codes(np.asarray(X["max_days_past_due"]))
        r = self.reach_.predict(
            Evidence.of(cs) if self.per_debtor_reach else Evidence.empty(),
            case,
            seg_all[case],
            np.where(is_wait, 1, act),
            wd,
            hr,
            bucket_all[case],
            per_debtor=self.per_debtor_reach,
        )
        p_reach = np.where(is_wait, 1.0, r["p"])
        # effects per (case, action) at a same-day contact; a contact ``L`` whole days later
        # keeps (1 - L / delay_horizon_days) of its effect against waiting (the reward counts
        # payments within a fixed window after the decision, CONTRACT §3). The learners' own
        # lead-time adjustment is not used to move contacts to later days: the log's lead
        # times follow the old policy's schedule, and trees extrapolate flat, which let tiny
        # reach differences push contacts days later (measured: docs/policy.md).
        lead_d = np.where(is_wait, 0, np.floor(np.nan_to_num(lead_h, nan=0.0) / 24.0))
        keep_share = np.where(
            is_wait, 1.0, np.clip(1.0 - lead_d / cfg.slots.delay_horizon_days, 0.0, 1.0)
        )
        key = case * len(ACTIONS) + act
        uk, inv = np.unique(key, return_inverse=True)
        u_case = uk // len(ACTIONS)
        u_act = uk % len(ACTIONS)
        u_lead = np.where(u_act == WAIT, np.nan, 0.5)
        M = case_matrix(X)
        eff = self.effects_.predict(M[u_case], u_act, u_lead, num_threads)
        wait = self.effects_.predict(
            M, np.zeros(n, dtype=np.int64), np.full(n, np.nan), num_threads
        )
        wait_c = {k: v[case] for k, v in wait.items()}
        nr = self.effects_.predict_not_reached(wait_c, act)
        eff = {k: wait_c[k] + (eff[k][inv] - wait_c[k]) * keep_share for k in eff}
        nr = {k: wait_c[k] + (nr[k] - wait_c[k]) * keep_share for k in nr}
        share = p_reach * eff["share"] + (1 - p_reach) * nr["share"]
        p_dispute = p_reach * eff["dispute"] + (1 - p_reach) * nr["dispute"]
        p_complaint = p_reach * eff["complaint"] + (1 - p_reach) * nr["complaint"]
        amount = np.asarray(X["open_amount"], dtype=float)[case]
        costs = np.array([cfg.costs[a] for a in ACTIONS])[act]
        expected_paid = amount * share
        value = (
            expected_paid
            - costs
            - cfg.penalties.dispute * p_dispute
            - cfg.penalties.complaint * p_complaint
        )
        harm_cap = cfg.harm_cap
        if harm_cap is not None:
            value = np.where(~is_wait & (p_dispute + p_complaint > harm_cap), -np.inf, value)
        # best slot per (case, action): highest value, then earliest
        order = np.lexsort((np.where(is_wait, -1, t), -value, act, case))
        first = np.ones(len(order), dtype=bool)
        first[1:] = (case[order][1:] != case[order][:-1]) | (act[order][1:] != act[order][:-1])
        keep = order[first]
        keep = keep[np.isfinite(value[keep])]
        cols = {
            "case": case[keep],
            "action": act[keep],
            "scheduled_at": t[keep],
            "requires_review": review[keep],
            "p_reach": p_reach[keep],
            "p_reach_population": np.where(is_wait, 1.0, r["p_population"])[keep],
            "reach_evidence_n": r["near_n"][keep],
            "reach_evidence_reached": r["near_y"][keep],
            "slot_weekday": wd[keep],
            "slot_hour": hr[keep],
            "paid_share": share[keep],
            "p_dispute": p_dispute[keep],
            "p_complaint": p_complaint[keep],
            "expected_paid": expected_paid[keep],
            "cost": costs[keep],
            "expected_value": value[keep],
        }
        wait_value = np.full(n, np.nan)
        wk = cols["action"] == WAIT
        wait_value[cols["case"][wk]] = cols["expected_value"][wk]
        cols["uplift"] = cols["expected_value"] - wait_value[cols["case"]]
        return cols

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

    # -- deciding -------------------------------------------------------------------
    def recommend(
        self,
        cs: CaseSet,
        X=None,
        explore: bool = True,
        seed: int | None = None,
        num_threads: int = 0,
    ) -> Recommendations:
        """One decision per case (see :class:`Recommendations`).

        ``X``: the feature arrays or frame of ``cs`` (computed when omitted). Sampling is
        reproducible: each case draws from a generator seeded by its debtor id and ``as_of``
        (plus ``seed``). ``explore=False`` takes the best action (propensity still reported
        as the softmax probability of that action).
        """
        if not self.is_fitted:
            raise RuntimeError("this Policy is not fitted: call fit(history) first")
        if X is None:
            from scoring.features import feature_arrays

            X = feature_arrays(cs)
        cand_case, cand_act, cand_t = candidate_arrays(cs, self.config)
        mask, review = evaluate_arrays(cs, cand_case, cand_act, cand_t, self.config)
        v = self._values(cs, X, cand_case, cand_act, cand_t, mask, review, num_threads)
        case = v["case"]
        prob = self._distribution(case, v["expected_value"])
        v["probability"] = prob
        n = len(cs)
        start = np.searchsorted(case, np.arange(n), side="left")
        end = np.searchsorted(case, np.arange(n), side="right")
        if explore:
            u = _uniforms(cs, seed)
            pos = np.arange(len(case)) - start[case]
            table = np.zeros((n, int(pos.max()) + 1 if len(pos) else 1))
            table[case, pos] = prob
            cum = np.cumsum(table, axis=1)[case, pos]
            hit = (cum - prob <= u[case]) & (u[case] < cum)
            first_hit = np.full(n, len(case), dtype=np.int64)
            np.minimum.at(first_hit, case[hit], np.flatnonzero(hit))
            chosen = np.where(first_hit < end, first_hit, end - 1)
        else:
            order = np.lexsort((-v["expected_value"], case))
            chosen = order[start]
        act = np.asarray(ACTIONS, dtype=object)[v["action"][chosen]]
        dpd = np.asarray(X["max_days_past_due"])
        fr, en = timing_reasons(v, chosen, act)
        decisions = pd.DataFrame(
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
                "p_reach": v["p_reach"][chosen],
                "timing_reason_fr": fr,
                "timing_reason_en": en,
            }
        )
        return Recommendations(decisions, v, n, (cand_case, cand_act, mask))


def _part_of_day(hour: float, lang: str) -> str:
    if hour < 12:
        return "matin" if lang == "fr" else "morning"
    if hour < 17:
        return "après-midi" if lang == "fr" else "afternoon"
    return "soir" if lang == "fr" else "evening"


def timing_reasons(
    v: dict[str, np.ndarray], rows: np.ndarray, act: np.ndarray
) -> tuple[list, list]:
    """Why that time, in French and English: the debtor's own record on that channel near that
    weekday and hour when there is one, else how often comparable debtors answer then."""
    fr: list[str | None] = []
    en: list[str | None] = []
    keys = ("reach_evidence_n", "reach_evidence_reached", "p_reach", "slot_weekday", "slot_hour")
    cols = {k: v[k][rows] if k in v else np.full(len(rows), np.nan) for k in keys}
    for i, a in enumerate(act):
        if a == "wait" or not np.isfinite(cols["slot_hour"][i]):
            fr.append(None)
            en.append(None)
            continue
        wd = int(cols["slot_weekday"][i]) % 7
        h = float(cols["slot_hour"][i])
        hh = f"{int(h):02d}:{int(round((h % 1) * 60)) % 60:02d}"
        n_ev, y_ev = cols["reach_evidence_n"][i], cols["reach_evidence_reached"][i]
        p = cols["p_reach"][i]
        if n_ev >= 1:
            k, m = int(round(y_ev)), int(round(n_ev))
            fr.append(
                f"joint {k} fois sur {m} le {_WEEKDAY_FR[wd]} {_part_of_day(h, 'fr')} ; "
                f"contact prévu à {hh} (joignabilité estimée {p:.0%})"
            )
            en.append(
                f"reached {k} times out of {m} on {_WEEKDAY_EN[wd]} {_part_of_day(h, 'en')}s; "
                f"contact at {hh} (estimated reach {p:.0%})"
            )
        else:
            fr.append(
                f"les débiteurs comparables répondent le mieux le {_WEEKDAY_FR[wd]} vers {hh} "
                f"(joignabilité estimée {p:.0%})"
            )
            en.append(
                f"comparable debtors answer best on {_WEEKDAY_EN[wd]} around {hh} "
                f"(estimated reach {p:.0%})"
            )
    return fr, en


def _frame(v: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns of :meth:`Policy._values` as a frame (actions categorical, times UTC)."""
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
    return np.where(np.asarray(action) == "wait", None, t)  # type: ignore[call-overload]


def installments(action: np.ndarray, open_amount: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Suggested number of monthly instalments for payment-plan offers (2 to 12).

    Sized so a monthly instalment is about 150 EUR for a consumer, 2,000 EUR for a business.
    """
    per_month = np.where(np.asarray(segment) == "B2C", 150.0, 2000.0)
    n = np.clip(np.ceil(np.asarray(open_amount, dtype=float) / per_month), 2, 12)
    return np.where(np.asarray(action) == "payment_plan_offer", n, np.nan)
