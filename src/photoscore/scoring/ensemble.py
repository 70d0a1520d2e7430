"""Combine several models' distributions for the same photos into one score.

Two ways, both weighted (weights are normalised to sum to 1):

- ``distribution`` (default): average the 10-bucket distributions; mean and std are those of the average.
  The std then includes the models' disagreement (a photo one model calls 4 and another 7 is uncertain).
- ``mean``: average the models' mean scores and their stds, as the original project averaged two
  models' means; the std is the models' own average uncertainty, their disagreement left out.

The mean score is linear in the distribution, so both give the same mean; they differ in the std.
``distribution`` in a result is the weighted average distribution either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from photoscore.distribution import mean_score, std_score

EnsembleMode = Literal["distribution", "mean"]
ENSEMBLE_MODES: tuple[EnsembleMode, ...] = ("distribution", "mean")


@dataclass(frozen=True)
class Combined:
    """Scores of N photos by M models and their ensemble."""

    model_means: np.ndarray  # (M, N)
    model_stds: np.ndarray  # (M, N)
    mean: np.ndarray  # (N,)
    std: np.ndarray  # (N,)
    distribution: np.ndarray  # (N, 10)


def model_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """Weights for ``count`` models, normalised to sum to 1; ``None`` weighs them equally.

    Raises ValueError for a wrong count, a negative or non-finite weight, or weights summing to zero.
    """
    if weights is None:
        return np.full(count, 1.0 / count)
    arr = np.asarray(weights, dtype=np.float64)
    if arr.shape != (count,):
        raise ValueError(f"one weight per model: expected {count}, got {len(arr)}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.max() <= 0:
        raise ValueError(f"weights must be non-negative numbers with a positive sum, got {list(weights)}")
    arr = arr / arr.max()  # first, so that the sum of huge weights (1e308 + 1e308) cannot overflow
    return arr / arr.sum()


def check_mode(mode: str) -> None:
    """Raise ValueError unless ``mode`` is one of :data:`ENSEMBLE_MODES`."""
    if mode not in ENSEMBLE_MODES:
        raise ValueError(f"unknown ensemble mode {mode!r}; use one of {', '.join(ENSEMBLE_MODES)}")


def combine(per_model: np.ndarray, weights: np.ndarray, mode: EnsembleMode = "distribution") -> Combined:
    """(M, N, 10) distributions of N photos by M models -> each model's and the ensemble's scores.

    ``weights`` are M weights summing to 1 (see :func:`model_weights`).
    """
    check_mode(mode)
    flat = per_model.reshape(-1, per_model.shape[-1])
    means = np.asarray(mean_score(flat)).reshape(per_model.shape[:2])
    stds = np.asarray(std_score(flat)).reshape(per_model.shape[:2])
    distribution = np.tensordot(weights, per_model, axes=1)
    if mode == "distribution":
        mean, std = np.asarray(mean_score(distribution)), np.asarray(std_score(distribution))
    else:
        mean, std = weights @ means, weights @ stds
    return Combined(means, stds, mean, std, distribution)
