"""The catalogue duplicate step of a ``batch --review`` job: the stored ``phash`` and ``embedding`` of
every photo in ``OUT`` searched by :mod:`photoscore.batch.catalogue`, the pairs written to
``OUT/_duplicates/`` and the count per listing to ``OUT/_duplicate_counts/``.

Nothing is decoded again. The search keeps its steps in ``OUT/_duplicates_work/`` (the photos' keys,
then the candidates of each pass over the key slots), each marked done once written whole, so a killed
search resumes from its last finished step; the folder goes once the pairs are written. A search with
other buckets, another rule or other input files starts over.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import pyarrow as pa

from photoscore.batch.catalogue import (
    CANDIDATE_SCHEMA,
    PAIR_SCHEMA,
    ROWS_PER_PASS,
    Buckets,
    candidate_pairs,
    duplicate_counts,
    photo_keys,
    photo_keys_schema,
    usable_photos,
    verified_pairs,
)
from photoscore.batch.inputs import INPUT_ROW
from photoscore.batch.storage import Folder, part_name
from photoscore.review.duplicates import DEFAULT_RULE, NearDuplicateRule

if TYPE_CHECKING:
    from collections.abc import Callable

    import ray.data

DUPLICATES = "_duplicates"
COUNTS = "_duplicate_counts"
WORK = "_duplicates_work"
DONE = "_done.json"
COUNT_SCHEMA = pa.schema([("listing", pa.string()), ("pairs", pa.int64()), ("photos", pa.int64())])


def write_duplicates(
    folder: Folder, buckets: Buckets | None = None, partitions: int = 16
) -> tuple[int, list[str]]:
    """Search the reviewed parts of ``folder`` for photos reused across listings; the pairs written and
    the steps of an earlier, interrupted search taken up."""
    import ray.data

    columns = [INPUT_ROW, "path", "group", "phash", "embedding"]
    # The folder, not a list of its parts: Ray reads the parts and skips names starting with "_" (a list
    # of files makes Ray 2.60 import fsspec's HTTP filesystem, which needs aiohttp).
    dataset = ray.data.read_parquet(folder.path(), filesystem=folder.fs, columns=columns)
    resumed: list[str] = []
    pairs = search_in_steps(dataset, folder, buckets or Buckets(), partitions=partitions, resumed=resumed)
    counts = duplicate_counts(pairs).materialize()
    folder.delete_folder(DUPLICATES)
    folder.delete_folder(COUNTS)
    _write(pairs, folder, PAIR_SCHEMA, DUPLICATES)
    _write(counts, folder, COUNT_SCHEMA, COUNTS)
    folder.delete_folder(WORK)
    return pairs.count(), resumed


def search_in_steps(
    dataset: ray.data.Dataset,
    work: Folder,
    buckets: Buckets,
    rule: NearDuplicateRule = DEFAULT_RULE,
    *,
    partitions: int = 16,
    rows_per_pass: int = ROWS_PER_PASS,
    resumed: list[str] | None = None,
) -> ray.data.MaterializedDataset:
    """:func:`~photoscore.batch.catalogue.catalogue_duplicates` with each step kept in ``work/_duplicates_work``
    (taken up where marked done, its name then added to ``resumed``): the photos' keys, then the
    candidates pass by pass (each pass about ``rows_per_pass`` key rows through one shuffle), then the
    verified pairs (materialised)."""
    import ray.data

    photos = usable_photos(dataset)
    plan = {"buckets": asdict(buckets), "rule": asdict(rule), "rows_per_pass": rows_per_pass,
            "inputs": sorted(dataset.input_files())}  # fmt: skip
    if work.read_json(WORK, "plan.json") != plan:
        work.delete_folder(WORK)
        work.write_json(plan, WORK, "plan.json")
    resumed = [] if resumed is None else resumed
    keys = _step(work, "keys", lambda: photo_keys(photos, buckets), photo_keys_schema(buckets), resumed)
    count = keys.count()
    if not count:
        return ray.data.from_arrow(PAIR_SCHEMA.empty_table())
    for number, slots in enumerate(buckets.passes(count, rows_per_pass)):
        _step(
            work,
            f"candidates/pass-{number:04d}",
            lambda slots=slots: candidate_pairs(keys, buckets, rule, slots=slots, partitions=partitions),
            CANDIDATE_SCHEMA,
            resumed,
        )
    candidates = ray.data.read_parquet(work.path(WORK, "candidates"), filesystem=work.fs).materialize()
    return verified_pairs(candidates, photos, rule, partitions=partitions).materialize()


def _step(
    work: Folder, name: str, make: Callable[[], ray.data.Dataset], schema: pa.Schema, resumed: list[str]
) -> ray.data.Dataset:
    """The dataset written in ``work/_duplicates_work/name``: read back when marked done (``name`` added
    to ``resumed``), else written anew (an empty one as one empty file of ``schema``) and marked."""
    import ray.data

    if work.read_json(WORK, name, DONE) is not None:
        resumed.append(name)
    else:
        work.delete_folder(WORK, name)
        _write(make(), work, schema, WORK, name)
        work.write_json({"done": True}, WORK, name, DONE)
    return ray.data.read_parquet(work.path(WORK, name), filesystem=work.fs)


def _write(dataset: ray.data.Dataset, folder: Folder, schema: pa.Schema, *names: str) -> None:
    """``dataset`` as Parquet files in the folder ``names``; an empty dataset (Ray writes no file for it)
    as one empty file of ``schema``, so readers still find the columns."""
    dataset.write_parquet(folder.path(*names), filesystem=folder.fs)
    if not folder.files(*names):
        folder.write_table(schema.empty_table(), *names, part_name(0))
