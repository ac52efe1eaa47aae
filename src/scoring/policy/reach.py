"""Reachability of a debtor by channel, weekday and time of day, learned from contact outcomes.

The ``outcome`` column of the actions log says whether a contact reached the debtor
(``reached``, ``promise_to_pay``, ``dispute_raised``, ``complaint``) or not (``not_reached``).
Two layers:

* **population**: a small LightGBM model of P(reached) by segment, action, local weekday, local
  time of day (half hours) and days-past-due bucket, tabulated on a grid once fitted;
* **the debtor's own outcomes** (the case's recent actions): a kernel-weighted beta-binomial
  update of the population's prediction. For a candidate slot ``s`` and the debtor's past
  contacts ``j`` on the same channel (e-mail, SMS, WhatsApp, voice, paper), with ``y_j`` = 1 when
  reached::

      w_j(s)  = exp(-(hour_j - hour_s)^2 / (2 sigma^2)) x (1 if same weekday else lambda)
      p(s)    = (sum_j w_j(s) y_j + m x p_population(s)) / (sum_j w_j(s) + m)

  A debtor with no history gets the population's prediction; one who answered 3 calls out of
  4 on Tuesday mornings gets a high reach on Tuesday mornings and the population's elsewhere.
  ``m`` (prior strength), ``sigma`` (hours) and ``lambda`` are chosen by held-out log-likelihood
  on the training contacts (empirical Bayes), so the data decide how much one debtor's history
  counts.

Actions whose outcomes are mostly unknown in the log get reach 1 (the value model then learns
their effect from every logged row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.calendar import NS_PER_DAY, NS_PER_MINUTE, local_days, tz_codes, utc_to_local_ns
from scoring.calendar import weekdays as weekday_of
from scoring.contract import ACTIONS, DPD_BUCKETS

REACHED = ("reached", "promise_to_pay", "dispute_raised", "complaint")
#: the channel of each action, for pooling a debtor's own outcomes
CHANNEL_GROUP: dict[str, int] = {
    "email_reminder": 0,
    "sms_reminder": 1,
    "whatsapp_reminder": 2,
    "phone_call": 3,
    "payment_plan_offer": 3,
    "dispute_review": 3,
    "letter": 4,
    "formal_notice": 4,
    "legal_escalation": 4,
}
N_GROUPS = 5
_GROUP_OF_CODE = np.array([CHANNEL_GROUP.get(a, -1) for a in ACTIONS], dtype=np.int64)
SEGMENTS = ("B2B", "B2C")
BUCKETS = DPD_BUCKETS
HALF_HOURS = 48
REACH_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 30,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 7,
    "num_threads": 0,
}
_GRID_M = (1.0, 2.0, 4.0, 8.0, 16.0)
_GRID_SIGMA = (1.0, 2.0, 4.0)
_GRID_LAMBDA = (0.25, 0.5, 1.0)


def dpd_bucket_codes(max_dpd: np.ndarray) -> np.ndarray:
    d = np.asarray(max_dpd, dtype=float)
    return np.select([d <= 0, d < 30, d < 60], [0, 1, 2], 3).astype(np.int64)


def local_slot(t_ns: np.ndarray, tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local weekday (Mon = 0) and local time of day in hours (float) of UTC instants."""
    local = utc_to_local_ns(np.asarray(t_ns, dtype=np.int64), tz)
    day = local_days(local)
    return weekday_of(day).astype(np.int64), (local - day * NS_PER_DAY) / (60 * NS_PER_MINUTE)


@dataclass
class Evidence:
    """A debtor's past contacts with a known outcome, one row each (from a case set)."""

    case: np.ndarray
    group: np.ndarray
    weekday: np.ndarray
    hour: np.ndarray
    reached: np.ndarray

    @classmethod
    def empty(cls) -> Evidence:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z.astype(float), z.astype(float))

    @classmethod
    def of(cls, cs) -> Evidence:
        acts = cs.actions
        if not len(acts):
            z = np.zeros(0, dtype=np.int64)
            return cls(z, z, z, z.astype(float), z.astype(float))
        outcome = acts["outcome"].astype("string")
        action = acts["action"].astype("string").fillna("wait").to_numpy(dtype=object)
        code = np.array([ACTIONS.index(a) if a in ACTIONS else 0 for a in action])
        t = pd.to_datetime(acts["scheduled_at"], utc=True)
        ok = outcome.notna().to_numpy() & t.notna().to_numpy() & (_GROUP_OF_CODE[code] >= 0)
        case = acts["case"].to_numpy(dtype=np.int64)[ok]
        tz = tz_codes(cs.column("cases", "department"))[case]
        wd, hr = local_slot(t[ok].dt.as_unit("ns").array.asi8, tz)
        return cls(
            case,
            _GROUP_OF_CODE[code[ok]],
            wd,
            hr,
            outcome[ok].isin(REACHED).to_numpy(dtype=float),
        )


def _kernel_sums(
    ev: Evidence,
    case: np.ndarray,
    group: np.ndarray,
    weekday: np.ndarray,
    hour: np.ndarray,
    sigma: float,
    lam: float,
    exclude_after: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each query row: sum of weights, weighted reached count, and the raw counts of the
    debtor's past contacts on that channel on the same weekday within 2 hours (for texts)."""
    n = len(case)
    sw, swy = np.zeros(n), np.zeros(n)
    near_n, near_y = np.zeros(n), np.zeros(n)
    if not len(ev.case) or not n:
        return sw, swy, near_n, near_y
    # join query rows with evidence rows of the same (case, group)
    key_q = case * N_GROUPS + group
    key_e = ev.case * N_GROUPS + ev.group
    order = np.argsort(key_e, kind="stable")
    ke = key_e[order]
    lo = np.searchsorted(ke, key_q, side="left")
    hi = np.searchsorted(ke, key_q, side="right")
    cnt = hi - lo
    if cnt.sum() == 0:
        return sw, swy, near_n, near_y
    q = np.repeat(np.arange(n), cnt)
    e = order[np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))]
    same = ev.weekday[e] == weekday[q]
    dh = ev.hour[e] - hour[q]
    w = np.exp(-0.5 * (dh / sigma) ** 2) * np.where(same, 1.0, lam)
    sw = np.bincount(q, weights=w, minlength=n)  # type: ignore[assignment]
    swy = np.bincount(q, weights=w * ev.reached[e], minlength=n)  # type: ignore[assignment]
    near = same & (np.abs(dh) <= 2.0)
    near_n = np.bincount(q, weights=near.astype(float), minlength=n)  # type: ignore[assignment]
    near_y = np.bincount(q, weights=(near * ev.reached[e]), minlength=n)  # type: ignore[assignment]
    return sw, swy, near_n, near_y


@dataclass
class ReachModel:
    """Population reach grid + the empirical-Bayes update from the debtor's own outcomes."""

    table: np.ndarray  # [segment, action, weekday, half hour, bucket] -> P(reached)
    prior_strength: float = 4.0
    sigma_hours: float = 2.0
    same_day_weight_other: float = 0.5
    known_actions: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    # -- fitting ------------------------------------------------------------------
    @classmethod
    def fit_history(cls, history) -> ReachModel:
        """:meth:`fit` on :class:`~scoring.policy.history.LoggedDecisions`."""
        return cls.fit(
            history.cases,
            history.X,
            history.log["action"].astype(str).to_numpy(),
            history.scheduled_ns(),
            history.log["outcome"],
        )

    @classmethod
    def fit(cls, cs, X, action: np.ndarray, scheduled_ns: np.ndarray, outcome) -> ReachModel:
        """Fit on logged contacts: ``cs``/``X`` the cases at each decision, ``action`` names,
        ``scheduled_ns`` int64 UTC ns, ``outcome`` the logged outcome (NA when unknown)."""
        action = np.asarray(action, dtype=object)
        out = pd.Series(outcome).astype("string")
        code = np.array([ACTIONS.index(a) for a in action])
        contact = code != 0
        known = (
            out.notna().to_numpy() & contact & (np.asarray(scheduled_ns) != np.iinfo(np.int64).min)
        )
        # actions whose outcome is known for at least half of their rows
        known_actions = tuple(
            a for a in ACTIONS[1:] if (action == a).sum() >= 20 and known[action == a].mean() >= 0.5
        )
        info: dict[str, Any] = {"known_actions": list(known_actions)}
        tz = tz_codes(cs.column("cases", "department"))
        seg = np.array(
            [SEGMENTS.index(s) if s in SEGMENTS else 0 for s in cs.column("cases", "segment")]
        )
        bucket = dpd_bucket_codes(np.asarray(X["max_days_past_due"]))
        idx = np.flatnonzero(known & np.isin(action, known_actions))
        y = out.iloc[idx].isin(REACHED).to_numpy(dtype=float)
        table = np.full((2, len(ACTIONS), 7, HALF_HOURS, 4), 1.0)
        model = cls(table, known_actions=known_actions, info=info)
        if len(idx) < 100 or y.min() == y.max():
            info["population"] = "constant"
            for a in known_actions:
                table[:, ACTIONS.index(a)] = y.mean() if len(y) else 0.5
            return model
        wd, hr = local_slot(np.asarray(scheduled_ns)[idx], tz[idx])
        F = np.column_stack([seg[idx], code[idx], wd, hr, bucket[idx]]).astype(float)
        # time order: the last fifth validates the number of rounds and the EB settings
        cut = int(len(idx) * 0.8)
        params = dict(REACH_PARAMS)
        ds = lgb.Dataset(F[:cut], y[:cut], categorical_feature=[0, 1, 4], params={"verbosity": -1})
        dv = lgb.Dataset(F[cut:], y[cut:], reference=ds, params={"verbosity": -1})
        b = lgb.train(
            params, ds, 300, valid_sets=[dv], callbacks=[lgb.early_stopping(30, verbose=False)]
        )
        best = max(b.best_iteration, 20)
        b = lgb.train(
            params, lgb.Dataset(F, y, categorical_feature=[0, 1, 4], params={"verbosity": -1}), best
        )
        grid = np.stack(
            np.meshgrid(
                range(2),
                range(len(ACTIONS)),
                range(7),
                np.arange(HALF_HOURS) / 2 + 0.25,
                range(4),
                indexing="ij",
            ),
            axis=-1,
        ).reshape(-1, 5)
        pred = b.predict(grid).reshape(table.shape)  # type: ignore[union-attr]
        for a in known_actions:
            table[:, ACTIONS.index(a)] = np.clip(pred[:, ACTIONS.index(a)], 0.005, 0.995)
        info.update(
            {"population": "lightgbm", "trees": b.num_trees(), "reach_rate": float(y.mean())}
        )

        # empirical Bayes: prior strength and kernel chosen on the validation contacts
        ev = Evidence.of(cs)
        vq = idx[cut:]
        q_pop = model.population(seg[vq], code[vq], wd[cut:], hr[cut:], bucket[vq])
        yv = y[cut:]
        best_ll, best_par = (
            -np.inf,
            (model.prior_strength, model.sigma_hours, model.same_day_weight_other),
        )
        ll_pop = _loglik(yv, q_pop)
        for sigma in _GRID_SIGMA:
            for lam in _GRID_LAMBDA:
                sw, swy, _, _ = _kernel_sums(
                    ev, vq, _GROUP_OF_CODE[code[vq]], wd[cut:], hr[cut:], sigma, lam
                )
                for m in _GRID_M:
                    p = (swy + m * q_pop) / (sw + m)
                    ll = _loglik(yv, p)
                    if ll > best_ll:
                        best_ll, best_par = ll, (m, sigma, lam)
        model.prior_strength, model.sigma_hours, model.same_day_weight_other = best_par
        info.update(
            {
                "eb_prior_strength": best_par[0],
                "eb_sigma_hours": best_par[1],
                "eb_other_day_weight": best_par[2],
                "valid_logloss_population": -ll_pop,
                "valid_logloss_debtor": -best_ll,
                "valid_contacts": int(len(yv)),
            }
        )
        return model

    # -- prediction ---------------------------------------------------------------
    def population(self, seg, code, weekday, hour, bucket) -> np.ndarray:
        hh = np.clip((np.asarray(hour, dtype=float) * 2).astype(np.int64), 0, HALF_HOURS - 1)
        return self.table[
            np.asarray(seg), np.asarray(code), np.asarray(weekday) % 7, hh, np.asarray(bucket)
        ]

    def predict(
        self,
        ev: Evidence,
        case: np.ndarray,
        seg: np.ndarray,
        code: np.ndarray,
        weekday: np.ndarray,
        hour: np.ndarray,
        bucket: np.ndarray,
        per_debtor: bool = True,
    ) -> dict[str, np.ndarray]:
        """P(reached) per query row (``seg``, ``bucket`` per row), with the evidence behind it."""
        q = self.population(seg, code, weekday, hour, bucket)
        known = np.isin(code, [ACTIONS.index(a) for a in self.known_actions])
        if not per_debtor:
            z = np.zeros(len(q))
            return {"p": np.where(known, q, 1.0), "p_population": q, "near_n": z, "near_y": z}
        sw, swy, near_n, near_y = _kernel_sums(
            ev,
            case,
            _GROUP_OF_CODE[code],
            weekday,
            hour,
            self.sigma_hours,
            self.same_day_weight_other,
        )
        m = self.prior_strength
        p = (swy + m * q) / (sw + m)
        return {
            "p": np.where(known, np.clip(p, 0.001, 0.999), 1.0),
            "p_population": q,
            "near_n": np.where(known, near_n, 0.0),
            "near_y": np.where(known, near_y, 0.0),
        }

    # -- persistence --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "table": np.round(self.table, 5).tolist(),
            "prior_strength": self.prior_strength,
            "sigma_hours": self.sigma_hours,
            "same_day_weight_other": self.same_day_weight_other,
            "known_actions": list(self.known_actions),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReachModel:
        return cls(
            np.asarray(d["table"], dtype=float),
            float(d["prior_strength"]),
            float(d["sigma_hours"]),
            float(d["same_day_weight_other"]),
            tuple(d["known_actions"]),
            d.get("info", {}),
        )


def _loglik(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
