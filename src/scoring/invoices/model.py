"""The invoice models: when each open invoice will be paid (a discrete-time hazard model) and
whether it will be contested, and how both roll up into the case's probabilities.

**Payment date.** Time after ``as_of`` is cut into weeks ``0 .. K-1`` (``K`` = 15: 105 days,
the longest time the case labels look ahead). A LightGBM binary model, trained on an
invoice-by-week panel, gives the hazard ``h_k``: the probability that the invoice is paid in
week ``k`` given that it was not paid before, from the invoice and case features plus the week
and the invoice's days past due at the start of that week. The distribution of the payment
week follows: ``P(week k) = h_k * prod_{j<k} (1 - h_j)``, and ``prod_{k<K} (1 - h_k)`` is the
probability of no payment within the horizon; the ``K + 1`` numbers sum to one. A hazard model
rather than a regression on the payment delay because most invoices of a late portfolio are
censored (not paid yet) and the hazard panel uses them exactly, because the distribution (not
a single date) is what the cash forecast and the default probability need, and because the same
LightGBM machinery as the case models applies.

**Dispute.** A LightGBM binary model per undisputed open invoice (a dispute raised on it within
90 days after ``as_of``), calibrated on the calibration period. An invoice already contested
before ``as_of`` cannot be contested again: probability 0.

**Case probabilities.** Default: some open invoice unpaid 90 days after its due date, i.e.
``1 - prod_i P(T_i <= due_i + 90)``; dispute: ``1 - prod_i (1 - p_i)``. Both treat a debtor's
invoices as independent, which they are not, so both are recalibrated on the calibration
period against the case labels. ``scoring train`` then compares, on the validation period, the
case-level model, this invoice roll-up and a logistic blend of the two, and keeps the best
(lowest log loss) per label: :attr:`InvoiceModels.selection`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from scoring.invoices.features import MATRIX_COLUMNS, WEEK_COLUMNS, InvoiceMatrix, week_calendar
from scoring.models.calibration import Calibrator

#: columns the hazard model adds to the invoice matrix
HAZARD_EXTRA = ["week", "dpd_at_week", *WEEK_COLUMNS]
HAZARD_COLUMNS = [*MATRIX_COLUMNS, *HAZARD_EXTRA]
#: candidates for a case probability (see module docstring)
CANDIDATES = ("case", "invoices", "blend")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def hazard_rows(M: InvoiceMatrix, weeks: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Hazard-model input: invoice rows ``rows`` of ``M`` at weeks ``weeks`` (the invoice's
    features, the week, its days past due then, and the week's calendar)."""
    X = M.X
    dpd = X[rows, MATRIX_COLUMNS.index("inv_days_past_due")]
    groups = M.holiday_group[rows] if M.holiday_group is not None else None
    cal = week_calendar(M.day[rows] + 7.0 * weeks, groups)
    return np.column_stack([X[rows], weeks.astype(np.float64), dpd + 7.0 * weeks, cal])


def distribution_from_hazards(h: np.ndarray) -> np.ndarray:
    """``(n, K)`` weekly hazards -> ``(n, K + 1)`` probabilities: paid in week ``k`` for
    ``k < K``, not paid within the horizon in the last column. Rows sum to one."""
    h = np.clip(np.asarray(h, dtype=float), 0.0, 1.0)
    surv = np.cumprod(1.0 - h, axis=1)
    before = np.column_stack([np.ones(len(h)), surv[:, :-1]])
    return np.column_stack([before * h, surv[:, -1]])


def survival_at(dist: np.ndarray, days: np.ndarray) -> np.ndarray:
    """P(not paid by the end of day ``days`` after as_of), i.e. P(T > days), from weekly
    distributions: geometric interpolation within a week, the last week's hazard beyond the
    horizon. ``days < 0``: 1 (nothing can be paid before as_of)."""
    n, k1 = dist.shape
    K = k1 - 1
    cum = np.cumsum(dist[:, :K], axis=1)
    S = np.column_stack([np.ones(n), 1.0 - cum])  # S[:, k] = P(T >= 7k)
    S = np.clip(S, 0.0, 1.0)
    x = np.asarray(days, dtype=float) + 1.0  # P(T > d) = P(T >= d + 1)
    x = np.clip(x, 0.0, None)
    k = np.minimum((x // 7).astype(np.int64), K)
    frac = (x - 7.0 * k) / 7.0
    rows = np.arange(n)
    s_k = S[rows, k]
    kk = np.minimum(k, K - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        h_k = np.where(S[rows, kk] > 0, dist[rows, kk] / S[rows, kk], 0.0)
    h_k = np.clip(h_k, 0.0, 1.0)
    out = s_k * (1.0 - h_k) ** frac
    return np.where(np.asarray(days) < 0, 1.0, np.clip(out, 0.0, 1.0))


def model_digest(model) -> str:
    """A short digest of a case model's trees and calibration (which version a blend used)."""
    import hashlib

    text = model.booster.model_to_string() + json.dumps(model.calibrator.to_dict())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def roll_up(p: np.ndarray, case: np.ndarray, n: int) -> np.ndarray:
    """``1 - prod (1 - p)`` per case: some invoice of the case has the event."""
    logq = np.log(np.clip(1.0 - np.asarray(p, dtype=float), 1e-12, 1.0))
    return 1.0 - np.exp(np.bincount(case, weights=logq, minlength=n))


@dataclass
class Blend:
    """Logistic blend of the case model's and the invoice roll-up's calibrated probabilities."""

    a_case: float
    a_invoices: float
    b: float

    def __call__(self, p_case: np.ndarray, p_inv: np.ndarray) -> np.ndarray:
        z = self.a_case * _logit(p_case) + self.a_invoices * _logit(p_inv) + self.b
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class InvoiceScores:
    """Per-invoice and per-case outputs of :meth:`InvoiceModels.score` (rows of the
    invoice matrix, and cases)."""

    dist: np.ndarray  # (n_invoices, K + 1) payment-week distribution
    p_default_invoice: np.ndarray  # unpaid 90 days after the due date
    p_dispute_invoice: np.ndarray  # contested within 90 days after as_of (0 if already)
    dispute_contrib: np.ndarray | None  # (n_invoices, n_features) TreeSHAP of the dispute model
    dispute_columns: list[str]  # the features of ``dispute_contrib``'s columns
    case_default: np.ndarray  # calibrated roll-up per case
    case_dispute: np.ndarray
    #: the invoices whose dispute contributions were computed
    explained: np.ndarray | None = None

    def p_paid_by(self, days: np.ndarray) -> np.ndarray:
        """P(paid by the end of day ``days`` after as_of) of each invoice."""
        return 1.0 - survival_at(self.dist, days)

    def median_days(self) -> np.ndarray:
        """Days after as_of by which payment is more likely than not (NaN: not within the
        horizon)."""
        cum = np.cumsum(self.dist[:, :-1], axis=1)
        K = cum.shape[1]
        k = np.argmax(cum >= 0.5, axis=1)
        ok = cum[np.arange(len(cum)), np.minimum(k, K - 1)] >= 0.5
        # within the week: linear in the cumulative probability
        prev = np.where(k > 0, cum[np.arange(len(cum)), np.maximum(k - 1, 0)], 0.0)
        cur = cum[np.arange(len(cum)), k]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(cur > prev, (0.5 - prev) / (cur - prev), 0.0)
        return np.where(ok, np.floor(7.0 * (k + np.clip(frac, 0, 1))), np.nan)


@dataclass
class InvoiceModels:
    """The fitted invoice models, their calibration and the per-label choice of candidate."""

    hazard: lgb.Booster
    dispute: lgb.Booster | None
    dispute_calibrator: Calibrator | None
    horizon_weeks: int
    #: calibrators of the roll-ups against the case labels, by label ("default", "dispute")
    case_calibrators: dict[str, Calibrator] = field(default_factory=dict)
    blends: dict[str, Blend] = field(default_factory=dict)
    #: label -> candidate chosen on the validation period (one of :data:`CANDIDATES`)
    selection: dict[str, str] = field(default_factory=dict)
    #: per-week shift of the hazards' log-odds fitted on the calibration period
    week_shift: list[float] = field(default_factory=list)
    #: correlation of the payment times of one debtor's invoices (Gaussian copula)
    rho: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    #: the hazard model's input columns, as trained (the dispute model's are the same
    #: without :data:`HAZARD_EXTRA`): a model trained before a feature was added still serves
    columns: list[str] = field(default_factory=lambda: list(HAZARD_COLUMNS))

    @property
    def dispute_columns(self) -> list[str]:
        return [c for c in self.columns if c not in HAZARD_EXTRA]

    def _select(self, A: np.ndarray, have: list[str], want: list[str]) -> np.ndarray:
        if want == have:
            return A
        key = (len(have), tuple(want))
        cache = self.__dict__.setdefault("_index_cache", {})
        if key not in cache:
            cache[key] = np.array([have.index(c) for c in want], dtype=np.int64)
        return A[:, cache[key]]

    # -- prediction ----------------------------------------------------------------
    def hazards(self, M: InvoiceMatrix, num_threads: int = 0) -> np.ndarray:
        n, K = len(M.X), self.horizon_weeks
        if n == 0:
            return np.zeros((0, K))
        rows = np.repeat(np.arange(n), K)
        weeks = np.tile(np.arange(K), n)
        H = self._select(hazard_rows(M, weeks, rows), HAZARD_COLUMNS, self.columns)
        raw = np.asarray(self.hazard.predict(H, raw_score=True, num_threads=num_threads))
        if self.week_shift:
            raw = raw + np.asarray(self.week_shift)[weeks]
        return (1.0 / (1.0 + np.exp(-raw))).reshape(n, K)

    def distribution(self, M: InvoiceMatrix, num_threads: int = 0) -> np.ndarray:
        return distribution_from_hazards(self.hazards(M, num_threads))

    def dispute_raw(self, M: InvoiceMatrix, num_threads: int = 0) -> np.ndarray:
        if self.dispute is None or len(M.X) == 0:
            return np.zeros(len(M.X))
        X = self._select(M.X, MATRIX_COLUMNS, self.dispute_columns)
        p = np.asarray(self.dispute.predict(X, num_threads=num_threads))
        return np.where(M.disputed, 0.0, p)

    def dispute_probability(self, M: InvoiceMatrix, num_threads: int = 0) -> np.ndarray:
        raw = self.dispute_raw(M, num_threads)
        if self.dispute_calibrator is None:
            return raw
        return np.where(M.disputed, 0.0, self.dispute_calibrator(raw))

    def default_raw(self, M: InvoiceMatrix, dist: np.ndarray) -> np.ndarray:
        """P(unpaid 90 days after the due date) of each invoice."""
        days = M.due + 90.0 - M.day
        return survival_at(dist, days)

    def roll_ups(
        self, M: InvoiceMatrix, dist: np.ndarray, p_dispute_raw: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Raw (uncalibrated) case roll-ups by label."""
        return {
            "default": roll_up(self.default_raw(M, dist), M.case, M.n_cases),
            "dispute": roll_up(p_dispute_raw, M.case, M.n_cases),
        }

    def score(
        self, M: InvoiceMatrix, contributions: int = 0, num_threads: int = 0
    ) -> InvoiceScores:
        """Payment-date distributions, dispute probabilities and the case roll-ups; with
        ``contributions = k``, the TreeSHAP contributions of the dispute model for the ``k``
        invoices of each case most likely to be contested (the others get none: TreeSHAP is
        the costly part of a request)."""
        dist = self.distribution(M, num_threads)
        raw_dispute = self.dispute_raw(M, num_threads)
        p_dispute = (
            np.where(M.disputed, 0.0, self.dispute_calibrator(raw_dispute))
            if self.dispute_calibrator is not None
            else raw_dispute
        )
        contrib = None
        explained = np.zeros(len(M.X), dtype=bool)
        if contributions and self.dispute is not None and len(M.X):
            order = np.lexsort((-p_dispute, M.case))
            starts = np.r_[0, np.flatnonzero(np.diff(M.case[order])) + 1]
            rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
            pick = np.sort(order[(rank < contributions) & (p_dispute[order] > 0)])
            explained[pick] = True
            cols = self.dispute_columns
            contrib = np.zeros((len(M.X), len(cols)))
            if len(pick):
                X = self._select(M.X[pick], MATRIX_COLUMNS, cols)
                c = np.asarray(self.dispute.predict(X, pred_contrib=True, num_threads=num_threads))
                contrib[pick] = c[:, :-1]
        rolls = self.roll_ups(M, dist, raw_dispute)
        cal = {
            k: (self.case_calibrators[k](v) if k in self.case_calibrators else v)
            for k, v in rolls.items()
        }
        return InvoiceScores(
            dist, self.default_raw(M, dist), p_dispute, contrib, self.dispute_columns,
            cal["default"], cal["dispute"], explained,
        )  # fmt: skip

    def pair_with(self, case_models: dict[str, Any]) -> list[str]:
        """Check that the case models served (label -> RiskModel or None) are those the blends
        were fitted with (``scoring promote`` moves each model on its own); a blend whose case
        model differs is not served: the case model's own probability is. Returns the labels
        concerned."""
        fitted = self.info.get("case_model_digest", {})
        unpaired = []
        for label, model in case_models.items():
            if (
                label in self.blends
                and model is not None
                and fitted.get(label) != model_digest(model)
            ):
                unpaired.append(label)
        self.info["unpaired"] = unpaired
        return unpaired

    def case_probability(
        self, label: str, p_case: np.ndarray | None, s: InvoiceScores
    ) -> tuple[np.ndarray | None, str]:
        """The served case probability of ``label`` and where it comes from (the candidate
        chosen on the validation period; the case model's when the invoice models cannot say)."""
        choice = self.selection.get(label, "case")
        p_inv = s.case_default if label == "default" else s.case_dispute
        if label not in self.case_calibrators:
            return p_case, "case"
        if choice == "invoices" or (choice == "blend" and p_case is None):
            return p_inv, "invoices"
        if choice == "blend" and label in self.info.get("unpaired", []):
            return p_case, "case"
        if choice == "blend" and label in self.blends:
            assert p_case is not None
            return self.blends[label](p_case, p_inv), "blend"
        return p_case, "case"

    # -- persistence ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "invoice_models",
            "hazard": self.hazard.model_to_string(),
            "dispute": self.dispute.model_to_string() if self.dispute is not None else None,
            "dispute_calibrator": self.dispute_calibrator.to_dict()
            if self.dispute_calibrator
            else None,
            "horizon_weeks": self.horizon_weeks,
            "columns": self.columns,
            "case_calibrators": {k: v.to_dict() for k, v in self.case_calibrators.items()},
            "blends": {k: vars(v) for k, v in self.blends.items()},
            "selection": self.selection,
            "week_shift": list(self.week_shift),
            "rho": self.rho,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InvoiceModels:
        columns = list(d.get("columns", []))
        unknown = [c for c in columns if c not in HAZARD_COLUMNS]
        if unknown or not columns:
            raise ValueError(
                f"invoice models trained on features this version does not compute "
                f"({unknown[:5]}): retrain with `scoring train`"
            )
        return cls(
            hazard=lgb.Booster(model_str=d["hazard"]),
            dispute=lgb.Booster(model_str=d["dispute"]) if d.get("dispute") else None,
            dispute_calibrator=Calibrator.from_dict(d["dispute_calibrator"])
            if d.get("dispute_calibrator")
            else None,
            horizon_weeks=int(d["horizon_weeks"]),
            case_calibrators={
                k: Calibrator.from_dict(v) for k, v in d.get("case_calibrators", {}).items()
            },
            blends={k: Blend(**v) for k, v in d.get("blends", {}).items()},
            selection=dict(d.get("selection", {})),
            week_shift=[float(v) for v in d.get("week_shift", [])],
            rho=float(d.get("rho", 0.0)),
            info=dict(d.get("info", {})),
            columns=columns,
        )

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path) -> InvoiceModels:
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))
