"""Off-policy evaluation on held-out logs: IPS, self-normalised IPS, doubly robust, with CIs.

For logged decisions ``(x_i, a_i, r_i)`` chosen with propensity ``p_i`` by the logging policy,
and a new policy ``pi``:

* IPS   = mean( pi(a_i|x_i) / p_i * r_i )
* SNIPS = sum( w_i r_i ) / sum( w_i ),  w_i = pi(a_i|x_i) / p_i
* DR    = mean( sum_a pi(a|x_i) Q(x_i, a) + w_i (r_i - Q(x_i, a_i)) )

Confidence intervals come from a bootstrap over decisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def off_policy_estimates(
    reward: np.ndarray,
    logged_propensity: np.ndarray,
    pi_logged: np.ndarray,
    q_logged: np.ndarray,
    v_direct: np.ndarray,
    n_boot: int = 300,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Estimates of the new policy's value per decision (and the logging policy's), with CIs."""
    r = np.asarray(reward, dtype=float)
    p = np.asarray(logged_propensity, dtype=float)
    ok = np.isfinite(r) & np.isfinite(p) & (p > 0)
    r, p = r[ok], p[ok]
    pi = np.asarray(pi_logged, dtype=float)[ok]
    q = np.asarray(q_logged, dtype=float)[ok]
    vd = np.asarray(v_direct, dtype=float)[ok]
    n = len(r)
    if n == 0:
        raise ValueError("no held-out decision with a reward and a logged propensity")
    w = pi / p

    def estimates(idx: np.ndarray) -> np.ndarray:
        ww, rr = w[idx], r[idx]
        ips = float(np.mean(ww * rr))
        snips = float(np.sum(ww * rr) / np.sum(ww)) if np.sum(ww) > 0 else float("nan")
        dr = float(np.mean(vd[idx] + ww * (rr - q[idx])))
        dm = float(np.mean(vd[idx]))
        return np.array([float(np.mean(rr)), ips, snips, dr, dm])

    names = ["logging", "ips", "snips", "dr", "dm"]
    point = estimates(np.arange(n))
    rng = np.random.default_rng(seed)
    boots = np.array([estimates(rng.integers(0, n, n)) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(boots, [50 * (1 - level), 50 * (1 + level)], axis=0)
    out: dict[str, float] = {
        "n": float(n),
        "ess": float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0,
    }
    for i, name in enumerate(names):
        out[name] = float(point[i])
        out[f"{name}_ci_low"] = float(lo[i])
        out[f"{name}_ci_high"] = float(hi[i])
    # improvement of the new policy over the logging policy (DR), with its own interval
    diff = boots[:, 3] - boots[:, 0]
    out["dr_gain"] = float(point[3] - point[0])
    out["dr_gain_ci_low"], out["dr_gain_ci_high"] = (
        float(x) for x in np.nanpercentile(diff, [50 * (1 - level), 50 * (1 + level)])
    )
    return out


def crossfit_q(
    decisions, config, folds: int = 2, seed: int = 0, earlier=None, fold=None
) -> np.ndarray:
    """Outcome model of the held-out decisions for the doubly robust estimator, cross-fitted:
    ``Q[i, a]`` (EUR, every action) for decision ``i`` comes from an S-learner fitted on the
    other folds of debtors (plus the ``earlier`` decisions, when given), so no decision's own
    reward enters its ``Q``. Independent of the learners being compared (all logged rows, no
    reach structure)."""
    if earlier is not None and len(earlier):
        return _crossfit_q_with(decisions, earlier, config, folds, seed)
    from scoring.contract import ACTIONS
    from scoring.policy.learners import ArmData, fit_s, s_matrix
    from scoring.policy.recommend import case_matrix

    log = decisions.log
    n = len(log)
    code = np.array([ACTIONS.index(a) for a in log["action"].astype(str)], dtype=np.int64)
    amount = decisions.X["open_amount"].to_numpy(dtype=float)
    share = np.clip(log["paid_14d"].to_numpy(dtype=float) / np.where(amount > 0, amount, 1.0), 0, 1)
    M = case_matrix(decisions.X)
    group = np.unique(log["debtor_id"].astype(str).to_numpy(), return_inverse=True)[1]
    d = ArmData(
        M=M,
        arm=code,
        lead=np.full(n, np.nan),
        reached=np.ones(n, dtype=bool),
        y={
            "share": share,
            "dispute": (log["n_disputes_14d"].to_numpy() > 0).astype(float),
            "complaint": (log["n_complaints_14d"].to_numpy() > 0).astype(float),
        },
        propensity=log["propensity"].to_numpy(dtype=float, na_value=np.nan),
        p_reach=np.ones(n),
        group=group,
    )
    if fold is None:
        fold = np.random.default_rng(seed).integers(0, folds, group.max() + 1 if n else 1)[group]
    costs = np.array([config.costs[a] for a in ACTIONS])
    Q = np.zeros((n, len(ACTIONS)))
    for f in range(folds):
        models = fit_s(d, np.flatnonzero(fold != f))
        rows = np.flatnonzero(fold == f)
        for a in range(len(ACTIONS)):
            X = s_matrix(M[rows], np.full(len(rows), a), np.full(len(rows), np.nan))
            pred = {}
            for k, m in models.items():
                pred[k] = m.predict(X) if hasattr(m, "predict") else np.full(len(rows), float(m))
            Q[rows, a] = (
                amount[rows] * np.clip(pred["share"], 0, 1)
                - costs[a]
                - config.penalties.dispute * pred["dispute"]
                - config.penalties.complaint * pred["complaint"]
            )
    return Q


def policy_value(policy, decisions, Q: np.ndarray, n_boot: int = 300, seed: int = 0) -> dict:
    """Off-policy estimates (IPS, SNIPS, DR with the cross-fitted ``Q``) of ``policy`` as it
    would be deployed (its stochastic distribution over actions) on held-out decisions."""
    from scoring.contract import ACTIONS

    values = policy.action_values(decisions.cases, decisions.X)
    n = len(decisions.log)
    P = np.zeros((n, len(ACTIONS)))
    P[values["case"].to_numpy(), values["action"].cat.codes.to_numpy()] = values["probability"]
    code = np.array([ACTIONS.index(a) for a in decisions.log["action"].astype(str)])
    reward = decisions.reward(policy.config)
    est = off_policy_estimates(
        reward,
        decisions.log["propensity"].to_numpy(dtype=float, na_value=np.nan),
        P[np.arange(n), code],
        Q[np.arange(n), code],
        (P * Q).sum(axis=1),
        n_boot=n_boot,
        seed=seed,
    )
    est["action_mix"] = {a: float(P[:, j].mean()) for j, a in enumerate(ACTIONS)}  # type: ignore[assignment]
    est["terms"] = dr_terms(  # type: ignore[assignment]
        reward,
        decisions.log["propensity"].to_numpy(dtype=float, na_value=np.nan),
        P[np.arange(n), code],
        Q[np.arange(n), code],
        (P * Q).sum(axis=1),
    )
    # importance-weighted rewards alone: their paired differences do not involve Q, so they
    # cannot favour a policy built from models that resemble the outcome model
    est["ips_terms"] = dr_terms(  # type: ignore[assignment]
        reward,
        decisions.log["propensity"].to_numpy(dtype=float, na_value=np.nan),
        P[np.arange(n), code],
        np.zeros(n),
        np.zeros(n),
    )
    return est


def _crossfit_q_with(late, early, config, folds: int, seed: int) -> np.ndarray:
    """:func:`crossfit_q` where each fold's model also learns from the earlier decisions."""
    from scoring.policy.history import LoggedDecisions

    both = LoggedDecisions(
        None,  # type: ignore[arg-type]  # the outcome model reads only the features and the log
        pd.concat([early.X, late.X], ignore_index=True),
        pd.concat([early.log, late.log], ignore_index=True),
    )
    n_early = len(early.log)
    # the early rows form a fold of their own that is never predicted
    groups = np.unique(late.log["debtor_id"].astype(str).to_numpy(), return_inverse=True)[1]
    fold_late = np.random.default_rng(seed).integers(0, folds, groups.max() + 1)[groups]
    fold = np.concatenate([np.full(n_early, -1), fold_late])
    return crossfit_q(both, config, folds, seed, fold=fold)[n_early:]


def dr_terms(reward, propensity, pi_logged, q_logged, v_direct) -> np.ndarray:
    """Per-decision doubly robust terms (their mean is the DR estimate; NaN where unusable)."""
    r = np.asarray(reward, dtype=float)
    p = np.asarray(propensity, dtype=float)
    ok = np.isfinite(r) & np.isfinite(p) & (p > 0)
    w = np.where(ok, np.asarray(pi_logged, dtype=float) / np.where(ok, p, 1.0), 0.0)
    return np.where(ok, np.asarray(v_direct) + w * (r - np.asarray(q_logged)), np.nan)


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 500,
    seed: int = 0,
    groups: np.ndarray | None = None,
    level: float = 0.95,
) -> dict:
    """Mean of ``a - b`` over the same decisions with a bootstrap interval at ``level``.

    ``groups`` (e.g. debtor ids): resample whole groups, since decisions about the same debtor
    are not independent (a per-decision bootstrap would give too narrow an interval)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ok = np.isfinite(d)
    d = d[ok]
    if not len(d):
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan")}
    rng = np.random.default_rng(seed)
    if groups is None:
        boots = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(n_boot)])
    else:
        _, g = np.unique(np.asarray(groups)[ok], return_inverse=True)
        k = int(g.max()) + 1
        sums = np.bincount(g, weights=d, minlength=k)
        counts = np.bincount(g, minlength=k).astype(float)
        boots = np.empty(n_boot)
        for i in range(n_boot):
            w = np.bincount(rng.integers(0, k, k), minlength=k)
            boots[i] = (w @ sums) / max(w @ counts, 1.0)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(boots, [tail, 100 - tail])
    return {"diff": float(d.mean()), "low": float(lo), "high": float(hi)}
