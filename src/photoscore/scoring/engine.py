"""The scoring engine: decode photos in parallel, batch them, run every model, stream results in order."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoscore.distribution import mean_score, std_score
from photoscore.images import DEFAULT_MAX_PIXELS, ImageError, image_id_for, load_image
from photoscore.preprocess import Preprocessing
from photoscore.scoring.onnx_model import OnnxNimaModel


@dataclass
class ModelScore:
    """One model's opinion of one photo."""

    mean: float
    std: float


@dataclass
class ScoreResult:
    """The scores of one photo, or the reason it could not be scored."""

    image_id: str
    path: str
    mean_score_prediction: float | None = None
    std_score_prediction: float | None = None
    distribution: list[float] | None = None
    models: dict[str, ModelScore] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Decoded:
    """A photo after decoding: one input array per distinct preprocessing, or an error."""

    path: Path
    arrays: dict[Preprocessing, np.ndarray] | None = None
    error: str | None = None


class Scorer:
    """Scores photos with one or more NIMA ``model.onnx`` files.

    Decoding runs on a thread pool ahead of inference (bounded, so memory stays flat however many
    photos there are); each model sees fixed-size batches; results come back in input order.
    With several models, the distribution is their average and ``models`` keeps each model's scores.
    """

    def __init__(
        self,
        models: Sequence[str | Path | OnnxNimaModel],
        batch_size: int = 32,
        workers: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if not models:
            raise ValueError("Scorer needs at least one model")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.models = [m if isinstance(m, OnnxNimaModel) else OnnxNimaModel(m) for m in models]
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"two models share a name in their cards: {names}")
        self.batch_size = batch_size
        self.workers = workers or os.cpu_count() or 1
        self.max_pixels = max_pixels
        self._preprocessings = list(dict.fromkeys(m.card.preprocessing for m in self.models))
        biggest = max(max(p.input_size) for p in self._preprocessings)
        self._decode_size = (biggest, biggest)

    def score(self, paths: Iterable[str | Path]) -> Iterator[ScoreResult]:
        """Score photos lazily, yielding one result per path in input order."""
        batch: list[_Decoded] = []
        for decoded in self._decode_ahead(Path(p) for p in paths):
            batch.append(decoded)
            if len(batch) == self.batch_size:
                yield from self._run_models(batch)
                batch = []
        if batch:
            yield from self._run_models(batch)

    def score_one(self, path: str | Path) -> ScoreResult:
        """Score a single photo."""
        return next(self.score([path]))

    def _decode_ahead(self, paths: Iterator[Path]) -> Iterator[_Decoded]:
        """Decode on the pool, keeping about two batches in flight ahead of the consumer."""
        window = 2 * self.batch_size + self.workers
        with ThreadPoolExecutor(self.workers, thread_name_prefix="photoscore-decode") as pool:
            pending: deque[Future[_Decoded]] = deque()
            for path in paths:
                pending.append(pool.submit(self._decode, path))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _decode(self, path: Path) -> _Decoded:
        try:
            image = load_image(path, min_size=self._decode_size, max_pixels=self.max_pixels)
            arrays = {p: p.to_array(image) for p in self._preprocessings}
        except ImageError as exc:
            return _Decoded(path, error=exc.reason)
        return _Decoded(path, arrays=arrays)

    def _run_models(self, batch: list[_Decoded]) -> list[ScoreResult]:
        good = [d for d in batch if d.arrays is not None]
        per_model: list[np.ndarray] = []
        if good:
            for model in self.models:
                prep = model.card.preprocessing
                inputs = np.stack([d.arrays[prep] for d in good])  # type: ignore[index]
                per_model.append(model.predict(inputs))
        distributions = iter(np.mean(per_model, axis=0) if good else [])
        per_model_rows = iter(np.stack(per_model, axis=1) if good else [])
        results = []
        for decoded in batch:
            result = ScoreResult(image_id=image_id_for(decoded.path), path=str(decoded.path))
            if decoded.error is not None:
                result.error = decoded.error
            else:
                self._fill(result, next(distributions), next(per_model_rows))
            results.append(result)
        return results

    def _fill(self, result: ScoreResult, distribution: np.ndarray, model_rows: np.ndarray) -> None:
        result.distribution = [float(p) for p in distribution]
        result.mean_score_prediction = float(mean_score(distribution))
        result.std_score_prediction = float(std_score(distribution))
        result.models = {
            model.name: ModelScore(mean=float(mean_score(row)), std=float(std_score(row)))
            for model, row in zip(self.models, model_rows, strict=True)
        }
