"""Training the invoice models on the training set's cases (same instants, same time split).

Every open invoice of every case of the :class:`~scoring.models.dataset.TrainingSet` is a
training row, with the case's period: the payment-date (hazard) and dispute models are fitted
on ``train``, stopped early on ``valid``, calibrated on ``calib`` and evaluated on ``test``,
like the case models, and their features only use facts known before each ``as_of`` (they are
computed from the same :class:`~scoring.cases.CaseSet`). Outcomes come from the full tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression

from scoring.cases import CaseSet, as_of_day, data_end
from scoring.contract import LABEL_HORIZON_DAYS
from scoring.features.catalogue import CATEGORY_DTYPES
from scoring.features.matrix import FeatureArrays
from scoring.invoices.features import CATEGORICAL_POSITIONS, InvoiceMatrix, invoice_matrix
from scoring.invoices.model import (
    CANDIDATES,
    HAZARD_COLUMNS,
    Blend,
    InvoiceModels,
    _logit,
    hazard_rows,
    model_digest,
)
from scoring.models.calibration import fit_calibrator
from scoring.models.metrics import binary_metrics, metrics_by_group

log = logging.getLogger(__name__)


class InvoiceTrainingError(ValueError):
    """The invoice models cannot be trained on this data set."""


def arrays_of_frame(X: pd.DataFrame) -> FeatureArrays:
    """Feature arrays (categorical codes) of a feature frame."""
    return FeatureArrays(
        {
            c: X[c].cat.codes.to_numpy().astype(np.int16)
            if c in CATEGORY_DTYPES
            else X[c].to_numpy(dtype=np.float64)
            for c in X.columns
        }
    )


@dataclass
class InvoiceOutcomes:
    """What happened to each open invoice after its case's as_of (from the full tables)."""

    pay_days: np.ndarray  # days after the as_of day it was paid (NaN: not paid by the data end)
    dispute: np.ndarray  # 1 if contested within 90 days after as_of
    last_day: np.ndarray  # last day after as_of that the data set describes


def invoice_outcomes(cs: CaseSet, tables: dict[str, pd.DataFrame]) -> InvoiceOutcomes:
    """Payment day and dispute label of every open invoice of ``cs`` (row order kept)."""
    inv = tables["invoices"][["invoice_id", "paid_date", "dispute_date"]]
    oi = cs.invoices[["case", "invoice_id"]].merge(inv, on="invoice_id", how="left")
    day = as_of_day(cs.cases["as_of"]).to_numpy()[oi["case"].to_numpy()]
    day = pd.to_datetime(day)
    pay = (oi["paid_date"].to_numpy() - day) / np.timedelta64(1, "D")
    disp = (oi["dispute_date"] >= day) & (
        oi["dispute_date"] < day + pd.Timedelta(days=LABEL_HORIZON_DAYS)
    )
    end = data_end(tables)
    last = (end - day) / np.timedelta64(1, "D")
    return InvoiceOutcomes(
        np.asarray(pay, dtype=float),
        disp.fillna(False).to_numpy(dtype=int),
        np.asarray(last, dtype=float),
    )


def hazard_panel(
    M: InvoiceMatrix, out: InvoiceOutcomes, rows: np.ndarray, K: int
) -> tuple[np.ndarray, np.ndarray]:
    """The invoice-by-week panel of invoice rows ``rows``: one row per week at risk (up to the
    week of payment, the horizon or the last fully observed week), label 1 in the week paid."""
    pay_week = np.where(np.isnan(out.pay_days[rows]), np.inf, np.floor(out.pay_days[rows] / 7))
    observed_weeks = np.floor((out.last_day[rows] - 6) / 7)  # last week fully in the data
    last = np.minimum(np.minimum(pay_week, K - 1), observed_weeks)
    n_weeks = np.clip(last + 1, 0, K).astype(np.int64)
    r = np.repeat(rows, n_weeks)
    starts = np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    weeks = np.arange(len(r)) - starts
    y = (weeks == np.repeat(pay_week, n_weeks)).astype(np.int8)
    return hazard_rows(M, weeks, r), y


@dataclass
class InvoiceTrainResult:
    models: InvoiceModels
    metrics: dict[str, float]
    #: candidate x period metrics of the case probabilities (grouping, group, candidate, label)
    comparison: pd.DataFrame
    #: observed vs predicted cumulative share paid by week on the test period
    calibration: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)


def _fit(params: dict, X, y, Xv, yv, cfg, categorical) -> lgb.Booster:
    ds = lgb.Dataset(X, label=y, categorical_feature=categorical, free_raw_data=True,
                     params={"verbosity": -1, "max_bin": 63})  # fmt: skip
    dv = lgb.Dataset(Xv, label=yv, reference=ds, params={"verbosity": -1})
    b = lgb.train(
        params, ds, num_boost_round=cfg.max_rounds, valid_sets=[dv], valid_names=["valid"],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )  # fmt: skip
    return lgb.Booster(model_str=b.model_to_string(num_iteration=b.best_iteration))


def _params(cfg, seed: int, metric: str) -> dict:
    return {
        "objective": "binary", "metric": metric, "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves, "min_child_samples": cfg.min_child_samples,
        "feature_fraction": cfg.feature_fraction, "bagging_fraction": 0.8, "bagging_freq": 1,
        "lambda_l2": cfg.lambda_l2, "max_bin": 63, "max_cat_to_onehot": 8, "verbosity": -1,
        "seed": seed, "deterministic": True, "force_col_wise": True, "num_threads": 0,
    }  # fmt: skip


def estimate_dependence(
    dist: np.ndarray, out: InvoiceOutcomes, case: np.ndarray, instant: np.ndarray, K: int,
    seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Correlations of the payment times' normal scores (randomised PIT of the observed week
    under the predicted distribution): between the invoices of one debtor (one case) and
    between invoices of different debtors at the same instant (a common shock)."""
    rng = np.random.default_rng(seed)
    w = np.where(np.isnan(out.pay_days), K, np.minimum(np.floor(out.pay_days / 7), K)).astype(int)
    ok = out.last_day >= 7 * K
    cum = np.cumsum(dist, axis=1)
    hi = cum[np.arange(len(w)), w]
    lo = np.where(w > 0, cum[np.arange(len(w)), np.maximum(w - 1, 0)], 0.0)
    u = np.clip(lo + rng.random(len(w)) * (hi - lo), 1e-6, 1 - 1e-6)
    z = norm.ppf(u)[ok]
    c, t = case[ok], instant[ok]
    z = (z - z.mean()) / (z.std() or 1.0)

    def pair_corr(groups: np.ndarray) -> tuple[float, float]:
        _, g = np.unique(groups, return_inverse=True)
        s = np.bincount(g, weights=z)
        q = np.bincount(g, weights=z * z)
        n = np.bincount(g).astype(float)
        num, den = float(((s * s) - q).sum()), float((n * (n - 1)).sum())
        return num, den

    n_case, d_case = pair_corr(c)
    n_inst, d_inst = pair_corr(t)
    within = n_case / d_case if d_case else 0.0
    # pairs at the same instant but of different debtors
    across = (n_inst - n_case) / (d_inst - d_case) if d_inst - d_case > 0 else 0.0
    across = float(np.clip(across, 0.0, 0.2))
    within = float(np.clip(within, across, 0.95))
    return within, across


def train_invoice_models(
    ts, tables: dict[str, pd.DataFrame], config, case_models: dict, progress: bool = True
) -> InvoiceTrainResult:
    """Fit, calibrate and select; see the module and :mod:`scoring.invoices.model` docs."""
    import time

    cfg = config.invoices
    seed = config.tuning.seed
    K = cfg.horizon_weeks
    t0 = time.perf_counter()
    arrays = arrays_of_frame(ts.X)
    M = invoice_matrix(ts.cases, arrays)
    out = invoice_outcomes(ts.cases, tables)
    period = ts.meta["period"].astype(str).to_numpy()[M.case]
    rows = {p: np.flatnonzero(period == p) for p in ("train", "valid", "calib", "test")}
    if min(len(r) for r in rows.values()) == 0:
        raise InvoiceTrainingError("a period has no open invoice")
    seconds: dict[str, float] = {"matrix": time.perf_counter() - t0}

    # -- payment-date hazard model
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    fit_rows = rows["train"]
    est = float(np.clip(np.nan_to_num(out.pay_days[fit_rows] / 7, nan=K), 1, K).mean())
    cap = int(cfg.max_panel_rows / max(est, 1.0))
    if len(fit_rows) > cap:
        fit_rows = np.sort(rng.choice(fit_rows, cap, replace=False))
    Ht, yt = hazard_panel(M, out, fit_rows, K)
    valid_rows = rows["valid"]
    if len(valid_rows) > cap // 3:
        valid_rows = np.sort(rng.choice(valid_rows, cap // 3, replace=False))
    Hv, yv = hazard_panel(M, out, valid_rows, K)
    if yt.min() == yt.max():
        raise InvoiceTrainingError("no invoice of the fit period was paid (or all were)")
    hazard = _fit(_params(cfg, seed, "binary_logloss"), Ht, yt, Hv, yv, cfg, CATEGORICAL_POSITIONS)
    seconds["hazard"] = time.perf_counter() - t0
    panel_rows = len(yt)
    del Ht, Hv

    # -- dispute model per undisputed open invoice
    t0 = time.perf_counter()
    dispute = calibrator = None
    und = {p: r[~M.disputed[r]] for p, r in rows.items()}
    yd = {p: out.dispute[r] for p, r in und.items()}
    if all(0 < y.sum() < len(y) for y in yd.values()):
        dparams = _params(cfg, seed, "binary_logloss") | {
            "num_leaves": cfg.dispute_num_leaves, "max_depth": cfg.dispute_max_depth,
        }  # fmt: skip
        dispute = _fit(
            dparams, M.X[und["train"]], yd["train"],
            M.X[und["valid"]], yd["valid"], cfg, CATEGORICAL_POSITIONS,
        )  # fmt: skip
        raw = dispute.predict(M.X[und["calib"]])
        calibrator = fit_calibrator(np.asarray(raw), yd["calib"], config.calibration.method)
    seconds["dispute"] = time.perf_counter() - t0

    models = InvoiceModels(hazard, dispute, calibrator, K)
    # per-week recalibration of the hazards on the calibration period
    Hc, yc = hazard_panel(M, out, rows["calib"], K)
    models.week_shift = week_shifts(
        np.asarray(hazard.predict(Hc, raw_score=True)), Hc[:, HAZARD_COLUMNS.index("week")], yc, K
    )
    del Hc
    # -- roll-ups per period, calibration on calib, choice on valid
    t0 = time.perf_counter()
    # the fit period's invoices are not needed past this point
    dist = np.zeros((len(M.X), K + 1))
    held = np.flatnonzero(period != "train")
    dist[held] = models.distribution(_take(M, held))
    raw_disp = models.dispute_raw(M)
    rolls = models.roll_ups(M, dist, raw_disp)
    labels = {
        "default": ts.labels["default"].to_numpy(),
        "dispute": ts.labels["dispute"].to_numpy(),
    }
    case_keys = {"default": "default_risk", "dispute": "dispute_risk"}
    cases_of = {p: ts.period(p) for p in ("valid", "calib", "test")}
    metrics: dict[str, float] = {}
    comp_rows = []
    groups = {
        "segment": ts.meta["segment"].to_numpy(),
        "bucket": ts.meta["bucket"].astype(str).to_numpy(),
    }
    for label in ("default", "dispute"):
        if label == "dispute" and dispute is None:
            continue
        y = labels[label]
        cal_idx, val_idx = cases_of["calib"], cases_of["valid"]
        if y[cal_idx].min() == y[cal_idx].max():
            continue
        cal = fit_calibrator(rolls[label][cal_idx], y[cal_idx], config.calibration.method)
        models.case_calibrators[label] = cal
        p_inv = cal(rolls[label])
        cands = {"invoices": p_inv}
        case_model = case_models.get(case_keys[label])
        if case_model is not None:
            p_case = case_model.predict_proba(ts.X)
            Z = np.column_stack([_logit(p_case[cal_idx]), _logit(p_inv[cal_idx])])
            lr = LogisticRegression(C=1e4).fit(Z, y[cal_idx])
            blend = Blend(float(lr.coef_[0, 0]), float(lr.coef_[0, 1]), float(lr.intercept_[0]))
            models.blends[label] = blend
            models.info.setdefault("case_model_digest", {})[label] = model_digest(case_model)
            cands = {"case": p_case, "invoices": p_inv, "blend": blend(p_case, p_inv)}
        scores = {}
        for name, p in cands.items():
            for per in ("valid", "test"):
                idx = cases_of[per]
                table = metrics_by_group(y[idx], p[idx], {g: v[idx] for g, v in groups.items()})
                table.insert(0, "period", per)
                table.insert(0, "candidate", name)
                table.insert(0, "label", label)
                comp_rows.append(table)
                ov = table.iloc[0]
                for m in ("roc_auc", "log_loss", "brier", "ece"):
                    metrics[f"invoices_{label}_{name}_{per}_{m}"] = float(ov[m])
            scores[name] = binary_metrics(y[val_idx], p[val_idx])["log_loss"]
        best = min(scores, key=lambda k: (scores[k], CANDIDATES.index(k)))
        models.selection[label] = best
        log.info("case %s probability: %s chosen on the validation period (log loss %s)",
                 label, best, {k: round(v, 5) for k, v in scores.items()})  # fmt: skip

    # -- dependence of payment times (for the forecast's intervals), on the held-out periods
    c_rows = np.sort(np.r_[rows["valid"], rows["calib"]])
    inst = ts.meta["as_of"].to_numpy()[M.case[c_rows]]
    sub = InvoiceOutcomes(out.pay_days[c_rows], out.dispute[c_rows], out.last_day[c_rows])
    within, across = estimate_dependence(dist[c_rows], sub, M.case[c_rows], inst, K, seed)
    models.rho = within
    models.info.update(
        {
            "rho_debtor": within,
            "rho_common": across,
            "hazard_trees": hazard.num_trees(),
            "dispute_trees": dispute.num_trees() if dispute is not None else 0,
            "panel_rows": panel_rows,
            "invoices_train": len(rows["train"]),
        }
    )
    calib_curve = payment_calibration(dist[rows["test"]], out, rows["test"], M.amount, K)
    for _, r in calib_curve.iterrows():
        metrics[f"invoices_paid_by_week{int(r['week'])}_predicted"] = float(r["predicted"])
        metrics[f"invoices_paid_by_week{int(r['week'])}_observed"] = float(r["observed"])
    metrics["invoices_payment_calibration_max_gap"] = float(
        (calib_curve["predicted"] - calib_curve["observed"]).abs().max()
    )
    if dispute is not None:
        test_und = und["test"]
        p = models.dispute_probability(M)[test_und]
        for k, v in binary_metrics(yd["test"], p).items():
            metrics[f"invoices_dispute_invoice_test_{k}"] = v
    metrics["invoices_rho_debtor"] = within
    metrics["invoices_rho_common"] = across
    seconds["selection"] = time.perf_counter() - t0
    comparison = pd.concat(comp_rows, ignore_index=True) if comp_rows else pd.DataFrame()
    return InvoiceTrainResult(models, metrics, comparison, calib_curve, seconds)


def _take(M: InvoiceMatrix, rows: np.ndarray) -> InvoiceMatrix:
    return InvoiceMatrix(
        M.X[rows], M.case[rows], M.n_cases, M.day[rows], M.due[rows], M.amount[rows],
        M.disputed[rows], M.holiday_group[rows] if M.holiday_group is not None else None,
    )  # fmt: skip


def week_shifts(raw: np.ndarray, week: np.ndarray, y: np.ndarray, K: int) -> list[float]:
    """For each week, the shift of the log-odds that makes the mean predicted hazard equal the
    observed one on these rows (a few Newton steps; 0 for a week without rows)."""
    out = []
    for k in range(K):
        m = week == k
        if m.sum() < 50:
            out.append(0.0)
            continue
        r, target, d = raw[m], float(y[m].mean()), 0.0
        for _ in range(20):
            p = 1.0 / (1.0 + np.exp(-(r + d)))
            g = p.mean() - target
            h = (p * (1 - p)).mean()
            if h <= 0 or abs(g) < 1e-9:
                break
            d -= g / h
        out.append(float(np.clip(d, -2.0, 2.0)))
    return out


def payment_calibration(
    dist: np.ndarray, out: InvoiceOutcomes, rows: np.ndarray, amount: np.ndarray, K: int
) -> pd.DataFrame:
    """Predicted vs observed share paid by the end of each week (count and amount-weighted),
    over the invoices whose whole horizon is in the data."""
    ok = out.last_day[rows] >= 7 * K
    d = dist[ok]
    pay = out.pay_days[rows][ok]
    a = amount[rows][ok]
    cum = np.cumsum(d[:, :K], axis=1)
    recs = []
    for k in range(K):
        paid = (~np.isnan(pay)) & (pay < 7 * (k + 1))
        recs.append(
            {
                "week": k + 1,
                "days": 7 * (k + 1),
                "predicted": float(cum[:, k].mean()),
                "observed": float(paid.mean()),
                "predicted_amount": float((cum[:, k] * a).sum() / a.sum()),
                "observed_amount": float((paid * a).sum() / a.sum()),
                "invoices": int(ok.sum()),
            }
        )
    return pd.DataFrame(recs)


__all__ = ["HAZARD_COLUMNS", "InvoiceTrainingError", "train_invoice_models"]
