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
from scoring.explain import Reason, reasons_summary, top_reasons
from scoring.features import feature_arrays, feature_matrix, frame, unknown_values
from scoring.models.risk import RiskModel
from scoring.policy.recommend import Policy

#: Risk grades by calibrated default probability (upper bounds).
GRADES = (("A", 0.02), ("B", 0.05), ("C", 0.15), ("D", 0.35), ("E", 1.01))


def risk_grade(p: np.ndarray) -> np.ndarray:
    bounds = np.array([b for _, b in GRADES])
    letters = np.array([g for g, _ in GRADES])
    return letters[
        np.searchsorted(bounds, np.asarray(p, dtype=float), side="right").clip(0, len(GRADES) - 1)
    ]


@dataclass
class Bundle:
    """The models a service or batch run uses, loaded once."""

    default_risk: RiskModel
    dispute_risk: RiskModel
    policy: Policy | None = None
    versions: dict[str, int | None] = field(default_factory=dict)
    alias: str = "local"
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def risk_models(self) -> dict[str, RiskModel]:
        return {"default_risk": self.default_risk, "dispute_risk": self.dispute_risk}

    @classmethod
    def from_registry(cls, alias: str = "champion", require_policy: bool = True) -> Bundle:
        """Load ``NAME@alias`` of every model from the MLflow registry."""
        from scoring import registry

        loaded = {k: registry.resolve(k, alias) for k in registry.RISK_MODELS}
        policy = None
        versions = {k: v.version for k, v in loaded.items()}
        tags = {k: v.tags for k, v in loaded.items()}
        try:
            pl = registry.resolve("policy", alias)
            policy = Policy.load(pl.path)
            versions["policy"], tags["policy"] = pl.version, pl.tags
        except Exception as exc:
            if require_policy:
                raise
            import logging

            logging.getLogger(__name__).warning(
                "no policy model under alias %r (%s): /next-action is unavailable", alias, exc
            )
        return cls(
            RiskModel.load(loaded["default_risk"].path),
            RiskModel.load(loaded["dispute_risk"].path),
            policy,
            versions,
            alias,
            tags,
        )

    def model_versions(self) -> dict[str, str]:
        return {k: f"{v}" for k, v in self.versions.items() if v is not None}


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
        M = feature_matrix(arrays, model.feature_names, model.vocab)
        prob[key], contrib[key], base[key] = model.predict_with_contributions(
            frame(arrays) if M is None else M, num_threads=num_threads
        )
    return Scores(arrays, prob, contrib, base, unknown_values(cs))


def batch_decisions(
    bundle: Bundle,
    cs: CaseSet,
    lang: str = "fr",
    explore: bool = True,
    k_reasons: int = 3,
    num_threads: int = 0,
) -> pd.DataFrame:
    """One row per case with the CONTRACT §5 batch columns (and a few more)."""
    if bundle.policy is None:
        raise ValueError("the bundle has no policy model: train one with `scoring train`")
    s = score_cases(bundle, cs, num_threads=num_threads)
    decisions = bundle.policy.recommend(
        cs, s.arrays, explore=explore, num_threads=num_threads
    ).decisions
    reasons_default = s.reasons(bundle, "default_risk", k_reasons, lang)
    reasons_dispute = s.reasons(bundle, "dispute_risk", k_reasons, lang)
    texts = []
    for rd, rp in zip(reasons_default, reasons_dispute, strict=True):
        pre = (
            ("Risque de défaut : ", "Risque de litige : ")
            if lang == "fr"
            else ("Default risk: ", "Dispute risk: ")
        )
        texts.append(f"{pre[0]}{reasons_summary(rd, lang)} | {pre[1]}{reasons_summary(rp, lang)}")
    out = pd.DataFrame(
        {
            "debtor_id": cs.cases["debtor_id"].astype(str).to_numpy(),
            "as_of": cs.cases["as_of"].to_numpy(),
            "default_probability": s.probability["default_risk"],
            "dispute_probability": s.probability["dispute_risk"],
            "risk_grade": risk_grade(s.probability["default_risk"]),
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


def local_iso(utc: pd.Series, departments: np.ndarray) -> list[str | None]:
    """ISO 8601 strings with the debtor's local offset (None for NaT), one pass per time zone."""
    from scoring.policy.calendar import time_zone

    t = pd.Series(pd.to_datetime(pd.Series(utc), utc=True).to_numpy(), dtype="datetime64[ns, UTC]")
    deps = np.asarray(departments, dtype=object)
    zone_of = {d: time_zone(str(d)) for d in pd.unique(deps)}
    zone = np.array([zone_of[d] for d in deps])
    out = np.full(len(t), None, dtype=object)
    for z in np.unique(zone):
        idx = np.flatnonzero((zone == z) & t.notna().to_numpy())
        if len(idx):
            local = t.iloc[idx].dt.tz_convert(z)
            text = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(
                r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True
            )
            out[idx] = text.to_numpy(dtype=object)
    return out.tolist()
