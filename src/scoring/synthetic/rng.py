"""Counter-based random numbers.

Every random draw of the simulation is a hash of (seed, stream, entity, day, replica). Draws
therefore do not depend on which other debtors are simulated alongside, which makes a run on a
subset of debtors reproduce the full run exactly, and gives common random numbers across
counterfactual replicas for free.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_G = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_INV53 = 1.0 / float(1 << 53)
_INV32 = 1.0 / float(1 << 32)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (returns a new array)."""
    x = x ^ (x >> _S30)
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def entity_keys(seed: int, ids: np.ndarray, replica: np.ndarray | int = 0) -> np.ndarray:
    """Pre-mixed per-entity keys for global ids ``ids`` and replica numbers."""
    ids = np.asarray(ids, dtype=np.uint64)
    with np.errstate(over="ignore"):
        k = mix(ids * _G + np.uint64(seed & 0xFFFFFFFF) * _M2 + np.uint64(0x5851F42D4C957F2D))
        rep = np.asarray(replica, dtype=np.uint64)
        return mix(k + rep * _G + np.uint64(12345))


def _hash(keys: np.ndarray, day: int, stream: int) -> np.ndarray:
    c = np.uint64(((int(day) + 1000) * 131 + int(stream)) & 0xFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        return mix(keys + c * _G)


def uniform(keys: np.ndarray, day: int, stream: int) -> np.ndarray:
    """One U[0,1) per key for (day, stream)."""
    return (_hash(keys, day, stream) >> _S11).astype(np.float64) * _INV53


def uniform2(keys: np.ndarray, day: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent U[0,1) (32-bit resolution) per key from one hash."""
    h = _hash(keys, day, stream)
    lo = (h & np.uint64(0xFFFFFFFF)).astype(np.float64) * _INV32
    hi = (h >> _S32).astype(np.float64) * _INV32
    return lo, hi


def normal(keys: np.ndarray, day: int, stream: int) -> np.ndarray:
    """One standard normal per key (Box-Muller on two 32-bit uniforms)."""
    a, b = uniform2(keys, day, stream)
    return np.sqrt(-2.0 * np.log1p(-a)) * np.cos(2.0 * np.pi * b)
