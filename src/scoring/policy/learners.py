"""Effect learners: the value of each action *when it reaches the debtor*, and of waiting.

The policy prices a contact as ``P(reach) x value-if-reached + (1 - P(reach)) x
value-if-not-reached`` (:mod:`scoring.policy.recommend`). The learners here estimate, per case,
the three parts of the CONTRACT §3 reward for each *arm*:

* arm ``wait`` (code 0): learned from the logged ``wait`` decisions;
* arm ``a`` (a contact action): learned from the logged contacts of ``a`` that reached the
  debtor (the log's ``outcome``; actions without known outcomes use all their rows).

Targets: the share of the open amount paid within 14 days, a dispute raised within 14 days,
a complaint within 14 days. Rows are weighted by the inverse of their logged propensity
(clipped), so the old policy's preferences do not bias the comparison between arms.

Learners (chosen per data set by off-policy validation, :mod:`scoring.policy.select`):

* ``s``: one LightGBM model per target over the case features, the arm and the contact's lead
  time (an S-learner);
* ``s_bagged``: the mean of four S-learners, each fitted on a random 70 % of the debtors
  (less variance for rarely explored arms);
* ``t``: one model per arm and target (a T-learner); arms with few rows borrow the S-learner;
* ``dr``: a doubly robust learner (Kennedy's DR-learner): cross-fitted S-learner outcome
  models and the logged propensities (times the reach probability for contact arms) give a
  doubly robust pseudo-outcome of every arm for every row; the effect of each arm against
  ``wait`` is then a LightGBM regression of the pseudo-outcome difference on the case
  features. Dispute and complaint effects use the same machinery;
* ``ensemble``: the mean of ``s`` and ``t`` (their errors on rarely explored arms are partly
  independent, so their mean varies less than either).

A contact that does not reach the debtor is valued as ``wait`` plus a per-action shift
(shrunk toward zero) estimated from the not-reached rows: an unanswered call changes nothing,
a registered letter may.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from scoring.contract import ACTIONS
from scoring.features import CATEGORICAL, FEATURE_NAMES

N_ARMS = len(ACTIONS)
TARGETS = ("share", "dispute", "complaint")
LEARNERS = ("s", "s_bagged", "t", "dr", "ensemble")
#: the members of the ``ensemble`` learner
ENSEMBLE_MEMBERS = ("s", "t")
CAT_IDX = [FEATURE_NAMES.index(c) for c in CATEGORICAL]
ARM_COL = len(FEATURE_NAMES)  # S-learner matrix: case features, arm, lead days
BASE_PARAMS = {
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 12,
    "max_bin": 63,
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
    "seed": 7,
    "num_threads": 0,
}
OBJECTIVE = {"share": "cross_entropy", "dispute": "binary", "complaint": "binary"}
MAX_ROUNDS = 300
#: the S- and T-learners' trees: few explored rows per arm make their estimates noisy, and the
#: policy takes the best of several noisy estimates, so the trees are kept small and shrunk
#: (measured on seven scenario worlds and confirmed on a second draw: docs/policy.md)
REGULARISED = {
    "min_child_samples": 200,
    "lambda_l2": 10.0,
    "num_leaves": 15,
    "learning_rate": 0.05,
}
#: inverse-propensity weights of the S- and T-learners are clipped here (the DR-learner keeps
#: ``ArmData.max_weight`` for its pseudo-outcomes): less variance for a little bias
WEIGHT_CLIP = 10.0
MIN_ARM_ROWS = 300
NOT_REACHED_PRIOR = 50.0


@dataclass
class ArmData:
    """Training rows of the effect learners (row-aligned arrays)."""

    M: np.ndarray  # case feature matrix (float, categorical codes)
    arm: np.ndarray  # action code of the logged decision
    lead: np.ndarray  # days from decision to contact (NaN for wait)
    reached: np.ndarray  # bool: the contact reached the debtor (wait: True)
    y: dict[str, np.ndarray]  # share, dispute, complaint
    propensity: np.ndarray  # logged propensity (NaN when unknown)
    p_reach: np.ndarray  # estimated reach probability at the logged slot (wait: 1)
    group: np.ndarray  # debtor id codes (folds and bootstrap by debtor)
    max_weight: float = 50.0

    @property
    def weight(self) -> np.ndarray:
        return self.weights(self.max_weight)

    def weights(self, clip: float) -> np.ndarray:
        """Inverse logged propensities clipped at ``clip``, normalised to mean 1."""
        p = np.asarray(self.propensity, dtype=float)
        ok = np.isfinite(p) & (p > 0)
        w = np.minimum(np.where(ok, 1.0 / np.where(ok, p, 1.0), 1.0), clip)
        return w / w.mean()

    def take(self, idx: np.ndarray) -> ArmData:
        return ArmData(
            self.M[idx],
            self.arm[idx],
            self.lead[idx],
            self.reached[idx],
            {k: v[idx] for k, v in self.y.items()},
            self.propensity[idx],
            self.p_reach[idx],
            self.group[idx],
            self.max_weight,
        )


def s_matrix(M: np.ndarray, arm: np.ndarray, lead: np.ndarray) -> np.ndarray:
    return np.column_stack([M, np.asarray(arm, dtype=float), np.asarray(lead, dtype=float)])


def _train(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    objective: str,
    cat: list[int],
    params: dict | None = None,
    rounds: int = MAX_ROUNDS,
) -> lgb.Booster | float:
    """LightGBM with early stopping on the last 15 % of the rows (time order); a constant
    target gives its mean."""
    if len(y) == 0:
        return 0.0
    if y.min() == y.max() or len(y) < 50:
        return float(np.average(y, weights=w)) if len(y) else 0.0
    p = {**BASE_PARAMS, **(params or {}), "objective": objective}
    cut = int(len(y) * 0.85)
    ds = lgb.Dataset(
        X[:cut], y[:cut], weight=w[:cut], categorical_feature=cat, params={"verbosity": -1}
    )
    dv = lgb.Dataset(X[cut:], y[cut:], weight=w[cut:], reference=ds, params={"verbosity": -1})
    b = lgb.train(p, ds, rounds, valid_sets=[dv], callbacks=[lgb.early_stopping(30, verbose=False)])
    return lgb.Booster(model_str=b.model_to_string(num_iteration=max(b.best_iteration, 1)))


def _predict(m: lgb.Booster | float, X: np.ndarray, num_threads: int = 0) -> np.ndarray:
    if isinstance(m, lgb.Booster):
        return m.predict(X, num_threads=num_threads)  # type: ignore[return-value]
    return np.full(len(X), float(m))


def _dump(m: lgb.Booster | float) -> str | float:
    return m.model_to_string() if isinstance(m, lgb.Booster) else float(m)


def _load(v: str | float) -> lgb.Booster | float:
    return lgb.Booster(model_str=v) if isinstance(v, str) else float(v)


def arm_rows(d: ArmData) -> np.ndarray:
    """Rows that inform an arm's value-if-reached: wait rows and contacts that reached."""
    return np.flatnonzero((d.arm == 0) | d.reached)


@dataclass
class EffectModel:
    """Base: value-if-reached per arm and the not-reached shifts. Subclasses fit ``models``."""

    name: str = "s"
    models: dict[str, Any] = field(default_factory=dict)
    not_reached: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # -- fitting ------------------------------------------------------------------
    def fit(self, d: ArmData) -> EffectModel:
        self._fit(d)
        self._fit_not_reached(d)
        return self

    def _fit(self, d: ArmData) -> None:
        raise NotImplementedError

    def _fit_not_reached(self, d: ArmData) -> None:
        """Per action, the weighted mean residual of not-reached contacts against ``wait``,
        shrunk toward zero (a prior of NOT_REACHED_PRIOR rows)."""
        idx = np.flatnonzero((d.arm != 0) & ~d.reached)
        shifts = {k: [0.0] * N_ARMS for k in TARGETS}
        if len(idx):
            base = self.predict(d.M[idx], np.zeros(len(idx), dtype=np.int64), d.lead[idx])
            w = d.weight[idx]
            for k in TARGETS:
                r = d.y[k][idx] - base[k]
                num = np.bincount(d.arm[idx], weights=w * r, minlength=N_ARMS)
                den = np.bincount(d.arm[idx], weights=w, minlength=N_ARMS)
                cnt = np.bincount(d.arm[idx], minlength=N_ARMS)
                scale = np.where(cnt > 0, den / np.maximum(cnt, 1), 1.0)
                shifts[k] = (num / (den + NOT_REACHED_PRIOR * scale)).tolist()
        self.not_reached = shifts

    # -- prediction ---------------------------------------------------------------
    def predict(
        self, M: np.ndarray, arm: np.ndarray, lead: np.ndarray, num_threads: int = 0
    ) -> dict[str, np.ndarray]:
        """share, dispute, complaint of each row's arm if it reaches the debtor."""
        raise NotImplementedError

    def predict_not_reached(
        self, wait: dict[str, np.ndarray], arm: np.ndarray
    ) -> dict[str, np.ndarray]:
        return {k: wait[k] + np.asarray(self.not_reached[k])[arm] for k in TARGETS}

    # -- persistence --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def dump(v):
            if isinstance(v, dict):
                return {k: dump(x) for k, x in v.items()}
            if isinstance(v, list):
                return [dump(x) for x in v]
            return _dump(v)

        return {
            "name": self.name,
            "models": dump(self.models),
            "not_reached": self.not_reached,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EffectModel:
        def load(v):
            if isinstance(v, dict):
                return {k: load(x) for k, x in v.items()}
            if isinstance(v, list):
                return [load(x) for x in v]
            return _load(v)

        kind = LEARNER_CLASSES[d["name"]]
        if kind.from_dict.__func__ is not EffectModel.from_dict.__func__:  # type: ignore[attr-defined]
            return kind.from_dict(d)
        return kind(d["name"], load(d["models"]), d["not_reached"], d.get("info", {}))


def _clip(k: str, v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0.0, 1.0)


class SLearner(EffectModel):
    """One model per target over case features + arm + lead time."""

    def _fit(self, d: ArmData) -> None:
        self.models = fit_s(d, arm_rows(d), REGULARISED, WEIGHT_CLIP)
        self.info["rows"] = int(len(arm_rows(d)))

    def predict(self, M, arm, lead, num_threads=0):
        X = s_matrix(M, arm, lead)
        return {k: _clip(k, _predict(self.models[k], X, num_threads)) for k in TARGETS}


def fit_s(
    d: ArmData, rows: np.ndarray, params: dict | None = None, clip: float | None = None
) -> dict[str, Any]:
    """One model per target over case features + arm + lead (weights clipped at ``clip``,
    default ``d.max_weight``)."""
    X = s_matrix(d.M[rows], d.arm[rows], d.lead[rows])
    w = d.weights(d.max_weight if clip is None else clip)[rows]
    return {
        k: _train(X, d.y[k][rows], w, OBJECTIVE[k], [*CAT_IDX, ARM_COL], params) for k in TARGETS
    }


class BaggedSLearner(EffectModel):
    """The mean of ``K`` S-learners, each on a random 70 % of the debtors."""

    K = 4

    def _fit(self, d: ArmData) -> None:
        rows = arm_rows(d)
        groups = np.unique(d.group[rows])
        bags = []
        for k in range(self.K):
            # subsampling 70 % of debtors without replacement ("subagging"): as variance-reducing
            # as the bootstrap for trees, with no duplicated rows
            rng = np.random.default_rng(100 + k)
            keep = rng.random(len(groups)) < 0.7
            idx = rows[keep[np.searchsorted(groups, d.group[rows])]]
            bags.append(
                fit_s(d, idx, {**REGULARISED, "seed": 7 + k, "bagging_seed": 11 + k}, WEIGHT_CLIP)
            )
        self.models = {"bags": bags}
        self.info["bags"] = self.K

    def predict(self, M, arm, lead, num_threads=0):
        X = s_matrix(M, arm, lead)
        out = {k: np.zeros(len(X)) for k in TARGETS}
        for bag in self.models["bags"]:
            for k in TARGETS:
                out[k] += _predict(bag[k], X, num_threads) / len(self.models["bags"])
        return {k: _clip(k, v) for k, v in out.items()}


class TLearner(EffectModel):
    """One model per arm and target; arms with fewer than MIN_ARM_ROWS rows use an S-learner."""

    def _fit(self, d: ArmData) -> None:
        rows = arm_rows(d)
        w = d.weights(WEIGHT_CLIP)
        per_arm: dict[str, dict[str, Any]] = {}
        for a in range(N_ARMS):
            idx = rows[d.arm[rows] == a]
            if len(idx) < MIN_ARM_ROWS:
                continue
            X = np.column_stack([d.M[idx], d.lead[idx]])
            per_arm[str(a)] = {
                k: _train(X, d.y[k][idx], w[idx], OBJECTIVE[k], CAT_IDX, REGULARISED)
                for k in TARGETS
            }
        self.models = {"arms": per_arm, "s": fit_s(d, rows, REGULARISED, WEIGHT_CLIP)}
        self.info["arms_with_own_model"] = sorted(int(a) for a in per_arm)

    def predict(self, M, arm, lead, num_threads=0):
        arm = np.asarray(arm)
        out = {k: np.zeros(len(M)) for k in TARGETS}
        fallback = np.ones(len(M), dtype=bool)
        for a, models in self.models["arms"].items():
            idx = np.flatnonzero(arm == int(a))
            if not len(idx):
                continue
            X = np.column_stack([M[idx], np.asarray(lead)[idx]])
            for k in TARGETS:
                out[k][idx] = _predict(models[k], X, num_threads)
            fallback[idx] = False
        if fallback.any():
            idx = np.flatnonzero(fallback)
            X = s_matrix(M[idx], arm[idx], np.asarray(lead)[idx])
            for k in TARGETS:
                out[k][idx] = _predict(self.models["s"][k], X, num_threads)
        return {k: _clip(k, v) for k, v in out.items()}


class DRLearner(EffectModel):
    """Doubly robust effects of each arm against ``wait`` (see the module docstring).

    Outcome models: S-learners cross-fitted on two folds of debtors. Pseudo-outcome of arm
    ``a`` for row ``i``: ``mu_a(x_i) + 1[arm_i = a, reached_i] / e_i x (y_i - mu_a(x_i))`` with
    ``e_i`` = logged propensity x estimated reach (clipped at ``1 / max_weight``). The effect
    model of ``a`` regresses ``Gamma_a - Gamma_wait`` on the case features (heavily
    regularised: pseudo-outcomes are noisy). Lead time enters through the S-learner's lead
    adjustment.
    """

    CATE_PARAMS = {
        "num_leaves": 15,
        "min_child_samples": 200,
        "lambda_l2": 10.0,
        "learning_rate": 0.1,
        "feature_fraction": 0.6,
    }
    CATE_ROUNDS = 150

    def _fit(self, d: ArmData) -> None:
        rows = arm_rows(d)
        n = len(d.arm)
        fold = (np.asarray(d.group) * 2654435761 % 2**32) % 2
        mu = {k: np.zeros((n, N_ARMS)) for k in TARGETS}
        for f in (0, 1):
            fit_rows = rows[fold[rows] != f]
            models = fit_s(d, fit_rows)
            pred_rows = np.flatnonzero(fold == f)
            for a in range(N_ARMS):
                lead = np.where(a == 0, np.nan, _typical_lead(d))
                X = s_matrix(
                    d.M[pred_rows], np.full(len(pred_rows), a), np.full(len(pred_rows), lead)
                )
                for k in TARGETS:
                    mu[k][pred_rows, a] = _predict(models[k], X)
        s_full = fit_s(d, rows)
        e = np.asarray(d.propensity, dtype=float) * np.where(d.arm == 0, 1.0, d.p_reach)
        e = np.where(np.isfinite(e) & (e > 0), e, 1.0)
        inv = np.minimum(1.0 / np.maximum(e, 1e-9), d.max_weight)
        hit = (d.arm == 0) | d.reached
        effects: dict[str, dict[str, Any]] = {}
        Xc = d.M
        for k in TARGETS:
            y = d.y[k]
            resid = np.where(hit, (y - mu[k][np.arange(n), d.arm]) * inv, 0.0)
            gamma_wait = mu[k][:, 0] + np.where(d.arm == 0, resid, 0.0)
            per: dict[str, Any] = {}
            for a in range(1, N_ARMS):
                if (hit & (d.arm == a)).sum() < MIN_ARM_ROWS // 3:
                    continue
                gamma_a = mu[k][:, a] + np.where(d.arm == a, resid, 0.0)
                diff = gamma_a - gamma_wait
                per[str(a)] = _train(
                    Xc, diff, np.ones(n), "regression", CAT_IDX, self.CATE_PARAMS, self.CATE_ROUNDS
                )
            effects[k] = per
        self.models = {"s": s_full, "effects": effects, "typical_lead": _typical_lead(d)}
        self.info["arms_with_effect_model"] = sorted(int(a) for a in effects["share"])

    def predict(self, M, arm, lead, num_threads=0):
        arm = np.asarray(arm)
        lead = np.asarray(lead, dtype=float)
        s = self.models["s"]
        wait = {
            k: _predict(s[k], s_matrix(M, np.zeros(len(M)), np.full(len(M), np.nan)), num_threads)
            for k in TARGETS
        }
        out = {k: wait[k].copy() for k in TARGETS}
        contact = np.flatnonzero(arm != 0)
        if len(contact):
            Ms, a_s, l_s = M[contact], arm[contact], lead[contact]
            at = s_matrix(Ms, a_s, l_s)
            typ = s_matrix(Ms, a_s, np.full(len(contact), self.models["typical_lead"]))
            for k in TARGETS:
                lead_adj = _predict(s[k], at, num_threads) - _predict(s[k], typ, num_threads)
                eff = np.zeros(len(contact))
                fallback = np.ones(len(contact), dtype=bool)
                for a, m in self.models["effects"][k].items():
                    idx = np.flatnonzero(a_s == int(a))
                    if len(idx):
                        eff[idx] = _predict(m, Ms[idx], num_threads)
                        fallback[idx] = False
                if fallback.any():
                    idx = np.flatnonzero(fallback)
                    eff[idx] = _predict(s[k], typ[idx], num_threads) - wait[k][contact[idx]]
                out[k][contact] = wait[k][contact] + eff + lead_adj
        return {k: _clip(k, v) for k, v in out.items()}


class EnsembleLearner(EffectModel):
    """The mean prediction of :data:`ENSEMBLE_MEMBERS` (and of their not-reached shifts).

    ``from_members`` builds it from learners already fitted on the same rows (the selection
    fits every candidate anyway)."""

    def _fit(self, d: ArmData) -> None:
        self.models = {"members": [make_learner(m).fit(d) for m in ENSEMBLE_MEMBERS]}
        self.info["members"] = list(ENSEMBLE_MEMBERS)

    def fit(self, d: ArmData) -> EffectModel:
        self._fit(d)
        self._average_not_reached()
        return self

    @classmethod
    def from_members(cls, members: list[EffectModel]) -> EnsembleLearner:
        e = cls("ensemble", {"members": list(members)}, {}, {"members": [m.name for m in members]})
        e._average_not_reached()
        return e

    def _average_not_reached(self) -> None:
        ms = self.models["members"]
        self.not_reached = {
            k: np.mean([m.not_reached[k] for m in ms], axis=0).tolist() for k in TARGETS
        }

    def predict(self, M, arm, lead, num_threads=0):
        ms = self.models["members"]
        preds = [m.predict(M, arm, lead, num_threads) for m in ms]
        return {k: np.mean([p[k] for p in preds], axis=0) for k in TARGETS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "models": {"members": [m.to_dict() for m in self.models["members"]]},
            "not_reached": self.not_reached,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnsembleLearner:
        members = [EffectModel.from_dict(m) for m in d["models"]["members"]]
        return cls(d["name"], {"members": members}, d["not_reached"], d.get("info", {}))


def _typical_lead(d: ArmData) -> float:
    lead = d.lead[np.isfinite(d.lead)]
    return float(np.median(lead)) if len(lead) else 1.0


LEARNER_CLASSES: dict[str, type[EffectModel]] = {
    "s": SLearner,
    "s_bagged": BaggedSLearner,
    "t": TLearner,
    "dr": DRLearner,
    "ensemble": EnsembleLearner,
}


def make_learner(name: str) -> EffectModel:
    if name not in LEARNER_CLASSES:
        raise ValueError(f"unknown learner {name!r}; choose among {sorted(LEARNER_CLASSES)}")
    return LEARNER_CLASSES[name](name)
