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
from scoring.invoices import InvoiceMatrix, InvoiceModels, InvoiceScores, invoice_matrix
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
    #: payment-date and dispute models per invoice (None: a registry trained before them)
    invoice_models: InvoiceModels | None = None

    @property
    def risk_models(self) -> dict[str, RiskModel]:
        """The risk models present, by key (a missing one is left out)."""
        models = {"default_risk": self.default_risk, "dispute_risk": self.dispute_risk}
        return {k: m for k, m in models.items() if m is not None}

    @classmethod
    def from_registry(
        cls,
        alias: str = "champion",
        require_policy: bool = True,
        require_risk: bool = True,
        versions: dict[str, int] | None = None,
    ) -> Bundle:
        """Load the models of the release behind ``alias`` from the MLflow registry (the
        versions its record names, read once; a registry without releases: ``NAME@alias``).

        With ``require_policy`` / ``require_risk`` false, a model without a version under the
        alias is left out and recorded in ``missing`` with the reason training gave (the
        ``not_trained.*`` tag of the run that trained the others); at least one model must
        load. ``versions`` names the versions to load instead (a champion/challenger split).
        """
        import logging

        from scoring import registry

        loaded: dict[str, registry.LoadedModel] = {}
        errors: dict[str, Exception] = {}
        # one read of the release: the versions of one promotion, never half of two
        release = (
            registry.release_versions(registry.ALL_MODELS, alias)
            if versions is None
            else {k: versions.get(k) for k in registry.ALL_MODELS}
        )
        for key in registry.ALL_MODELS:
            try:
                version = release[key]
                if version is None:
                    raise registry.ModelNotFound(key, alias)
                loaded[key] = registry.resolve(key, alias, version)
            except Exception as exc:  # noqa: BLE001 - reported below or re-raised
                errors[key] = exc
        for key, error in errors.items():
            if key in registry.OPTIONAL_MODELS:
                continue
            required = require_policy if key == "policy" else require_risk
            if required or not loaded:
                raise error
        missing = {k: _why_missing(k, alias, errors[k], loaded.values()) for k in errors}
        for key, why in missing.items():
            logging.getLogger(__name__).warning("%s is not served: %s", key, why)
        risk = {
            k: RiskModel.load(loaded[k].path) if k in loaded else None for k in registry.RISK_MODELS
        }
        invoice_models = (
            InvoiceModels.load(loaded["invoice_risk"].path) if "invoice_risk" in loaded else None
        )
        if invoice_models is not None:
            unpaired = invoice_models.pair_with(
                {"default": risk["default_risk"], "dispute": risk["dispute_risk"]}
            )
            if unpaired:
                logging.getLogger(__name__).warning(
                    "invoice models of another training run than the case models in use: "
                    "the case model's probability is served for %s (no blend)",
                    ", ".join(unpaired),
                )
        return cls(
            risk["default_risk"],
            risk["dispute_risk"],
            Policy.load(loaded["policy"].path) if "policy" in loaded else None,
            {k: (loaded[k].version if k in loaded else None) for k in registry.ALL_MODELS},
            alias,
            {k: v.tags for k, v in loaded.items()},
            missing,
            invoice_models,
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
        case_probability: dict[str, np.ndarray] | None = None,
        sources: dict[str, str] | None = None,
        invoices: InvoiceScores | None = None,
        invoice_rows: InvoiceMatrix | None = None,
    ) -> None:
        self.arrays = arrays
        #: the served probability of each risk model key (see ``sources``)
        self.probability = probability
        #: the case model's own calibrated probability (what ``contributions`` explain)
        self.case_probability = case_probability if case_probability is not None else probability
        #: risk model key -> where the served probability comes from: "case" (the case
        #: model), "invoices" (the invoice models' roll-up) or "blend" (both)
        self.sources = sources or {k: "case" for k in probability}
        self.contributions = contributions
        self.base = base
        self.unknown = unknown
        #: risk model key -> its input matrix (the drift monitor bins it)
        self.matrices: dict[str, np.ndarray] = {}
        self.invoices = invoices
        self.invoice_rows = invoice_rows
        #: the case set scored, when the caller keeps it here
        self.caseset: CaseSet | None = None
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


LABEL_OF = {"default_risk": "default", "dispute_risk": "dispute"}
#: invoices per case whose dispute reasons are computed (the most likely to be contested)
REASONED_INVOICES = 2


def score_cases(bundle: Bundle, cs: CaseSet, num_threads: int = 0) -> Scores:
    """Calibrated probabilities and exact TreeSHAP contributions for both risk models, and,
    with invoice models, each open invoice's payment-date distribution and dispute probability
    (with TreeSHAP) and the case probabilities chosen on the validation period."""
    arrays = feature_arrays(cs)
    prob, contrib, base, mats = {}, {}, {}, {}
    for key, model in bundle.risk_models.items():
        M = mats[key] = model_matrix(arrays, model.feature_names, model.vocab)
        prob[key], contrib[key], base[key] = model.predict_with_contributions(
            M, num_threads=num_threads
        )
    unknown = unknown_values(cs)
    im = bundle.invoice_models
    if im is None:
        s = Scores(arrays, prob, contrib, base, unknown)
        s.matrices = mats
        return s
    rows = invoice_matrix(cs, arrays)
    inv = im.score(rows, contributions=REASONED_INVOICES, num_threads=num_threads)
    served, sources = dict(prob), {}
    for key, label in LABEL_OF.items():
        p, src = im.case_probability(label, prob.get(key), inv)
        if p is not None:
            served[key], sources[key] = p, src
    s = Scores(arrays, served, contrib, base, unknown, prob, sources, inv, rows)
    s.matrices = mats
    return s


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
    invoice_tables: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per case with the CONTRACT §5 batch columns (and a few more). With
    ``invoice_tables`` (a list) and invoice models, one row per open invoice
    (:func:`invoice_frame`) is appended to it."""
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
    if s.invoices is not None:
        check = pd.DataFrame(invoices_to_check(s, cs, lang))
        check["invoice_dispute_probability"] = check["invoice_dispute_probability"].astype(float)
        out = pd.concat([out, check], axis=1)
        review = (out["action"] == "dispute_review") & check["invoice_check_reason"].notna()
        prefix = "À vérifier en priorité, " if lang == "fr" else "Check first: "
        out.loc[review, "reasons"] = (
            prefix + check.loc[review, "invoice_check_reason"] + " | " + out.loc[review, "reasons"]
        )
        out["probability_sources"] = ";".join(f"{k}={v}" for k, v in s.sources.items())
        if invoice_tables is not None:
            invoice_tables.append(invoice_frame(s, cs, lang))
    return out


def invoice_frame(s: Scores, cs: CaseSet, lang: str = "fr") -> pd.DataFrame:
    """One row per open invoice: its debtor, amount, due date, dispute probability and
    reasons, payment-date answers (see :class:`InvoiceDetail`)."""
    ids = cs.cases["debtor_id"].astype(str).to_numpy()
    rows = []
    for c, details in enumerate(invoice_details(s, cs, lang)):
        for d in details:
            r = vars(d).copy()
            r.pop("payment_weeks")
            r["dispute_reasons"] = "; ".join(r["dispute_reasons"])
            rows.append({"debtor_id": ids[c], **r})
    return pd.DataFrame(rows)


def reason_lines(bundle: Bundle, s: Scores, lang: str, k: int) -> list[str]:
    """:func:`reason_line` of every case of ``s``."""
    per = {key: s.reasons(bundle, key, k, lang) for key in bundle.risk_models}
    n = len(next(iter(s.arrays.values()))) if s.arrays else 0
    return [reason_line({key: r[i] for key, r in per.items()}, lang) for i in range(n)]


# --------------------------------------------------------------------------------------
# Per-invoice outputs


@dataclass
class InvoiceDetail:
    """One open invoice's scores: dispute probability and why, payment-date distribution."""

    invoice_id: str
    amount: float
    due_date: str
    dispute_probability: float
    dispute_reasons: list[str]
    expected_payment_date: str | None
    p_paid_by_due_date: float
    p_paid_by_due_date_30: float
    p_paid_within_horizon: float
    default_probability: float
    payment_weeks: list[float]


def _dispute_phrases(s: Scores, rows: np.ndarray, lang: str, k: int = 2) -> list[list[str]]:
    """The ``k`` features that raise each invoice's dispute probability most, as phrases."""
    from scoring.invoices.features import INVOICE_FEATURE_NAMES, MATRIX_COLUMNS, invoice_phrase

    inv, M = s.invoices, s.invoice_rows
    if inv is None or M is None or inv.dispute_contrib is None:
        return [[] for _ in rows]
    cols = inv.dispute_columns
    own_cols = np.array([c in INVOICE_FEATURE_NAMES for c in cols])
    out: list[list[str]] = []
    for r in rows:
        if inv.explained is not None and not inv.explained[r]:
            out.append([])
            continue
        c = inv.dispute_contrib[r]
        # the invoice's own facts first (what a reviewer checks on the invoice); the case's
        # only when none of them raises the probability
        own = [j for j in np.argsort(-np.where(own_cols, c, -np.inf), kind="stable")[:k]
               if own_cols[j] and c[j] > 0]  # fmt: skip
        order = own or [j for j in np.argsort(-c, kind="stable")[:1] if c[j] > 0]
        out.append(
            [
                invoice_phrase(cols[j], float(M.X[r, MATRIX_COLUMNS.index(cols[j])]), lang)
                for j in order
            ]
        )
    return out


def invoice_details(
    s: Scores, cs: CaseSet, lang: str = "fr", k: int = 2
) -> list[list[InvoiceDetail]]:
    """Per case, its open invoices' :class:`InvoiceDetail` (empty lists without invoice
    models)."""
    n = len(cs)
    inv, M = s.invoices, s.invoice_rows
    if inv is None or M is None:
        return [[] for _ in range(n)]
    ids = [str(v) for v in cs.column("invoices", "invoice_id")]
    by_due = inv.p_paid_by(M.due - M.day)
    by_due30 = inv.p_paid_by(M.due + 30 - M.day)
    median = inv.median_days()
    phrases = _dispute_phrases(s, np.arange(len(ids)), lang, k)
    out: list[list[InvoiceDetail]] = [[] for _ in range(n)]
    for r in range(len(ids)):
        pay = None
        if not np.isnan(median[r]):
            pay = str(np.datetime64(int(M.day[r] + median[r]), "D"))
        out[int(M.case[r])].append(
            InvoiceDetail(
                invoice_id=ids[r],
                amount=float(M.amount[r]),
                due_date=str(np.datetime64(int(M.due[r]), "D")),
                dispute_probability=float(inv.p_dispute_invoice[r]),
                dispute_reasons=phrases[r],
                expected_payment_date=pay,
                p_paid_by_due_date=float(by_due[r]),
                p_paid_by_due_date_30=float(by_due30[r]),
                p_paid_within_horizon=float(1.0 - inv.dist[r, -1]),
                default_probability=float(inv.p_default_invoice[r]),
                payment_weeks=[float(v) for v in inv.dist[r]],
            )
        )
    return out


def invoices_to_check(s: Scores, cs: CaseSet, lang: str = "fr") -> dict[str, list]:
    """Per case, the open invoice most likely to be contested, its probability and why
    ("facture F123 : sans référence de commande, envoyée sur papier"): lists
    ``invoice_to_check``, ``invoice_dispute_probability``, ``invoice_check_reason`` (None
    without invoice models)."""
    n = len(cs)
    out: dict[str, list] = {
        "invoice_to_check": [None] * n,
        "invoice_dispute_probability": [None] * n,
        "invoice_check_reason": [None] * n,
    }
    inv, M = s.invoices, s.invoice_rows
    if inv is None or M is None or len(M.case) == 0:
        return out
    p = inv.p_dispute_invoice
    order = np.lexsort((-p, M.case))
    first = order[np.r_[True, np.diff(M.case[order]) != 0]]
    ids = cs.column("invoices", "invoice_id")
    phrases = _dispute_phrases(s, first, lang)
    word = "facture" if lang == "fr" else "invoice"
    sep = " : " if lang == "fr" else ": "
    for r, ph in zip(first.tolist(), phrases, strict=True):
        c = int(M.case[r])
        out["invoice_to_check"][c] = str(ids[r])
        out["invoice_dispute_probability"][c] = float(p[r])
        text = f"{word} {ids[r]}"
        out["invoice_check_reason"][c] = f"{text}{sep}{', '.join(ph)}" if ph else text
    return out
