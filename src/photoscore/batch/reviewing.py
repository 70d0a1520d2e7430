"""Reviewing rows of a Ray Dataset: :class:`PhotoReviewer`, the callable class each actor runs (a
:class:`~photoscore.review.reviewer.Reviewer` over the actor's scorer), and :func:`review_dataset`.

Each photo is decoded once for the models, the room model, the checks and the hashes, as
``photoscore review`` does; its row gets the score columns of :func:`~photoscore.batch.photos.score_schema`
and the review's per-photo columns of :func:`review_schema`. The listing decision needs all of a
listing's photos and is a later pass (:mod:`photoscore.batch.decisions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from photoscore.batch.fetch import FetchError, is_remote, local_path
from photoscore.batch.photos import (
    DEFAULT_ROWS_PER_CALL,
    DEFAULT_THREADS,
    ModelBlob,
    PhotoScorer,
    map_photos,
)
from photoscore.review.photo import ANALYSIS_SIDE
from photoscore.review.presets import Preset, as_preset
from photoscore.review.results import PhotoReview
from photoscore.review.reviewer import Reviewer, tie_band
from photoscore.review.rooms import RoomModel
from photoscore.scoring.engine import Decoded
from photoscore.scoring.onnx_model import read_card
from photoscore.scoring.results import DECIMALS, ScoreResult

if TYPE_CHECKING:
    import ray.data

# The checks a review runs, in the order Reviewer.inspect gives them (a fixed schema for every part).
CHECKS = (
    "size", "orientation", "aspect", "dark", "overexposed", "contrast", "black_and_white", "tilt",
    "borders", "low_information", "focus", "sharpness",
)  # fmt: skip
EMBEDDING = pa.list_(pa.float32())


def review_fields() -> list[pa.Field]:
    """The columns a review adds to the score columns."""
    fields = [
        pa.field("room", pa.string()),
        pa.field("room_probability", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
    ]
    for name in CHECKS:
        fields += [pa.field(f"{name}.value", pa.float64()), pa.field(f"{name}.verdict", pa.string())]
    return [
        *fields,
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("digest", pa.string()),
        pa.field("phash", pa.string()),
        pa.field("embedding", EMBEDDING),
    ]


class PhotoReviewer(PhotoScorer):
    """Ray Data callable class: a batch with a column of photo locations -> the same rows with the score
    columns and the review's per-photo columns (:func:`review_fields`), before any listing decision."""

    def __init__(self, models: Sequence[ModelBlob] | Any, *, preset: str | Preset = "none", **options: Any):
        super().__init__(models, **{**options, "normalizer": None})
        self.reviewer = Reviewer(self.scorer, as_preset(preset), RoomModel(threads=options.get("threads")))
        score = self.schema
        self.schema = pa.schema([*score.remove(score.get_field_index("error")), *review_fields(),
                                 score.field("error")])  # fmt: skip

    def __call__(self, batch: pa.Table) -> pa.Table:
        reviews = self.review_locations(batch.column(self.path_column).to_pylist())
        columns = self.review_columns(reviews)
        kept = batch.drop_columns([n for n in columns.column_names if n in batch.column_names])
        for field, column in zip(columns.schema, columns.columns, strict=True):
            kept = kept.append_column(field, column)
        return kept

    def review_locations(self, locations: Sequence[str | None]) -> list[PhotoReview]:
        """One review per location, in order (index = position in ``locations``)."""
        reviews: list[PhotoReview | None] = [None] * len(locations)
        local, remote = [], []
        for index, location in enumerate(locations):
            if not location or not location.strip():
                result = ScoreResult("", location or "", error="no photo location in this row")
                reviews[index] = PhotoReview(index, result)
            elif is_remote(location.strip()):
                remote.append((index, location.strip()))
            else:
                local.append((index, local_path(location.strip())))
        for (index, _), review in zip(local, self.reviewer.review_photos(p for _, p in local), strict=True):
            review.index = index
            reviews[index] = review
        size = self.scorer.batch_size
        with ThreadPoolExecutor(self.fetch_threads, thread_name_prefix="photoscore-fetch") as pool:
            for start in range(0, len(remote), size):
                chunk = remote[start : start + size]
                decoded = list(pool.map(self._fetch_decode_for_review, [u for _, u in chunk]))
                for (index, uri), review in zip(chunk, self.reviewer.review_decoded(decoded), strict=True):
                    review.index = index
                    review.result.path = uri
                    review.result.image_id = PurePosixPath(urlsplit(uri).path).stem
                    reviews[index] = review
        return reviews  # type: ignore[return-value]

    def review_columns(self, reviews: Sequence[PhotoReview]) -> pa.Table:
        """Reviews -> a table of :attr:`schema` (the score columns filled by :meth:`columns`)."""
        scores = self.columns([r.result for r in reviews])
        rows = []
        for review in reviews:
            width, height = review.size or (None, None)
            row: dict[str, Any] = {
                "room": review.room,
                "room_probability": _round(review.room_probability),
                "width": width,
                "height": height,
                "reasons": review.reasons,
                "digest": review.digest,
                "phash": review.phash,
                "embedding": None if review.embedding is None else np.asarray(review.embedding, np.float32),
            }
            for check in review.checks:
                row[f"{check.name}.value"], row[f"{check.name}.verdict"] = _round(check.value), check.verdict
            rows.append(row)
        added = pa.Table.from_pylist(rows, schema=pa.schema(review_fields()))
        for field, column in zip(added.schema, added.columns, strict=True):
            scores = scores.set_column(scores.schema.get_field_index(field.name), field, column)
        return scores

    def _fetch_decode_for_review(self, uri: str) -> Decoded:
        try:
            data = self.fetcher.fetch(uri)
        except FetchError as exc:
            return Decoded(Path(uri), error=str(exc))
        return self.scorer.decode_bytes(data, uri, inspect=self.reviewer.inspect, min_side=ANALYSIS_SIDE)


def review_dataset(
    dataset: ray.data.Dataset,
    models: Sequence[str | Path],
    *,
    preset: str | Preset = "none",
    path_column: str = "path",
    actors: int | None = None,
    threads: int = DEFAULT_THREADS,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
    **scorer_options: Any,
) -> ray.data.Dataset:
    """A Dataset of photo locations -> the same rows with the score and per-photo review columns
    (room, each check's ``<check>.value``/``<check>.verdict``, ``reasons``, ``digest``, ``phash``,
    ``embedding``), as :func:`~photoscore.batch.photos.score_dataset` does for scores. Lazy."""
    return map_photos(
        dataset,
        PhotoReviewer,
        models,
        path_column,
        actors,
        threads,
        rows_per_call,
        preset=preset,
        **scorer_options,
    )


def review_band(models: Sequence[str | Path]) -> float:
    """The tie band of these model files (their cards' repeatability), as the Reviewer would use."""
    return tie_band([read_card(m) for m in models])


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)
