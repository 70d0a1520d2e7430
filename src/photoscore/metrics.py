"""Evaluation metrics for NIMA predictions: EMD, PLCC, SRCC, KRCC and binary accuracy.

numpy only, except the three correlations, which import scipy when called (scipy is in the ``train`` and
``dev`` extras, not in the core install).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from photoscore.distribution import mean_score, normalize


def emd(y_true: ArrayLike, y_pred: ArrayLike, r: float = 2) -> np.ndarray:
    """Earth Mover's Distance per sample: ``(mean_k |CDF_true - CDF_pred|^r)^(1/r)``.

    Both inputs (counts or probabilities, shape (10,) or (N, 10)) are normalised to sum 1; the mean runs
    over all 10 buckets. Returns shape (N,), (1,) for a single distribution. ``r`` must be >= 1.
    """
    if r < 1:
        raise ValueError(f"r must be >= 1, got {r}")
    true = np.atleast_2d(normalize(y_true))
    pred = np.atleast_2d(normalize(y_pred))
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {true.shape} vs {pred.shape}")
    cdf_diff = np.abs(np.cumsum(true, axis=-1) - np.cumsum(pred, axis=-1))
    return np.mean(cdf_diff**r, axis=-1) ** (1.0 / r)


def _undefined(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a correlation of ``a`` and ``b`` is undefined: fewer than 2 samples or a constant input."""
    return a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0


def _paired_scores(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate two score vectors for a correlation: 1-D, same length, >= 2 finite values, not constant."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"expected two 1-D arrays of the same length, got shapes {a.shape} and {b.shape}")
    if a.size < 2:
        raise ValueError(f"a correlation needs at least 2 samples, got {a.size}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("scores contain NaN or infinite values")
    for name, values in (("first", a), ("second", b)):
        if np.ptp(values) == 0:
            raise ValueError(f"the {name} input is constant ({values[0]}): the correlation is undefined")
    return a, b


def plcc(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson linear correlation. Raises ValueError on < 2 samples or a constant input."""
    from scipy import stats

    return float(stats.pearsonr(*_paired_scores(x, y)).statistic)


def srcc(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation. Raises ValueError on < 2 samples or a constant input."""
    from scipy import stats

    return float(stats.spearmanr(*_paired_scores(x, y)).statistic)


def krcc(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall rank correlation (tau-b). Raises ValueError on < 2 samples or a constant input."""
    from scipy import stats

    return float(stats.kendalltau(*_paired_scores(x, y)).statistic)


def binary_accuracy(true_means: ArrayLike, pred_means: ArrayLike, threshold: float = 5.0) -> float:
    """Fraction of samples whose true and predicted mean scores fall on the same side of ``threshold``.

    As in the NIMA paper, a score counts as high only when strictly above the threshold: a value exactly
    at the threshold counts as low.
    """
    true = np.asarray(true_means, dtype=np.float64)
    pred = np.asarray(pred_means, dtype=np.float64)
    if true.ndim != 1 or true.shape != pred.shape:
        raise ValueError(
            f"expected two 1-D arrays of the same length, got shapes {true.shape} and {pred.shape}"
        )
    if true.size == 0:
        raise ValueError("no samples")
    if not (np.all(np.isfinite(true)) and np.all(np.isfinite(pred))):
        raise ValueError("scores contain NaN or infinite values")
    return float(np.mean((true > threshold) == (pred > threshold)))


def evaluate_predictions(
    true_dists: ArrayLike, pred_dists: ArrayLike, undefined_correlations: Literal["raise", "nan"] = "raise"
) -> dict[str, float | int]:
    """All metrics for (N, 10) true and predicted distributions (counts or probabilities).

    Correlations, accuracy (threshold 5), mean absolute error and root mean square error use mean
    scores; ``emd`` (r=2) and ``emd_r1`` are averaged over samples. Raises ValueError on mismatched
    shapes or no samples. Correlations are undefined for fewer than 2 samples or constant mean scores
    (see ``plcc``): ValueError, or NaN with ``undefined_correlations="nan"``.
    """
    true = normalize(true_dists)
    pred = normalize(pred_dists)
    if true.ndim != 2 or true.shape != pred.shape:
        raise ValueError(f"expected two (N, 10) arrays of the same shape, got {true.shape} and {pred.shape}")
    if true.shape[0] == 0:
        raise ValueError("no samples: metrics need at least 2 scored photos")
    true_means = mean_score(true)
    pred_means = mean_score(pred)
    errors = true_means - pred_means

    def correlation(func: Callable[[ArrayLike, ArrayLike], float]) -> float:
        try:
            return func(true_means, pred_means)
        except ValueError:
            if undefined_correlations == "raise" or not _undefined(true_means, pred_means):
                raise
            return math.nan

    return {
        "n": int(true.shape[0]),
        "plcc": correlation(plcc),
        "srcc": correlation(srcc),
        "krcc": correlation(krcc),
        "accuracy": binary_accuracy(true_means, pred_means),
        "emd": float(np.mean(emd(true, pred, r=2))),
        "emd_r1": float(np.mean(emd(true, pred, r=1))),
        "mean_abs_error": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
    }
