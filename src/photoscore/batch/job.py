"""A resumable batch job: every input photo scored once into a Parquet dataset, however often the job is
killed and started again.

How it stays exactly-once:

- The input is read on the driver into rows numbered in input order (``input_row``) and cut into
  shards of ``shard_size`` consecutive rows: shard ``k`` is rows ``k * shard_size`` onwards. The job
  file ``OUT/_photoscore_batch.json``, written before any work, records the shard size, a fingerprint
  of the photos' locations and listings, a digest of every input column (type and values), the
  models' sha256 and the scoring settings; a rerun with
  anything different is refused, so shard ``k`` always means the same photos.
- Each shard is one block of the Ray Dataset and one call of an actor, which scores it and writes it
  as ``part-<k>.parquet`` in one atomic step (a hidden temporary file renamed into place locally; a
  single upload on an object store). A part exists whole or not at all, and a retried shard (a dying
  worker) writes the same file again.
- A rerun lists the parts present and builds the Dataset from the missing shards only: photos already
  written are not scored again, and no photo can be in two parts.
- With a listing column, parts go to ``OUT/_scored/`` first; when all exist, a ranking pass
  (:mod:`photoscore.batch.ranking`) writes each again with ranks into ``OUT/``. The job file is then
  marked complete, and only after that ``_scored/`` is deleted. A kill during the ranking pass is
  followed by the whole (cheap) pass again.
- With ``review`` (``batch --review``) each actor reviews its shard (:mod:`photoscore.batch.reviewing`)
  into ``OUT/_scored/``, and the listing pass (:mod:`photoscore.batch.decisions`) decides every listing
  into ``OUT/_listings/`` and rewrites the parts into ``OUT/``, under the same rules; the review and
  its preset are settings of the job.

Readers of ``OUT`` (pyarrow, pandas, Spark, Ray) skip names starting with ``_`` or ``.``, so they see
the parts only.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from photoscore.batch.catalogue import Buckets
from photoscore.batch.decisions import decide_listings
from photoscore.batch.inputs import INPUT_ROW, Photos, read_input
from photoscore.batch.photos import DEFAULT_FETCH_THREADS, DEFAULT_THREADS, ModelBlob, PhotoScorer
from photoscore.batch.ranking import rank_listings
from photoscore.batch.reuse import write_duplicates
from photoscore.batch.reviewing import PhotoReviewer, review_band
from photoscore.batch.storage import Folder, part_name
from photoscore.review.presets import Preset
from photoscore.scoring.ensemble import EnsembleMode
from photoscore.scoring.normalize import Method, Normalizer, Scale

JOB_FILE = "_photoscore_batch.json"
SCORED = "_scored"
DEFAULT_SHARD_SIZE = 500
JOB_FORMAT = "photoscore.batch"


class JobError(ValueError):
    """A job that cannot start: another job's folder, or settings that differ from the first run's."""


@dataclass
class JobOptions:
    """How to read the input, score and rank; the settings that decide results go into the job file."""

    path_column: str = "path"
    listing_column: str | None = None
    recursive: bool = False
    weights: Sequence[float] | None = None
    ensemble: EnsembleMode = "distribution"
    normalize: Method = "minmax"
    normalizer: Normalizer | None = None
    scale: Scale = "0-1"
    shard_size: int = DEFAULT_SHARD_SIZE
    batch_size: int = 32
    threads: int = DEFAULT_THREADS
    actors: int | None = None
    fetch_threads: int = DEFAULT_FETCH_THREADS
    timeout: float = 30.0
    attempts: int = 3
    review: bool = False
    preset: str | Preset = "none"
    duplicates: bool = False
    duplicate_bits: int | None = None
    duplicate_tables: int | None = None
    allow_networks: Sequence[str] = ()


@dataclass
class JobReport:
    """What a run did: ``resumed`` photos were scored by earlier runs, ``new`` ones by this one."""

    photos: int
    scored: int
    failed: int
    resumed: int
    new: int
    seconds: float
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def photos_per_second(self) -> float:
        return self.new / self.seconds if self.seconds > 0 else 0.0


def run_job(source: str, out: str, models: Sequence[str | Path], options: JobOptions) -> JobReport:
    """Score ``source`` (folder or manifest) into the Parquet dataset ``out``, resuming a killed run.
    Needs a connected Ray (``ray.init``)."""
    return BatchJob.prepare(source, out, models, options).run()


@dataclass
class BatchJob:
    """A job whose input is read and whose output folder is claimed (no Ray needed yet)."""

    photos: Photos
    folder: Folder
    blobs: list[ModelBlob]
    options: JobOptions
    state: dict[str, Any]
    band: float = 0.0

    @classmethod
    def prepare(cls, source: str, out: str, models: Sequence[str | Path], options: JobOptions) -> BatchJob:
        """Read the input and claim ``out``; raises InputError or JobError (another job's folder)."""
        photos = read_input(source, options.path_column, options.listing_column, options.recursive)
        blobs = [ModelBlob.read(m) for m in models]
        folder = Folder(out)
        state = _claim(folder, _settings(photos, blobs, options))
        return cls(photos, folder, blobs, options, state, review_band(models) if options.review else 0.0)

    def run(self) -> JobReport:
        """Score the shards not written yet, rank by listing, and report."""
        photos, folder, options = self.photos, self.folder, self.options
        listing = options.listing_column
        staged = listing or options.review
        started = time.monotonic()
        total = math.ceil(len(photos) / options.shard_size)
        done = folder.parts(SCORED if staged else "")
        resumed = sum(_shard_rows(k, len(photos), options.shard_size) for k in done if k < total)
        if not self.state["complete"]:
            pending = [k for k in range(total) if k not in done]
            if pending:
                _score_shards(photos, pending, folder, self.blobs, options)
            if options.review:
                decide_listings(folder, SCORED, len(photos), listing, options.preset, self.band)
            elif listing:
                rank_listings(
                    folder, SCORED, len(photos), listing, options.normalize, options.normalizer, options.scale
                )
            self.state["complete"] = True
            folder.write_json(self.state, JOB_FILE)
        else:
            resumed = len(photos)
        folder.delete_folder(SCORED)
        if options.duplicates:
            search_duplicates(folder, self.state, options.duplicate_bits, options.duplicate_tables)
        seconds = time.monotonic() - started
        dataset = pads.dataset(folder.base, filesystem=folder.fs, format="parquet")
        outcome = dataset.to_table(columns=["path", "error"])
        failed = outcome.filter(pc.is_valid(outcome.column("error")))
        return JobReport(
            photos=len(photos),
            scored=outcome.num_rows - failed.num_rows,
            failed=failed.num_rows,
            resumed=resumed,
            new=len(photos) - resumed,
            seconds=seconds,
            failures=list(zip(*(failed.column(c).to_pylist()[:20] for c in ("path", "error")), strict=True)),
        )


def duplicates_only(out: str, bits: int | None = None, tables: int | None = None) -> dict[str, Any]:
    """Search the stored hashes and embeddings of a complete ``batch --review`` job in ``out`` for photos
    reused across listings (nothing decoded again; signature ``bits`` and ``tables`` default: sized for
    the job's photos); the job file's record of the search. Needs a connected Ray."""
    folder = Folder(out)
    state = folder.read_json(JOB_FILE)
    if state is None or state.get("format") != JOB_FORMAT:
        raise JobError(f"{folder.location} holds no photoscore batch job")
    if not state["settings"].get("review") or not state["complete"]:
        raise JobError(f"{folder.location}: --duplicates-only needs a complete job run with --review")
    return search_duplicates(folder, state, bits, tables)


def search_duplicates(
    folder: Folder, state: dict[str, Any], bits: int | None = None, tables: int | None = None
) -> dict[str, Any]:
    """The catalogue duplicate step (:mod:`photoscore.batch.reuse`) with :meth:`Buckets.for_photos` of the
    job's photos (``bits``, ``tables`` kept where given), recorded in the job file with its buckets and
    the steps taken up from an interrupted search (``pairs``, ``buckets``, ``resumed_steps``)."""
    buckets = Buckets.for_photos(state["settings"]["photos"], bits=bits, tables=tables)
    state["duplicates"] = None
    folder.write_json(state, JOB_FILE)
    found, resumed = write_duplicates(folder, buckets)
    state["duplicates"] = {"pairs": found, "buckets": asdict(buckets), "resumed_steps": resumed}
    folder.write_json(state, JOB_FILE)
    return state["duplicates"]


def _preset_setting(preset: str | Preset) -> str | dict[str, Any]:
    """A preset as the job file records it: a bundled one by name, a platform's own by its rules."""
    return preset if isinstance(preset, str) else preset.model_dump(mode="json")


def _shard_rows(shard: int, photos: int, shard_size: int) -> int:
    return min(shard_size, photos - shard * shard_size)


def _settings(photos: Photos, blobs: Sequence[ModelBlob], options: JobOptions) -> dict[str, Any]:
    """Everything that decides which photo is in which part and what its scores are."""
    normalizer = options.normalizer
    return {
        "photos": len(photos),
        "fingerprint": photos.fingerprint,
        "columns": photos.columns,
        "shard_size": options.shard_size,
        "models": [hashlib.sha256(b.data).hexdigest() for b in blobs],
        "weights": None if options.weights is None else list(options.weights),
        "ensemble": options.ensemble,
        "path_column": options.path_column,
        "listing_column": options.listing_column,
        "normalize": options.normalize if options.listing_column else None,
        "normalizer": None if normalizer is None else asdict(normalizer),
        "scale": options.scale,
        "review": _preset_setting(options.preset) if options.review else None,
    }


def _claim(folder: Folder, settings: dict[str, Any]) -> dict[str, Any]:
    """This job's state in ``folder``: a new one, or the first run's when the settings are the same.

    Raises JobError, before any photo is scored, for an ``--out`` that is a file, a folder holding
    anything but a photoscore job, or a place where the job file cannot be written."""
    try:
        return _claim_state(folder, settings)
    except (OSError, ValueError) as exc:
        if isinstance(exc, JobError):
            raise
        reason = getattr(exc, "strerror", None) or str(exc)
        raise JobError(f"{folder.location}: cannot use it as --out ({reason})") from None


def _claim_state(folder: Folder, settings: dict[str, Any]) -> dict[str, Any]:
    kind = folder.fs.get_file_info(folder.base).type
    if kind not in (pafs.FileType.Directory, pafs.FileType.NotFound):
        raise JobError(f"{folder.location} is a file: --out needs a folder (a new one, or this job's)")
    try:
        state = folder.read_json(JOB_FILE)
    except ValueError:  # JSON that does not parse
        state = {}
    if state is None:
        others = folder.entries()
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise JobError(
                f"{folder.location} already holds files of no photoscore batch job ({shown}); "
                "--out needs a new or empty folder"
            )
        state = {"format": JOB_FORMAT, "version": 1, "settings": settings, "complete": False}
        folder.write_json(state, JOB_FILE)
        return state
    if not isinstance(state, dict) or state.get("format") != JOB_FORMAT:
        raise JobError(f"{folder.describe(JOB_FILE)}: not a photoscore batch job file")
    before = state["settings"]
    if "columns" not in before:  # a job begun before columns were pinned: its photos still are
        settings = {k: v for k, v in settings.items() if k != "columns"}
    changed = [k for k in settings if k != "columns" and before.get(k) != _jsonable(settings[k])]
    columns = _changed_columns(before.get("columns", {}), settings.get("columns", {}))
    if columns:
        changed.append(f"input column(s) {', '.join(columns)}")
    if changed:
        raise JobError(
            f"{folder.location} holds a job with other {', '.join(changed)}: a rerun needs the same input "
            "and options (to start afresh, use another --out)"
        )
    return state


def _changed_columns(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """The input columns that differ between two runs, each with how: values, type, added or removed."""
    changes = []
    for name in dict.fromkeys([*before, *now]):
        if name not in now:
            changes.append(f"{name} (removed)")
        elif name not in before:
            changes.append(f"{name} (added)")
        elif before[name] != now[name]:
            same_type = before[name].rsplit(":", 1)[0] == now[name].rsplit(":", 1)[0]
            changes.append(f"{name} ({'values' if same_type else 'type'} changed)")
    return changes


def _jsonable(value: Any) -> Any:
    """What ``value`` reads back as from JSON (tuples become lists)."""
    import json

    return json.loads(json.dumps(value))


class ShardWriter:
    """Ray Data callable class: scores whole shards and writes each as one part file; returns one row
    per shard (``shard``, ``photos``, ``failed``)."""

    def __init__(
        self,
        out: str,
        subfolder: str,
        photos: int,
        shard_size: int,
        preset: str | Preset | None = None,
        **scorer_options: Any,
    ):
        review = preset is not None
        self.scorer = (
            PhotoReviewer(preset=preset, **scorer_options) if review else PhotoScorer(**scorer_options)
        )
        self.folder = Folder(out)
        self.subfolder = subfolder
        self.photos = photos
        self.shard_size = shard_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        scored = self.scorer(batch)
        scores = self.scorer.schema.names
        others = [c for c in scored.column_names if c not in scores and c != INPUT_ROW]
        scored = scored.select([*scores, *others, INPUT_ROW])
        shards = pc.divide(scored.column(INPUT_ROW), self.shard_size)
        summary: dict[str, list[int]] = {"shard": [], "photos": [], "failed": []}
        for shard in sorted(set(shards.to_pylist())):
            part = scored.filter(pc.equal(shards, shard)).sort_by(INPUT_ROW)
            expected = _shard_rows(shard, self.photos, self.shard_size)
            if part.num_rows != expected:
                raise RuntimeError(f"shard {shard} arrived with {part.num_rows} of its {expected} photos")
            self.folder.write_table(part, *filter(None, [self.subfolder, part_name(shard)]))
            summary["shard"].append(shard)
            summary["photos"].append(part.num_rows)
            summary["failed"].append(part.num_rows - pc.count(part.column("error"), mode="only_null").as_py())
        return pa.table(summary)


def _score_shards(
    photos: Photos, pending: list[int], folder: Folder, blobs: Sequence[ModelBlob], options: JobOptions
) -> None:
    """Score the pending shards on a pool of actors; each shard is one block and one actor call."""
    import ray
    import ray.data

    from photoscore.batch.photos import default_actors

    cpus = ray.cluster_resources().get("CPU", 0)
    if options.threads > cpus:
        raise JobError(
            f"--threads {options.threads}: the cluster has {cpus:g} CPUs; an actor could never start"
        )
    size = options.shard_size
    blocks = [photos.table.slice(k * size, size) for k in pending]
    actors = min(options.actors or default_actors(options.threads), len(blocks))
    dataset = ray.data.from_arrow(blocks).map_batches(
        ShardWriter,
        fn_constructor_kwargs={
            "out": folder.location,
            "subfolder": SCORED if options.listing_column or options.review else "",
            "preset": options.preset if options.review else None,
            "photos": len(photos),
            "shard_size": size,
            "models": ray.put(list(blobs)),
            "path_column": "path",
            "weights": options.weights,
            "ensemble": options.ensemble,
            "batch_size": options.batch_size,
            "threads": options.threads,
            "fetch_threads": options.fetch_threads,
            "timeout": options.timeout,
            "attempts": options.attempts,
            "allow_networks": list(options.allow_networks),
            "normalizer": None if options.listing_column or options.review else options.normalizer,
            "scale": options.scale,
        },
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=options.threads,
    )
    for _ in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        pass
