"""Mean opinion scores (MOS) to 10-bucket distributions for NIMA training.

Method. The scale of the scores (``0-100``, ``1-5`` or ``min,max``) maps linearly onto 1..10: its minimum
to 1, its maximum to 10; a std scales by the same factor, ``9 / (max - min)``. Each image then gets the
maximum-entropy distribution over the scores 1..10 whose mean and std are exactly the rescaled MOS and std:
``p_k ∝ exp(a*k + b*k²)``. With ``b < 0`` that is a normal density sampled at 1..10 and renormalised, a
discretised normal whose parameters are solved (Newton's method on the convex dual, numpy only) so that the
*discrete* distribution has the wanted mean and std; plain discretisation of a normal with the MOS as its
mean would pull the mean towards 5.5 near the ends of the scale. When the std is larger than a bell allows
(``b > 0``) the distribution is U-shaped, as the votes must have been.

Without a std the spread defaults to ``DEFAULT_STD`` = 1.5 score points (typical of AVA's vote
distributions, and of LIVE's ratings rescaled). Impossible cases are clipped, each with a note: a mean
at 1 or 10 moves ``EDGE`` inside the range, and a std outside what a distribution on 1..10 with that mean
can have (between ``sqrt(f(1-f))``, f the fractional part of the mean, and ``sqrt((mean-1)(10-mean))``)
moves ``STD_MARGIN`` inside those bounds.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoscore.distribution import SCORE_BUCKETS
from photoscore.labels import LabelEntry, check_image_id, strip_image_extension

LOW, HIGH = float(SCORE_BUCKETS[0]), float(SCORE_BUCKETS[-1])
DEFAULT_STD = 1.5
EDGE = 0.005
STD_MARGIN = 0.01
PRESET_SCALES = {"0-100": (0.0, 100.0), "1-5": (1.0, 5.0)}
DECIMALS = 6

_CENTER, _HALF = (LOW + HIGH) / 2, (HIGH - LOW) / 2
_Z = (SCORE_BUCKETS - _CENTER) / _HALF  # scores on [-1, 1] keep the solver well conditioned
_FEATURES = np.stack([_Z, _Z**2])
_RANGE = re.compile(r"^\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*-\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*$", re.IGNORECASE)


class MosError(ValueError):
    """MOS input that cannot be converted."""


@dataclass(frozen=True)
class Scale:
    """A rating scale mapped linearly onto the scores 1..10."""

    low: float
    high: float

    @property
    def factor(self) -> float:
        """Score points per unit of the scale."""
        return (HIGH - LOW) / (self.high - self.low)

    def to_score(self, value: float) -> float:
        """A rating as a score on 1..10; raise MosError outside the scale."""
        if not self.low <= value <= self.high:
            raise MosError(f"{value:g} is outside the scale {self.low:g}..{self.high:g}")
        return LOW + (value - self.low) * self.factor

    def to_score_std(self, std: float) -> float:
        """A std of ratings as a std of scores."""
        if std < 0:
            raise MosError(f"std {std:g} is negative")
        return std * self.factor


def parse_scale(text: str) -> Scale:
    """``"0-100"``, ``"1-5"``, ``"min,max"`` (or ``"min-max"``) -> Scale; raise MosError otherwise."""
    text = text.strip()
    if text in PRESET_SCALES:
        return Scale(*PRESET_SCALES[text])
    match = _RANGE.match(text)
    parts = match.groups() if match else text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise MosError(f"scale {text!r}: expected 0-100, 1-5 or min,max") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise MosError(f"scale {text!r}: the minimum must be below the maximum")
    return Scale(low, high)


def std_bounds(mean: float) -> tuple[float, float]:
    """The smallest and largest std of a distribution on 1..10 with this mean."""
    frac = mean - math.floor(mean)
    return math.sqrt(frac * (1 - frac)), math.sqrt(max((mean - LOW) * (HIGH - mean), 0.0))


@dataclass(frozen=True)
class Fit:
    """A distribution over 1..10 and the mean and std it was fitted to (after any clipping)."""

    probabilities: np.ndarray
    mean: float
    std: float
    note: str | None = None


def fit_distribution(mean: float, std: float | None = None) -> Fit:
    """The maximum-entropy distribution over 1..10 with this mean and std (``DEFAULT_STD`` when None)."""
    notes = []
    if std is None:
        std = DEFAULT_STD
    target_mean = _clip(mean, LOW + EDGE, HIGH - EDGE)
    if target_mean != mean:
        notes.append(f"mean {mean:.3f} is at the edge of 1..10; used {target_mean:.3f}")
    low, high = std_bounds(target_mean)
    target_std = _clip(std, low + STD_MARGIN, high - STD_MARGIN)
    if target_std != std:
        notes.append(
            f"std {std:.3f} is at or beyond what 1..10 allows with mean {target_mean:.3f} "
            f"({low:.3f} to {high:.3f}); used {target_std:.3f}"
        )
    return Fit(_max_entropy(target_mean, target_std), target_mean, target_std, "; ".join(notes) or None)


def _clip(value: float, low: float, high: float) -> float:
    """``value`` moved into [low, high]; unchanged when only rounding puts it outside."""
    clipped = min(max(value, low), high)
    return clipped if abs(clipped - value) > 1e-9 else value


def _max_entropy(mean: float, std: float, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Solve p ∝ exp(theta · (z, z²)) for E[z], E[z²] by Newton's method with backtracking."""
    z_mean, z_std = (mean - _CENTER) / _HALF, std / _HALF
    target = np.array([z_mean, z_std**2 + z_mean**2])
    theta = np.zeros(2)
    value = _dual(theta, target)
    for _ in range(max_iter):
        probs = _probabilities(theta)
        moments = _FEATURES @ probs
        gradient = moments - target
        if np.abs(gradient).max() < tol:
            break
        hessian = (_FEATURES * probs) @ _FEATURES.T - np.outer(moments, moments)
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        theta, value = _line_search(theta, step, gradient @ step, value, target)
    return _probabilities(theta)


def _line_search(
    theta: np.ndarray, step: np.ndarray, decrease: float, value: float, target: np.ndarray
) -> tuple[np.ndarray, float]:
    """Halve the Newton step until the dual falls enough (Armijo rule)."""
    rate = 1.0
    while True:
        new_theta = theta - rate * step
        new_value = _dual(new_theta, target)
        if new_value <= value - 1e-4 * rate * decrease or rate < 1e-10:
            return new_theta, new_value
        rate /= 2


def _probabilities(theta: np.ndarray) -> np.ndarray:
    logits = theta @ _FEATURES
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def _dual(theta: np.ndarray, target: np.ndarray) -> float:
    """log Z(theta) - theta · target: convex, minimised where the moments match the target."""
    logits = theta @ _FEATURES
    top = logits.max()
    return float(top + np.log(np.exp(logits - top).sum()) - theta @ target)


@dataclass
class MosConversion:
    """Label entries made from a MOS table, and notes on rows that needed clipping."""

    entries: list[LabelEntry]
    notes: list[str]


def convert_mos_csv(
    path: str | os.PathLike[str],
    image_column: str,
    mos_column: str,
    std_column: str | None,
    scale: Scale,
    default_std: float = DEFAULT_STD,
) -> MosConversion:
    """Read a CSV of ratings into label entries; raise MosError naming every bad row.

    Image names lose a supported image extension (``3.webp`` -> id ``3``). ``default_std`` (in score
    points, 1..10) is used when there is no std column or a row's std cell is empty.
    """
    entries: list[LabelEntry] = []
    notes: list[str] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        _check_columns(path, reader.fieldnames, [image_column, mos_column, std_column])
        for row in reader:
            line = reader.line_num
            try:
                image_id, mean, std = _read_row(row, image_column, mos_column, std_column, scale)
                if image_id in first_line:
                    raise MosError(f"image {image_id!r} repeats line {first_line[image_id]}")
            except MosError as exc:
                problems.append(f"line {line}: {exc}")
                continue
            first_line[image_id] = line
            entry, note = _entry(image_id, mean, std, default_std, std_column is not None)
            entries.append(entry)
            if note:
                notes.append(f"line {line} ({image_id}): {note}")
    if problems:
        shown = "\n".join(f"{path}, {p}" for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise MosError(shown + more)
    if not entries:
        raise MosError(f"{path}: no rows")
    return MosConversion(entries, notes)


def _entry(
    image_id: str, mean: float, std: float | None, default_std: float, has_std_column: bool
) -> tuple[LabelEntry, str | None]:
    """The label of one row, and a note when its std was missing or clipped."""
    fit = fit_distribution(mean, default_std if std is None else std)
    notes = ["no std, used the default"] if std is None and has_std_column else []
    notes += [fit.note] if fit.note else []
    label = tuple(round(float(p), DECIMALS) for p in fit.probabilities)
    return LabelEntry(image_id, label), "; ".join(notes) or None


def _check_columns(
    path: str | os.PathLike[str], found: Sequence[str] | None, wanted: list[str | None]
) -> None:
    columns = list(found or [])
    missing = [c for c in wanted if c is not None and c not in columns]
    if missing:
        raise MosError(
            f"{path}: no column {', '.join(map(repr, missing))}; columns are {', '.join(columns) or 'none'}"
        )


def _read_row(
    row: dict[str, str | None], image_column: str, mos_column: str, std_column: str | None, scale: Scale
) -> tuple[str, float, float | None]:
    name = (row.get(image_column) or "").strip()
    try:
        image_id = check_image_id(strip_image_extension(name))
    except ValueError as exc:
        raise MosError(f"image {name!r}: {exc}") from None
    mean = scale.to_score(_number(row.get(mos_column), mos_column))
    std_text = (row.get(std_column) or "").strip() if std_column else ""
    std = scale.to_score_std(_number(std_text, std_column)) if std_column and std_text else None
    return image_id, mean, std


def _number(text: str | None, column: str | None) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise MosError(f"{column} {text or ''!r} is not a number") from None
    if not math.isfinite(value):
        raise MosError(f"{column} {text!r} is not a finite number")
    return value
