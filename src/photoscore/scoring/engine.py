"""The scoring engine: decode photos in parallel, batch them, run every model, stream results in order."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from photoscore.images import (
    DEFAULT_MAX_PIXELS,
    DecodePlan,
    ImageError,
    Photo,
    image_id_for,
    load_photo,
    load_photo_bytes,
    plan_decode_bytes,
)
from photoscore.preprocess import Preprocessing
from photoscore.scoring.ensemble import EnsembleMode, check_mode, combine, model_weights
from photoscore.scoring.listing import GroupBy, Ranking, group_labels, rank_groups
from photoscore.scoring.normalize import Method, Normalizer, Scale
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import default_model
from photoscore.scoring.results import ModelScore, ScoreResult

# Called on each decoded photo, on the decoding thread; what it returns travels as ``Decoded.inspection``.
Inspect = Callable[[Photo], Any]


@dataclass
class Decoded:
    """A photo after decoding: one input array per distinct preprocessing (and what ``inspect`` made of
    it), or an error."""

    path: Path
    arrays: dict[Preprocessing, np.ndarray] | None = None
    error: str | None = None
    inspection: Any = None


class Scorer:
    """Scores photos with one or more NIMA ``model.onnx`` files (default: the bundled default model,
    :func:`~photoscore.scoring.registry.default_model`).

    Decoding runs on a thread pool ahead of inference (bounded, so memory stays flat however many
    photos there are); each model sees fixed-size batches; results come back in input order.
    With several models, ``weights`` (equal by default) and ``ensemble`` (see
    :mod:`photoscore.scoring.ensemble`) combine them, and ``models`` keeps each model's scores.
    """

    def __init__(
        self,
        models: Sequence[str | Path | OnnxNimaModel] | None = None,
        batch_size: int = 32,
        workers: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        weights: Sequence[float] | None = None,
        ensemble: EnsembleMode = "distribution",
    ):
        if models is None:
            models = [default_model()]
        if not models:
            raise ValueError("Scorer needs at least one model")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.models = [m if isinstance(m, OnnxNimaModel) else OnnxNimaModel(m) for m in models]
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"two models share a name in their cards: {names}")
        self.weights = model_weights(weights, len(self.models))
        check_mode(ensemble)
        self.ensemble = ensemble
        self.batch_size = batch_size
        self.workers = workers or os.cpu_count() or 1
        self.max_pixels = max_pixels
        self._preprocessings = list(dict.fromkeys(m.card.preprocessing for m in self.models))
        self._biggest = max(max(p.decode_size) for p in self._preprocessings)
        self._reduced = all(p.reduced_jpeg_decode for p in self._preprocessings)

    def score(self, paths: Iterable[str | Path]) -> Iterator[ScoreResult]:
        """Score photos lazily, yielding one result per path in input order."""
        batch: list[Decoded] = []
        for decoded in self.decode(paths):
            batch.append(decoded)
            if len(batch) == self.batch_size:
                yield from self.score_decoded(batch)
                batch = []
        if batch:
            yield from self.score_decoded(batch)

    def score_one(self, path: str | Path) -> ScoreResult:
        """Score a single photo."""
        return next(self.score([path]))

    def rank(
        self,
        paths: Iterable[str | Path],
        group_by: GroupBy | Sequence[str] = "parent",
        normalize: Method = "minmax",
        normalizer: Normalizer | None = None,
        scale: Scale = "0-1",
    ) -> list[Ranking]:
        """Score photos and rank them within groups: ``"parent"`` folders (listings), ``"none"`` (all
        photos together) or one label per path. Each :class:`~photoscore.scoring.listing.Ranking` lists
        its photos best first with ``normalized_score``, ``rank`` and a cover photo."""
        files = [Path(p) for p in paths]
        groups = group_labels(files, group_by)
        return list(rank_groups(self.score(files), groups, normalize, normalizer, scale))

    def decode(
        self, paths: Iterable[str | Path], inspect: Inspect | None = None, min_side: int = 0
    ) -> Iterator[Decoded]:
        """Decode photos on the pool, in input order, keeping about two batches in flight ahead of the
        consumer; :meth:`score_decoded` scores them.

        ``inspect`` runs on each decoded photo on the decoding threads (its result is
        ``Decoded.inspection``), so a photo is decoded once for the models and for whatever else looks at
        it; ``min_side`` keeps reduced JPEG decodes at least that many pixels a side, for an ``inspect``
        that needs more than the models. When the consumer stops early (an interrupt, ``close()``),
        photos not started are dropped and those decoding stop at their next read, so the pool's threads
        end at once.
        """
        window = 2 * self.batch_size + self.workers
        size = self._decode_size(min_side)
        stop = threading.Event()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="photoscore-decode")
        try:
            pending: deque[Future[Decoded]] = deque()
            for path in map(Path, paths):
                load = partial(load_photo, path, min_size=size, max_pixels=self.max_pixels, stop=stop)
                pending.append(pool.submit(self._prepare, path, load, inspect))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def decode_bytes(
        self,
        data: bytes,
        name: str,
        stop: threading.Event | None = None,
        inspect: Inspect | None = None,
        min_side: int = 0,
    ) -> Decoded:
        """Decode and preprocess a photo held in memory (an upload), as :meth:`decode` does a file;
        ``name`` becomes its ``path`` and ``image_id``; once ``stop`` is set, decoding ends early with an
        error. Safe to call from several threads."""
        load = partial(load_photo_bytes, data, name, self._decode_size(min_side), self.max_pixels, stop)
        return self._prepare(Path(name), load, inspect)

    def plan_bytes(self, data: bytes, name: str, min_side: int = 0) -> DecodePlan | None:
        """What :meth:`decode_bytes` will take for this photo, from its header alone (JPEGs at the
        reduced scale they will decode at); None when the header cannot be read."""
        try:
            return plan_decode_bytes(data, name, self._decode_size(min_side))
        except ImageError:
            return None

    def _decode_size(self, min_side: int) -> tuple[int, int] | None:
        """The ``min_size`` of a reduced JPEG decode that covers every model (None: decode in full)."""
        side = max(self._biggest, min_side)
        return (side, side) if self._reduced else None

    def _prepare(self, path: Path, load: Callable[[], Photo], inspect: Inspect | None) -> Decoded:
        """One input array per distinct preprocessing of the photo ``load`` decodes (and its
        inspection), or its error."""
        try:
            photo = load()
            arrays = {p: p.to_array(photo.image) for p in self._preprocessings}
        except ImageError as exc:
            return Decoded(path, error=exc.reason)
        return Decoded(path, arrays=arrays, inspection=inspect(photo) if inspect else None)

    def score_decoded(self, batch: Sequence[Decoded]) -> list[ScoreResult]:
        """Score decoded photos (see :meth:`decode_bytes`) in one run per model; results in their order."""
        good = [d for d in batch if d.arrays is not None]
        scored = iter(self._scored(good) if good else [])
        return [
            next(scored)
            if decoded.arrays is not None
            else ScoreResult(image_id_for(decoded.path), str(decoded.path), error=decoded.error)
            for decoded in batch
        ]

    def _scored(self, good: list[Decoded]) -> list[ScoreResult]:
        """Run every model on the decoded photos and combine their distributions."""
        per_model = []
        for model in self.models:
            prep = model.card.preprocessing
            per_model.append(model.predict(np.stack([d.arrays[prep] for d in good])))  # type: ignore[index]
        scores = combine(np.stack(per_model), self.weights, self.ensemble)
        return [
            ScoreResult(
                image_id=image_id_for(decoded.path),
                path=str(decoded.path),
                mean_score_prediction=float(scores.mean[i]),
                std_score_prediction=float(scores.std[i]),
                distribution=[float(p) for p in scores.distribution[i]],
                models={
                    model.name: ModelScore(
                        float(scores.model_means[m, i]),
                        float(scores.model_stds[m, i]),
                        [float(p) for p in per_model[m][i]],
                    )
                    for m, model in enumerate(self.models)
                },
            )
            for i, decoded in enumerate(good)
        ]
