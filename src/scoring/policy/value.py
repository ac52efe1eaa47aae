"""Legacy (format 1) action value model: kept so that policies registered before the
reach x effect design keep loading and deciding as they did. New policies use
:mod:`scoring.policy.learners` and :mod:`scoring.policy.reach`.

Action values learned from the actions log (CONTRACT §3 reward), with logged propensities.

The reward of an action is decomposed so that costs and penalties stay configuration:

    value(case, action, slot) = open_amount x paid_share(case, action, slot)
                                - cost(action)
                                - penalty_dispute x P(dispute within 14 days | case, action, slot)
                                - penalty_complaint x P(complaint within 14 days | case, action, slot)

``paid_share`` and the two probabilities are LightGBM models over the case features, the action
and the contact's local weekday, hour and lead time (an S-learner). Training rows are weighted
by the inverse of the logged propensity (clipped), so the old policy's preferences do not bias
the comparison between actions: in the weighted sample every action is, in effect, assigned at
random. A fourth model learns reachability (``reached`` vs ``not_reached``) by channel, segment,
weekday and hour from the logged outcomes; the policy uses it to pick the time of each contact.
The uplift of an action is its value minus the value of ``wait`` for the same case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.contract import ACTIONS, DPD_BUCKETS, dpd_bucket_labels
from scoring.features import (
    CATEGORICAL,
    FEATURE_BY_NAME,
    FEATURE_NAMES,
    Features,
    model_matrix,
    prepare,
)

SLOT_FEATURES = ["action", "slot_weekday", "slot_hour", "lead_hours"]
REACH_FEATURES = ["segment", "action", "slot_weekday", "slot_hour", "dpd_bucket"]
REACHED = ("reached", "promise_to_pay", "dispute_raised", "complaint")
VALUE_PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 12,
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 7,
}


def _vocab() -> dict[str, list[str]]:
    v = {c: list(FEATURE_BY_NAME[c].categories) for c in CATEGORICAL}
    v["action"] = list(ACTIONS)
    return v


def _reach_vocab() -> dict[str, list[str]]:
    return {
        "segment": ["B2B", "B2C"],
        "action": list(ACTIONS),
        "dpd_bucket": list(DPD_BUCKETS),
    }


def value_frame(X: pd.DataFrame, slots: pd.DataFrame) -> pd.DataFrame:
    """Case features joined with the candidate's action and slot features (row-aligned)."""
    out = X.reset_index(drop=True).copy()
    for c in SLOT_FEATURES:
        out[c] = slots[c].to_numpy()
    return out


def value_matrix(X: Features, slots: pd.DataFrame) -> np.ndarray:
    """The float matrix the value models see (as :func:`as_matrix` of :func:`value_frame`),
    built without copying the case features into a new frame. ``X``: the feature frame, or the
    feature arrays of :func:`scoring.features.feature_arrays` (faster)."""
    vocab = _vocab()
    cats = {c: vocab[c] for c in CATEGORICAL}
    cases = model_matrix(X, list(FEATURE_NAMES), cats)
    index = {a: i for i, a in enumerate(vocab["action"])}
    action = np.array([index.get(a, np.nan) for a in slots["action"]], dtype=np.float64)
    rest = [slots[c].to_numpy(dtype=np.float64) for c in SLOT_FEATURES if c != "action"]
    return np.column_stack([cases, action, *rest])


@dataclass
class ActionValueModel:
    """Fitted value models (see the module docstring); boosters as LightGBM text."""

    boosters: dict[str, lgb.Booster] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    reach_table: pd.DataFrame | None = None

    @property
    def feature_names(self) -> list[str]:
        return [*FEATURE_NAMES, *SLOT_FEATURES]

    # -- fitting -------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        X: pd.DataFrame,
        slots: pd.DataFrame,
        open_amount: np.ndarray,
        paid: np.ndarray,
        disputes: np.ndarray,
        complaints: np.ndarray,
        outcome: pd.Series,
        propensity: np.ndarray,
        segment: np.ndarray,
        max_weight: float = 50.0,
        rounds: int = 400,
        valid_fraction: float = 0.15,
    ) -> ActionValueModel:
        """Fit on logged decisions (rows in time order: the last ``valid_fraction`` stops early)."""
        n = len(X)
        if n < 200:
            raise ValueError(
                f"too few logged decisions with a case to learn action values ({n}, need 200)"
            )
        p = np.asarray(propensity, dtype=float)
        has_p = np.isfinite(p) & (p > 0)
        w = np.where(has_p, 1.0 / np.where(has_p, p, 1.0), 1.0)
        w = np.minimum(w, max_weight)
        w = w / w.mean()
        F = prepare(value_frame(X, slots), [*FEATURE_NAMES, *SLOT_FEATURES], _vocab())
        amount = np.asarray(open_amount, dtype=float)
        share = np.clip(np.asarray(paid, dtype=float) / np.where(amount > 0, amount, 1.0), 0.0, 1.0)
        targets = {
            "paid_share": (share, "cross_entropy"),
            "dispute": ((np.asarray(disputes) > 0).astype(float), "binary"),
            "complaint": ((np.asarray(complaints) > 0).astype(float), "binary"),
        }
        cut = int(n * (1 - valid_fraction))
        boosters: dict[str, lgb.Booster] = {}
        info: dict[str, Any] = {
            "n_decisions": n,
            "share_with_propensity": float(has_p.mean()),
            "max_weight": max_weight,
        }
        cat = [c for c in F.columns if isinstance(F[c].dtype, pd.CategoricalDtype)]
        for key, (y, objective) in targets.items():
            if y[:cut].min() == y[:cut].max():
                # a constant target (e.g. no complaint ever): predict that constant
                info[f"{key}_constant"] = float(y[:cut].mean())
                continue
            params = {**VALUE_PARAMS, "objective": objective}
            dtrain = lgb.Dataset(
                F.iloc[:cut],
                y[:cut],
                weight=w[:cut],
                categorical_feature=cat,
                params={"verbosity": -1},
            )
            dvalid = lgb.Dataset(
                F.iloc[cut:], y[cut:], weight=w[cut:], reference=dtrain, params={"verbosity": -1}
            )
            b = lgb.train(
                params,
                dtrain,
                rounds,
                valid_sets=[dvalid],
                callbacks=[lgb.early_stopping(40, verbose=False)],
            )
            boosters[key] = lgb.Booster(model_str=b.model_to_string(num_iteration=b.best_iteration))
            info[f"{key}_trees"] = boosters[key].num_trees()

        # reachability by channel, segment, weekday, hour and days-past-due bucket
        out = pd.Series(outcome).astype("string")
        known = out.notna().to_numpy() & (slots["action"].to_numpy() != "wait")
        R = pd.DataFrame(
            {
                "segment": np.asarray(segment)[known],
                "action": slots["action"].to_numpy()[known],
                "slot_weekday": slots["slot_weekday"].to_numpy()[known],
                "slot_hour": slots["slot_hour"].to_numpy()[known],
                "dpd_bucket": dpd_bucket_labels(X["max_days_past_due"].to_numpy()[known]),
            }
        )
        yr = out[known].isin(REACHED).to_numpy().astype(float)
        if len(yr) >= 100 and 0 < yr.mean() < 1:
            Rp = prepare(R, REACH_FEATURES, _reach_vocab())
            params = {
                **VALUE_PARAMS,
                "objective": "binary",
                "num_leaves": 15,
                "min_child_samples": 30,
            }
            rb = lgb.train(params, lgb.Dataset(Rp, yr, params={"verbosity": -1}), 200)
            boosters["reach"] = rb
            info["reach_rate"] = float(yr.mean())
        model = cls(boosters, info)
        model.reach_table = model._reach_grid()
        return model

    def _reach_grid(self) -> pd.DataFrame:
        """P(reached) for every (segment, action, weekday, hour, bucket) of a slot grid."""
        grid = pd.MultiIndex.from_product(
            [
                ["B2B", "B2C"],
                list(ACTIONS[1:]),
                range(7),
                range(24),
                list(DPD_BUCKETS),
            ],
            names=REACH_FEATURES,
        ).to_frame(index=False)
        if "reach" in self.boosters:
            grid["p_reach"] = self.boosters["reach"].predict(
                prepare(grid, REACH_FEATURES, _reach_vocab())
            )
        else:
            grid["p_reach"] = 0.5
        return grid

    # -- prediction ----------------------------------------------------------------
    def predict(
        self,
        X: pd.DataFrame | Mapping[str, np.ndarray],
        slots: pd.DataFrame,
        num_threads: int = 0,
    ) -> pd.DataFrame:
        """paid_share, p_dispute, p_complaint for row-aligned (case features, slot) pairs."""
        F = value_matrix(X, slots)

        def pred(key: str) -> np.ndarray:
            if key in self.boosters:
                return self.boosters[key].predict(F, num_threads=num_threads)  # type: ignore[return-value]
            return np.full(len(F), float(self.info.get(f"{key}_constant", 0.0)))

        return pd.DataFrame(
            {
                "paid_share": np.clip(pred("paid_share"), 0.0, 1.0),
                "p_dispute": pred("dispute"),
                "p_complaint": pred("complaint"),
            }
        )

    def reach(self, segment, action, weekday, hour, max_dpd) -> np.ndarray:
        """P(reached) looked up in the precomputed grid (vectorised)."""
        t = self.reach_table
        seg = pd.Categorical(segment, categories=["B2B", "B2C"]).codes
        act = pd.Categorical(action, categories=list(ACTIONS[1:])).codes
        bucket = pd.Categorical(dpd_bucket_labels(max_dpd), categories=list(DPD_BUCKETS)).codes
        wd = np.asarray(weekday, dtype=int) % 7
        hr = np.clip(np.asarray(hour, dtype=int), 0, 23)
        idx = (((seg * (len(ACTIONS) - 1) + act) * 7 + wd) * 24 + hr) * 4 + bucket
        valid = (seg >= 0) & (act >= 0)
        out = np.full(len(idx), 0.5)
        out[valid] = t["p_reach"].to_numpy()[idx[valid]]  # type: ignore[index]
        return out

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "boosters": {k: b.model_to_string() for k, b in self.boosters.items()},
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionValueModel:
        m = cls({k: lgb.Booster(model_str=s) for k, s in d["boosters"].items()}, d.get("info", {}))
        m.reach_table = m._reach_grid()
        return m


def legacy_values(policy, cs, X, case, act, t, mask, review, num_threads: int = 0) -> dict:
    """How policies registered before format 2 price candidates (their slot features and
    reach grid), so that registered versions keep deciding as they did."""
    from scoring.calendar import NS_PER_DAY, local_days, tz_codes, utc_to_local_ns, weekdays
    from scoring.contract import ACTIONS
    from scoring.policy.rules import WAIT

    NS_PER_HOUR = 3_600 * 10**9
    cfg = policy.config
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
        policy.legacy_.reach(
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
    pred = policy.legacy_.predict(
        {k: np.asarray(v)[case] for k, v in X.items()}
        if not isinstance(X, pd.DataFrame)
        else X.iloc[case].reset_index(drop=True),
        slots,
        num_threads=num_threads,
    )
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
