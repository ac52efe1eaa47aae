"""Scoring logic shared by batch decisions and the HTTP API (knows nothing about HTTP).

A :class:`Bundle` is the set of models in use (default risk, dispute risk, policy) with their
registry versions. :func:`score_cases` and :func:`decide_cases` take a :class:`CaseSet` and
return plain dictionaries/frames; the API and ``scoring batch`` format them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.cases import CaseSet
from scoring.explain import Reason, top_reasons
from scoring.features import feature_arrays, frame, model_matrix, unknown_values
from scoring.models.risk import RiskModel
from scoring.policy.recommend import Policy, Recommendations
from scoring.presentation import local_iso, reason_line, risk_grade


@dataclass
class Bundle:
    """The models a service or batch run uses, loaded once.

    A model can be missing (a data set on which it could not be trained, e.g. no default in
    the history): it is ``None`` here, and ``missing`` says why. Everything else is served.
    """

    default_risk: RiskModel | None
    dispute_risk: RiskModel | None
    policy: Policy | None = None
    versions: dict[str, int | None] = field(default_factory=dict)
    alias: str = "local"
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def risk_models(self) -> dict[str, RiskModel]:
        """The risk models present, by key (a missing one is left out)."""
        models = {"default_risk": self.default_risk, "dispute_risk": self.dispute_risk}
        return {k: m for k, m in models.items() if m is not None}

    @classmethod
    def from_registry(
        cls, alias: str = "champion", require_policy: bool = True, require_risk: bool = True
    ) -> Bundle:
        """Load ``NAME@alias`` of every model from the MLflow registry.

        With ``require_policy`` / ``require_risk`` false, a model without a version under the
        alias is left out and recorded in ``missing`` with the reason training gave (the
        ``not_trained.*`` tag of the run that trained the others); at least one model must
        load.
        """
        import logging

        from scoring import registry

        loaded: dict[str, registry.LoadedModel] = {}
        errors: dict[str, Exception] = {}
        for key in registry.ALL_MODELS:
            try:
                loaded[key] = registry.resolve(key, alias)
            except Exception as exc:  # noqa: BLE001 - reported below or re-raised
                errors[key] = exc
        for key, error in errors.items():
            required = require_policy if key == "policy" else require_risk
            if required or not loaded:
                raise error
        missing = {k: _why_missing(k, alias, errors[k], loaded.values()) for k in errors}
        for key, why in missing.items():
            logging.getLogger(__name__).warning("%s is not served: %s", key, why)
        risk = {
            k: RiskModel.load(loaded[k].path) if k in loaded else None for k in registry.RISK_MODELS
        }
        return cls(
            risk["default_risk"],
            risk["dispute_risk"],
            Policy.load(loaded["policy"].path) if "policy" in loaded else None,
            {k: (loaded[k].version if k in loaded else None) for k in registry.ALL_MODELS},
            alias,
            {k: v.tags for k, v in loaded.items()},
            missing,
        )

    def model_versions(self) -> dict[str, str]:
        return {k: f"{v}" for k, v in self.versions.items() if v is not None}


def _why_missing(key: str, alias: str, exc: Exception, loaded) -> str:
    """Why ``key`` has no model under ``alias``: the training run's ``not_trained`` tag when
    the run that trained the other models recorded one, else the registry's answer."""
    from scoring import registry

    why = registry.not_trained_reason(key, loaded)
    if why:
        return f"not trained on this data set: {why}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"no version under alias {alias!r} ({text})"


class Scores:
    """Scores and explanations of a CaseSet (row-aligned with its cases).

    ``X`` (the feature frame) is built on first use from the feature arrays: answering
    ``/score`` never needs it.
    """

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        probability: dict[str, np.ndarray],
        contributions: dict[str, np.ndarray],
        base: dict[str, np.ndarray],
        unknown: list[list[str]],
    ) -> None:
        self.arrays = arrays
        self.probability = probability
        self.contributions = contributions
        self.base = base
        self.unknown = unknown
        self._X: pd.DataFrame | None = None

    @property
    def X(self) -> pd.DataFrame:
        if self._X is None:
            self._X = frame(self.arrays)
        return self._X

    def reasons(self, bundle: Bundle, key: str, k: int, lang: str) -> list[list[Reason]]:
        model = bundle.risk_models[key]
        return top_reasons(
            key, self.contributions[key], self.arrays, model.feature_names, k=k, lang=lang
        )


def score_cases(bundle: Bundle, cs: CaseSet, num_threads: int = 0) -> Scores:
    """Calibrated probabilities and exact TreeSHAP contributions for both risk models."""
    arrays = feature_arrays(cs)
    prob, contrib, base = {}, {}, {}
    for key, model in bundle.risk_models.items():
        M = model_matrix(arrays, model.feature_names, model.vocab)
        prob[key], contrib[key], base[key] = model.predict_with_contributions(
            M, num_threads=num_threads
        )
    return Scores(arrays, prob, contrib, base, unknown_values(cs))


@dataclass
class Decided:
    """Scores and recommendations of a :class:`CaseSet` (row-aligned): what both the batch
    output and the API's ``/next-action`` answers are formatted from."""

    scores: Scores
    recommendations: Recommendations


def decide_cases(
    bundle: Bundle, cs: CaseSet, explore: bool = True, num_threads: int = 0
) -> Decided:
    """Scores, explanations and the recommended action of every case: the one decision path
    of the batch and the API (a ``ValueError`` when the bundle has no policy)."""
    if bundle.policy is None:
        why = bundle.missing.get("policy", "train one with `scoring train`")
        raise ValueError(f"the models in use have no policy model ({why})")
    s = score_cases(bundle, cs, num_threads=num_threads)
    rec = bundle.policy.recommend(cs, s.arrays, explore=explore, num_threads=num_threads)
    return Decided(s, rec)


def batch_decisions(
    bundle: Bundle,
    cs: CaseSet,
    lang: str = "fr",
    explore: bool = True,
    k_reasons: int = 3,
    num_threads: int = 0,
) -> pd.DataFrame:
    """One row per case with the CONTRACT §5 batch columns (and a few more)."""
    d = decide_cases(bundle, cs, explore=explore, num_threads=num_threads)
    s, decisions = d.scores, d.recommendations.decisions
    texts = reason_lines(bundle, s, lang, k_reasons)
    nan = np.full(len(cs), np.nan)
    p_default = s.probability.get("default_risk", nan)
    out = pd.DataFrame(
        {
            "debtor_id": cs.cases["debtor_id"].astype(str).to_numpy(),
            "as_of": cs.cases["as_of"].to_numpy(),
            "default_probability": p_default,
            "dispute_probability": s.probability.get("dispute_risk", nan),
            "risk_grade": risk_grade(p_default) if "default_risk" in s.probability else None,
            "action": decisions["action"].to_numpy(),
            "scheduled_at": local_iso(decisions["scheduled_at"], cs.cases["department"].to_numpy()),
            "expected_value": decisions["expected_value"].to_numpy(),
            "uplift_vs_wait": decisions["uplift"].to_numpy(),
            "propensity": decisions["propensity"].to_numpy(),
            "requires_review": decisions["requires_review"].to_numpy(dtype=bool),
            "timing_reason": decisions[f"timing_reason_{lang}"].to_numpy()
            if f"timing_reason_{lang}" in decisions
            else None,
            "tone": decisions["tone"].to_numpy(),
            "installments": decisions["installments"].to_numpy(),
            "reasons": texts,
            "model_versions": ";".join(f"{k}={v}" for k, v in bundle.model_versions().items()),
        }
    )
    return out


def reason_lines(bundle: Bundle, s: Scores, lang: str, k: int) -> list[str]:
    """:func:`reason_line` of every case of ``s``."""
    per = {key: s.reasons(bundle, key, k, lang) for key in bundle.risk_models}
    n = len(next(iter(s.arrays.values()))) if s.arrays else 0
    return [reason_line({key: r[i] for key, r in per.items()}, lang) for i in range(n)]
