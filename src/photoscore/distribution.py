"""Score distributions over the 10 NIMA buckets (scores 1..10): normalise, mean, std.

Every function accepts one distribution of shape (10,) or a batch of shape (N, 10). Inputs may be vote
counts or probabilities: they are normalised first. A single distribution gives a float, a batch an array.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

SCORE_BUCKETS = np.arange(1, 11)


def normalize(dist: ArrayLike) -> np.ndarray:
    """Return ``dist`` as float64 with each row summing to 1.

    Raises ValueError on a shape other than (10,) or (N, 10), non-finite or negative entries, or a row
    whose sum is zero.
    """
    arr = np.asarray(dist, dtype=np.float64)
    n_buckets = len(SCORE_BUCKETS)
    if arr.ndim not in (1, 2) or arr.shape[-1] != n_buckets:
        raise ValueError(f"expected shape ({n_buckets},) or (N, {n_buckets}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("distribution contains NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError("distribution contains negative values")
    totals = arr.sum(axis=-1, keepdims=True)
    if np.any(totals == 0):
        raise ValueError("distribution sums to zero")
    return arr / totals


def _as_output(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


def mean_score(dist: ArrayLike) -> float | np.ndarray:
    """Mean score ``sum_i i * p_i`` (i = 1..10) of each distribution."""
    probs = normalize(dist)
    return _as_output(probs @ SCORE_BUCKETS)


def std_score(dist: ArrayLike) -> float | np.ndarray:
    """Standard deviation ``sqrt(sum_i p_i * (i - mean)^2)`` of each distribution."""
    probs = normalize(dist)
    mean = probs @ SCORE_BUCKETS
    deviations = SCORE_BUCKETS - np.expand_dims(mean, -1)
    return _as_output(np.sqrt(np.sum(probs * deviations**2, axis=-1)))
