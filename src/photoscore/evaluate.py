"""Evaluate models on labelled photos: metrics per model and for their ensemble.

Every photo is decoded once: the engine runs all models on it and returns each model's distribution
next to the ensemble's (their average). Results stream in; only labels and predicted distributions
(10 numbers each) are kept. Photos that are missing or cannot be decoded are listed as failures and
left out of the metrics, which come from :func:`photoscore.metrics.evaluate_predictions`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photoscore.distribution import mean_score
from photoscore.labels import LabelEntry, image_path, labels_array
from photoscore.metrics import evaluate_predictions
from photoscore.scoring.engine import Scorer
from photoscore.scoring.results import ScoreResult

ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class Failure:
    """A labelled photo left out of the metrics, and why."""

    image_id: str
    path: str | None
    error: str


@dataclass(frozen=True)
class Predictor:
    """One model, or the ensemble, on the scored photos: predicted mean scores and metrics.

    ``metrics`` holds only ``n`` when they are undefined (fewer than 2 photos, constant scores); ``error``
    then says why.
    """

    name: str
    means: np.ndarray
    metrics: dict[str, float | int]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Metrics as JSON-ready values, with ``error`` when they are undefined."""
        return {**self.metrics, "error": self.error} if self.error else dict(self.metrics)


@dataclass(frozen=True)
class Evaluation:
    """Labels and predictions of the scored photos (in label order), and the photos left out."""

    image_ids: list[str]
    paths: list[str]
    true_means: np.ndarray
    models: list[Predictor]
    ensemble: Predictor | None
    failures: list[Failure]

    @property
    def labelled(self) -> int:
        """Labelled photos, scored or not."""
        return len(self.image_ids) + len(self.failures)

    @property
    def predictors(self) -> list[Predictor]:
        """Each model, then the ensemble when there are several models."""
        return [*self.models, *([self.ensemble] if self.ensemble else [])]

    @property
    def main(self) -> Predictor:
        """The predictor users score with: the ensemble, or the only model."""
        return self.ensemble or self.models[0]

    def to_dict(self) -> dict[str, Any]:
        """Counts, metrics per model and for the ensemble (None with one model), and failures."""
        return {
            "photos": {
                "labelled": self.labelled,
                "scored": len(self.image_ids),
                "failed": len(self.failures),
            },
            "models": {p.name: p.to_dict() for p in self.models},
            "ensemble": self.ensemble.to_dict() if self.ensemble else None,
            "failed": [asdict(f) for f in self.failures],
        }


class EvaluationBuilder:
    """Collects labels and score results one photo at a time; :meth:`result` computes the metrics."""

    def __init__(self, model_names: Sequence[str]) -> None:
        self.model_names = list(model_names)
        self.failures: list[Failure] = []
        self._ids: list[str] = []
        self._paths: list[str] = []
        self._labels: list[LabelEntry] = []
        self._predicted: dict[str, list[list[float] | None]] = {n: [] for n in [*self.model_names, ENSEMBLE]}

    def add(self, entry: LabelEntry, result: ScoreResult) -> None:
        """Add a photo's label and its score result (a failure when the result has an error)."""
        if result.error is not None:
            self.failures.append(Failure(entry.image_id, result.path, result.error))
            return
        self._ids.append(entry.image_id)
        self._paths.append(result.path)
        self._labels.append(entry)
        self._predicted[ENSEMBLE].append(result.distribution)
        for name in self.model_names:
            self._predicted[name].append(result.models[name].distribution)

    def add_missing(self, entry: LabelEntry) -> None:
        """Record a labelled photo whose image file does not exist."""
        self.failures.append(Failure(entry.image_id, None, "no image file with this id"))

    def result(self) -> Evaluation:
        """Metrics of every model, and of the ensemble when there are several."""
        true = labels_array(self._labels)
        models = [self._predictor(name, true) for name in self.model_names]
        ensemble = self._predictor(ENSEMBLE, true) if len(models) > 1 else None
        return Evaluation(
            self._ids, self._paths, np.atleast_1d(mean_score(true)), models, ensemble, list(self.failures)
        )

    def _predictor(self, name: str, true: np.ndarray) -> Predictor:
        pred = np.array(self._predicted[name], dtype=np.float64).reshape(-1, true.shape[1])
        means = np.atleast_1d(mean_score(pred))
        try:
            return Predictor(name, means, evaluate_predictions(true, pred))
        except ValueError as exc:
            return Predictor(name, means, {"n": len(pred)}, error=str(exc))


def evaluate_photos(
    entries: Sequence[LabelEntry],
    image_dir: str | os.PathLike[str],
    scorer: Scorer,
    img_format: str | None = None,
    on_photo: Callable[[], None] | None = None,
) -> Evaluation:
    """Score the photos of labelled ``entries`` in ``image_dir`` and compare them with their labels.

    Image files are found as in training (:func:`photoscore.labels.image_path`). Failures keep the
    label order. ``on_photo`` is called once per entry, scored or not (a progress bar).
    """
    builder = EvaluationBuilder([m.name for m in scorer.models])
    pending: deque[tuple[LabelEntry, bool]] = deque()  # entries ahead of the scorer, and whether found

    def found_paths() -> Iterator[Path]:
        for entry in entries:
            try:
                path = image_path(image_dir, entry.image_id, img_format)
            except FileNotFoundError:
                pending.append((entry, False))
                continue
            pending.append((entry, True))
            yield path

    def take_missing() -> None:
        while pending and not pending[0][1]:
            builder.add_missing(pending.popleft()[0])
            if on_photo:
                on_photo()

    for result in scorer.score(found_paths()):
        take_missing()
        builder.add(pending.popleft()[0], result)
        if on_photo:
            on_photo()
    take_missing()
    return builder.result()
