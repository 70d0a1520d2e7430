"""Scoring rows of a Ray Dataset: :class:`PhotoScorer`, the callable class each actor runs, and
:func:`score_dataset`, which maps a Dataset of photo locations to one with their scores.

Each actor loads the models once (their bytes travel with the actor's arguments, so the nodes need no
shared folder) and scores the rows of each batch it is given. Local files go through
``Scorer.score``, which decodes on a thread pool while the previous batch runs through the models;
photos at URIs are fetched and decoded on a larger thread pool (fetching waits on the network, not the
CPU), then scored with ``Scorer.score_decoded``. Either way a photo scores as ``photoscore score``
scores it, and one that cannot be fetched or decoded keeps its row with ``error``.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from photoscore.batch.fetch import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT,
    Fetcher,
    FetchError,
    is_remote,
    local_path,
    redact_credentials,
    uri_stem,
)
from photoscore.scoring.engine import Decoded, Scorer
from photoscore.scoring.ensemble import EnsembleMode
from photoscore.scoring.listing import normalize_each
from photoscore.scoring.normalize import Normalizer, Scale
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.output import result_record
from photoscore.scoring.results import DECIMALS, ScoreResult

if TYPE_CHECKING:
    import ray
    import ray.data

DEFAULT_THREADS = 2
DEFAULT_FETCH_THREADS = 16
DEFAULT_ROWS_PER_CALL = 500


@dataclass(frozen=True)
class ModelBlob:
    """A model file's name and bytes, sent to every actor."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: str | Path) -> ModelBlob:
        return cls(Path(path).name, Path(path).read_bytes())


def score_schema(model_names: Sequence[str], normalized: bool = False) -> pa.Schema:
    """The columns scoring adds, with the names and precision of ``photoscore score``'s CSV output."""
    fields = [
        pa.field("image_id", pa.string()),
        pa.field("path", pa.string()),
        pa.field("mean_score_prediction", pa.float64()),
        pa.field("std_score_prediction", pa.float64()),
        pa.field("distribution", pa.list_(pa.float64())),
    ]
    if len(model_names) > 1:
        fields += [pa.field(f"{n}.{k}", pa.float64()) for n in model_names for k in ("mean", "std")]
    if normalized:
        fields.append(pa.field("normalized_score", pa.float64()))
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)


class PhotoScorer:
    """Ray Data callable class: a batch (``pyarrow.Table``) with a column of photo locations -> the same
    rows with the score columns of :func:`score_schema` (replacing columns of those names)."""

    def __init__(
        self,
        models: Sequence[ModelBlob] | ray.ObjectRef,
        *,
        path_column: str = "path",
        weights: Sequence[float] | None = None,
        ensemble: EnsembleMode = "distribution",
        batch_size: int = 32,
        threads: int = DEFAULT_THREADS,
        fetch_threads: int = DEFAULT_FETCH_THREADS,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        normalizer: Normalizer | None = None,
        scale: Scale = "0-1",
        allow_networks: Sequence[str] = (),
    ):
        if not isinstance(models, Sequence):  # put in the object store once by the driver
            import ray

            models = ray.get(models)
        with tempfile.TemporaryDirectory(prefix="photoscore-models-") as folder:
            loaded = []
            for index, blob in enumerate(models):
                file = Path(folder) / f"{index}-{blob.name}"
                file.write_bytes(blob.data)
                loaded.append(OnnxNimaModel(file, threads=threads))
        self.scorer = Scorer(
            loaded, batch_size=batch_size, workers=threads, weights=weights, ensemble=ensemble
        )
        self.names = [m.name for m in self.scorer.models]
        self.path_column = path_column
        self.fetcher = Fetcher(timeout, attempts, allow_networks=allow_networks)
        self.fetch_threads = fetch_threads
        self.normalizer = normalizer
        self.scale = scale
        self.schema = score_schema(self.names, normalizer is not None)

    def __call__(self, batch: pa.Table) -> pa.Table:
        locations = batch.column(self.path_column).to_pylist()
        results = self.score_locations(locations)
        if self.normalizer is not None:
            results = list(normalize_each(results, self.normalizer, self.scale))
        columns = self.columns(results)
        kept = batch.drop_columns([n for n in columns.column_names if n in batch.column_names])
        for field, column in zip(columns.schema, columns.columns, strict=True):
            kept = kept.append_column(field, column)
        return kept

    def score_locations(self, locations: Sequence[str | None]) -> list[ScoreResult]:
        """One result per location, in order: local files, then URIs, each as fast as their kind allows."""
        results: list[ScoreResult | None] = [None] * len(locations)
        local, remote = [], []
        for index, location in enumerate(locations):
            if not location or not location.strip():
                results[index] = ScoreResult("", location or "", error="no photo location in this row")
            elif is_remote(location.strip()):
                remote.append((index, location.strip()))
            else:
                local.append((index, local_path(location.strip())))
        for (index, _), result in zip(local, self.scorer.score(p for _, p in local), strict=True):
            location = locations[index].strip()  # type: ignore[union-attr]
            if location.startswith("file://"):  # named as given (a name that is not UTF-8 is escaped there)
                result.path, result.image_id = location, uri_stem(location)
            results[index] = result
        for (index, _), result in zip(remote, self._score_remote([u for _, u in remote]), strict=True):
            results[index] = result
        return results  # type: ignore[return-value]

    def columns(self, results: Sequence[ScoreResult]) -> pa.Table:
        """Results -> a table of :attr:`schema` (scores rounded as ``photoscore score`` writes them)."""
        rows = []
        for result in results:
            record = result_record(result, self.names)
            for name, scores in record.pop("models", {}).items():
                record[f"{name}.mean"], record[f"{name}.std"] = scores["mean"], scores["std"]
            if self.normalizer is not None:
                shown = result.normalized_score
                record["normalized_score"] = None if shown is None else round(shown, DECIMALS)
            rows.append(record)
        return pa.Table.from_pylist(rows, schema=self.schema)

    def _score_remote(self, uris: list[str]) -> Iterator[ScoreResult]:
        """Fetch and decode on the pool (a bounded window ahead), score in batches, results in order."""
        window = 2 * self.scorer.batch_size + self.fetch_threads
        with ThreadPoolExecutor(self.fetch_threads, thread_name_prefix="photoscore-fetch") as pool:
            pending: deque[tuple[str, Future[Decoded]]] = deque()
            batch: list[tuple[str, Decoded]] = []
            for index, uri in enumerate(uris):
                pending.append((uri, pool.submit(self._fetch_decode, uri)))
                while pending and (len(pending) >= window or index == len(uris) - 1):
                    done, future = pending.popleft()
                    batch.append((done, future.result()))
                    if len(batch) == self.scorer.batch_size or not pending:
                        yield from self._finish(batch)
                        batch = []

    def _fetch_decode(self, uri: str) -> Decoded:
        try:
            data = self.fetcher.fetch(uri)
        except FetchError as exc:
            return Decoded(Path(uri), error=str(exc))
        return self.scorer.decode_bytes(data, uri)

    def _finish(self, batch: list[tuple[str, Decoded]]) -> list[ScoreResult]:
        results = self.scorer.score_decoded([decoded for _, decoded in batch])
        for (uri, _), result in zip(batch, results, strict=True):
            result.path = redact_credentials(uri)
            result.image_id = uri_stem(uri)
        return results


def score_dataset(
    dataset: ray.data.Dataset,
    models: Sequence[str | Path],
    *,
    path_column: str = "path",
    actors: int | None = None,
    threads: int = DEFAULT_THREADS,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
    **scorer_options: Any,
) -> ray.data.Dataset:
    """A Dataset of photo locations (``path_column``: local paths, ``s3://``/``gs://`` URIs, URLs) -> the
    same rows with the score columns of :func:`score_schema`, from a pool of ``actors`` actors (default:
    the cluster's CPUs / ``threads``) that each load the models once and use ``threads`` CPUs.

    ``scorer_options`` go to :class:`PhotoScorer` (``weights``, ``ensemble``, ``batch_size``,
    ``fetch_threads``, ``timeout``, ``attempts``, ``normalizer``, ``scale``, ``allow_networks``). Lazy,
    like every Dataset.
    """
    return map_photos(
        dataset, PhotoScorer, models, path_column, actors, threads, rows_per_call, **scorer_options
    )


def map_photos(
    dataset: ray.data.Dataset,
    actor: type,
    models: Sequence[str | Path],
    path_column: str,
    actors: int | None,
    threads: int,
    rows_per_call: int,
    **actor_options: Any,
) -> ray.data.Dataset:
    """``dataset`` mapped by a pool of ``actor`` (a callable class taking ``models``, ``path_column``,
    ``threads`` and ``actor_options``), each actor loading the models once and using ``threads`` CPUs."""
    import ray
    import ray.data

    return dataset.map_batches(
        actor,
        fn_constructor_kwargs={
            "models": ray.put([ModelBlob.read(m) for m in models]),
            "path_column": path_column,
            "threads": threads,
            **actor_options,
        },
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors or default_actors(threads)),
        num_cpus=threads,
    )


def default_actors(threads: int) -> int:
    """As many actors of ``threads`` CPUs as the connected cluster holds (at least one)."""
    import ray
    import ray.data

    return max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
