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
        float(x) for x in np.nanpercentile(diff, [2.5, 97.5])
    )
    return out
