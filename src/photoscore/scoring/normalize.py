"""Spread mean scores onto 0..1, then onto a 0-1, 0-10 or 0-100 scale; fit, save and load normalisers.

Raw NIMA means crowd around 5, so scores are shown normalised. A :class:`Normalizer` is fitted on a set of
mean scores (one listing, one batch, or a reference set saved as ``norm.json``) and maps any mean score x:

============ ============================================== ==================================
method       value in 0..1                                  fitted on one score or equal ones
============ ============================================== ==================================
minmax       (x - min) / (max - min), clipped to 0..1       0.5 for every x
zscore       normal CDF of (x - mean) / std (population     0.5 for every x
             std): 0.5 at the mean, 0.84 one std above
percentile   (fitted scores below x + half of those equal   0.5 for x equal to them,
             to x) / their count                            0 below, 1 above
none         (x - 1) / 9, clipped: scores 1..10 as they     (no fit)
             are, mapped linearly
============ ============================================== ==================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from photoscore.atomic import write_atomic

Method = Literal["minmax", "zscore", "percentile", "none"]
METHODS: tuple[Method, ...] = ("minmax", "zscore", "percentile", "none")
Scale = Literal["0-1", "0-10", "0-100"]
SCALES: dict[Scale, float] = {"0-1": 1.0, "0-10": 10.0, "0-100": 100.0}
FILE_FORMAT = "photoscore.normalizer"
FILE_VERSION = 1

_PARAM_NAMES: dict[str, set[str]] = {
    "minmax": {"min", "max"},
    "zscore": {"mean", "std"},
    "percentile": {"scores"},
    "none": set(),
}
_erf = np.vectorize(math.erf, otypes=[float])


class NormalizerFileError(ValueError):
    """A ``norm.json`` that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class Normalizer:
    """Maps mean scores onto 0..1 with parameters fitted on a set of mean scores.

    ``models`` and ``weights`` record the ensemble the scores came from, so that a saved normaliser is
    only applied to scores of the same ensemble.
    """

    method: Method
    params: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    models: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()

    @classmethod
    def fit(cls, method: Method, scores: ArrayLike) -> Normalizer:
        """Fit ``method`` on mean scores; raises ValueError on no scores or non-finite ones."""
        values = np.asarray(scores, dtype=np.float64).ravel()
        if method not in METHODS:
            raise ValueError(f"unknown normalisation {method!r}; use one of {', '.join(METHODS)}")
        if values.size == 0:
            raise ValueError("no scores to fit a normaliser on")
        if not np.all(np.isfinite(values)):
            raise ValueError("scores contain NaN or infinite values")
        if method == "minmax":
            params: dict[str, Any] = {"min": float(values.min()), "max": float(values.max())}
        elif method == "zscore":
            params = {"mean": float(values.mean()), "std": float(values.std())}
        elif method == "percentile":
            params = {"scores": sorted(values.tolist())}
        else:
            params = {}
        return cls(method, params, int(values.size))

    def unit(self, scores: ArrayLike) -> np.ndarray:
        """Mean scores -> values in 0..1 (see the module's table)."""
        x = np.asarray(scores, dtype=np.float64)
        p = self.params
        if self.method == "minmax":
            spread = p["max"] - p["min"]
            return np.clip((x - p["min"]) / spread, 0.0, 1.0) if spread > 0 else np.full_like(x, 0.5)
        if self.method == "zscore":
            if p["std"] == 0:
                return np.full_like(x, 0.5)
            return 0.5 * (1.0 + _erf((x - p["mean"]) / (p["std"] * math.sqrt(2.0))))
        if self.method == "percentile":
            fitted = np.asarray(p["scores"], dtype=np.float64)
            below = np.searchsorted(fitted, x, side="left")
            up_to = np.searchsorted(fitted, x, side="right")
            return (below + up_to) / (2.0 * fitted.size)
        return np.clip((x - 1.0) / 9.0, 0.0, 1.0)

    def apply(self, scores: ArrayLike, scale: Scale = "0-1") -> np.ndarray:
        """Mean scores -> normalised scores on ``scale``."""
        return self.unit(scores) * SCALES[scale]

    def check_ensemble(self, models: Sequence[str], weights: Sequence[float]) -> None:
        """Raise ValueError when this normaliser was fitted on another ensemble's scores."""
        if not self.models:
            return
        same_weights = len(weights) == len(self.weights) and np.allclose(self.weights, weights, atol=1e-6)
        if list(self.models) != list(models) or not same_weights:
            raise ValueError(
                f"the normaliser was fitted on scores of models {list(self.models)} with weights "
                f"{list(self.weights)}, not of {list(models)} with {[round(w, 6) for w in weights]}"
            )

    def save(self, path: str | Path) -> Path:
        """Write this normaliser as JSON (``norm.json``), atomically."""
        path = Path(path)
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "method": self.method,
            "params": self.params,
            "count": self.count,
            "models": list(self.models),
            "weights": list(self.weights),
        }
        write_atomic(path, (json.dumps(document, indent=1) + "\n").encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        """Read a ``norm.json``; raises NormalizerFileError naming the file and what is wrong."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NormalizerFileError(f"{path}: cannot read a normaliser ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
            raise NormalizerFileError(f"{path}: not a photoscore normaliser file (no format {FILE_FORMAT!r})")
        if document.get("version") != FILE_VERSION:
            raise NormalizerFileError(
                f"{path}: normaliser version {document.get('version')} is not supported"
            )
        method, params = document.get("method"), document.get("params")
        if method not in _PARAM_NAMES or not isinstance(params, dict) or set(params) != _PARAM_NAMES[method]:
            raise NormalizerFileError(f"{path}: unknown method {method!r} or wrong parameters {params!r}")
        values = params["scores"] if method == "percentile" else list(params.values())
        if (method == "percentile" and not values) or not all(_is_number(v) for v in values):
            raise NormalizerFileError(f"{path}: parameters must be finite numbers, got {params!r}")
        if method == "percentile":
            params = {"scores": sorted(values)}
        return cls(
            method=method,
            params=params,
            count=int(document.get("count", 0)),
            models=tuple(document.get("models", ())),
            weights=tuple(float(w) for w in document.get("weights", ())),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
