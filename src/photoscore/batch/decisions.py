"""The listing pass of ``batch --review``: once every photo is reviewed, each listing is decided by
:func:`photoscore.review.reviewer.decide_listing` (the rules of ``photoscore review``) from the stored
per-photo columns, the listings are written to ``OUT/_listings/`` (one row per listing) and every part
is written again with the photo's place in its listing.

The listings meet in a Ray Data groupby; the driver keeps only each photo's decision (a few small
values per photo), and the parts are rewritten one at a time, as :mod:`photoscore.batch.ranking` does.
The pass is repeated whole after a kill (``_listings/`` is cleared first).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from photoscore.batch.inputs import INPUT_ROW
from photoscore.batch.reviewing import CHECKS
from photoscore.batch.storage import Folder, part_name
from photoscore.review.output import listing_record
from photoscore.review.photo import CheckResult
from photoscore.review.presets import Preset, as_preset
from photoscore.review.results import ListingReview, PhotoReview
from photoscore.review.reviewer import decide_listing
from photoscore.scoring.results import DECIMALS, ScoreResult

LISTINGS = "_listings"
LISTING_KEY = "_listing"
# Per-photo decisions travel with each listing's row, then are spread back to the photos' rows.
_PHOTO_LISTS = ("_rows", "_position", "_cover", "_normalized", "_rank", "_tied_with", "_duplicate_of",
                "_reasons")  # fmt: skip
_READ = [INPUT_ROW, "image_id", "path", "mean_score_prediction", "std_score_prediction", "error", "room",
         "width", "height", "reasons", "digest", "phash", "embedding", *(f"{c}.verdict" for c in CHECKS)]  # fmt: skip


def decide_listings(
    folder: Folder,
    scored: str,
    photos: int,
    listing_column: str | None,
    preset: str | Preset,
    band: float,
    on_part: Callable[[], None] | None = None,
) -> None:
    """Decide each listing of the parts in ``folder/scored`` (listings: ``listing_column``, else the
    photo's parent folder); write ``folder/_listings/`` and the decided parts to ``folder``."""
    import ray.data

    columns = [*_READ, *([listing_column] if listing_column else [])]
    dataset = ray.data.read_parquet(folder.path(scored), filesystem=folder.fs, columns=columns)
    keyed = dataset.map_batches(
        _with_listing, fn_kwargs={"column": listing_column}, batch_format="pyarrow", batch_size=None
    )
    decided = keyed.groupby(LISTING_KEY).map_groups(
        _decide_group, fn_kwargs={"preset": preset, "band": band}, batch_format="pyarrow"
    )
    folder.delete_folder(LISTINGS)
    spread = _Decisions(photos)
    for number, table in enumerate(decided.iter_batches(batch_size=None, batch_format="pyarrow")):
        spread.add(table)
        folder.write_table(table.drop_columns(list(_PHOTO_LISTS)), LISTINGS, part_name(number))
    spread.check()
    parts = folder.parts(scored)

    def rewrite(shard: int) -> None:
        table = folder.read_table(parts[shard])
        table = spread.apply(table, table.column(INPUT_ROW).to_numpy())
        folder.write_table(table, part_name(shard))
        if on_part is not None:
            on_part()

    with ThreadPoolExecutor(8, thread_name_prefix="photoscore-decide") as pool:
        list(pool.map(rewrite, sorted(parts)))


def _with_listing(batch: pa.Table, column: str | None) -> pa.Table:
    """The listing label of each row: the listing column, else the photo's parent folder."""
    if column is not None:
        label = batch.column(column).cast(pa.string())
    else:
        label = pa.array(
            [str(PurePosixPath(p).parent) for p in batch.column("path").to_pylist()], pa.string()
        )
    return batch.append_column(LISTING_KEY, label)


def _decide_group(table: pa.Table, preset: str | Preset, band: float) -> pa.Table:
    """One listing's photos -> one row: the listing record and its photos' decisions as lists."""
    rows = table.to_pylist()
    reviews = [_review(row) for row in rows]
    listing = decide_listing(rows[0][LISTING_KEY], reviews, as_preset(preset), band)
    stored = {row[INPUT_ROW]: row["reasons"] or [] for row in rows}
    return pa.Table.from_pylist([_listing_row(listing, reviews, stored)], schema=LISTING_SCHEMA)


def _review(row: dict[str, Any]) -> PhotoReview:
    """A photo's review as stored (checks by verdict only; the decision needs no more)."""
    result = ScoreResult(
        row["image_id"] or "",
        row["path"] or "",
        mean_score_prediction=row["mean_score_prediction"],
        std_score_prediction=row["std_score_prediction"],
        error=row["error"],
    )
    review = PhotoReview(row[INPUT_ROW], result, room=row["room"], digest=row["digest"], phash=row["phash"])
    if row["width"] is not None:
        review.size = (row["width"], row["height"])
    if row["embedding"] is not None:
        review.embedding = np.asarray(row["embedding"], dtype=np.float32)
    review.checks = [
        CheckResult(c, None, None, row[f"{c}.verdict"]) for c in CHECKS if row[f"{c}.verdict"] is not None
    ]
    return review


def _listing_row(
    listing: ListingReview, reviews: list[PhotoReview], stored: dict[int, list[str]]
) -> dict[str, Any]:
    """The listing's record (as ``review``'s listing record) and its photos' decisions as lists."""
    paths = {r.index: r.result.path for r in reviews}
    record = listing_record(listing, paths)
    verdicts = record.pop("verdicts")
    groups = record.pop("duplicates")
    return {
        **record,
        "duplicates": json.dumps([{k: g[k] for k in ("keep", "copies", "exact")} for g in groups]),
        **{f"verdict.{rule}": verdict for rule, verdict in verdicts.items()},
        "_rows": [r.index for r in reviews],
        "_position": [r.position for r in reviews],
        "_cover": [r.cover for r in reviews],
        "_normalized": [_round(r.result.normalized_score) for r in reviews],
        "_rank": [r.result.rank for r in reviews],
        "_tied_with": [[paths[i] for i in r.tied_with] for r in reviews],
        "_duplicate_of": [None if r.duplicate_of is None else paths[r.duplicate_of] for r in reviews],
        "_reasons": [[*stored[r.index], *r.reasons] for r in reviews],
    }


LISTING_SCHEMA = pa.schema(
    [
        ("listing", pa.string()),
        ("preset", pa.string()),
        ("photos", pa.int64()),
        ("acceptable_photos", pa.int64()),
        ("min_photos", pa.int64()),
        ("cover", pa.string()),
        ("cover_note", pa.string()),
        ("order", pa.list_(pa.string())),
        ("rooms_shown", pa.list_(pa.string())),
        ("missing_rooms", pa.list_(pa.string())),
        ("duplicates", pa.string()),
        ("tie_band", pa.float64()),
        ("verdict.photo_count", pa.string()),
        ("verdict.rooms", pa.string()),
        ("verdict.cover", pa.string()),
        ("_rows", pa.list_(pa.int64())),
        ("_position", pa.list_(pa.int64())),
        ("_cover", pa.list_(pa.bool_())),
        ("_normalized", pa.list_(pa.float64())),
        ("_rank", pa.list_(pa.int64())),
        ("_tied_with", pa.list_(pa.list_(pa.string()))),
        ("_duplicate_of", pa.list_(pa.string())),
        ("_reasons", pa.list_(pa.list_(pa.string()))),
    ]
)


class _Decisions:
    """Each input row's decision, gathered from the listings' rows (a few values per photo)."""

    def __init__(self, photos: int):
        self.photos = photos
        self.listing = np.empty(photos, dtype=object)
        self.values: dict[str, np.ndarray] = {n: np.empty(photos, dtype=object) for n in _PHOTO_LISTS[1:]}
        self.seen = np.zeros(photos, dtype=np.int64)

    def add(self, table: pa.Table) -> None:
        listings = table.column("listing").to_pylist()
        rows = table.column("_rows").to_pylist()
        for name, values in self.values.items():
            for members, decided in zip(rows, table.column(name).to_pylist(), strict=True):
                values[members] = _objects(decided)
        for listing, members in zip(listings, rows, strict=True):
            self.listing[members] = listing
            self.seen[members] += 1

    def check(self) -> None:
        if not (self.seen == 1).all():
            raise RuntimeError(
                f"the reviewed parts hold {self.seen.sum()} rows, not each of {self.photos} once"
            )

    def apply(self, table: pa.Table, rows: np.ndarray) -> pa.Table:
        """``table`` with the decision columns (the stored ``reasons`` replaced by the decided ones)."""
        reasons = pa.array(self.values["_reasons"][rows].tolist(), pa.list_(pa.string()))
        table = table.set_column(table.schema.get_field_index("reasons"), "reasons", reasons)
        added = {
            "normalized_score": pa.array(self.values["_normalized"][rows].tolist(), pa.float64()),
            "rank": pa.array(self.values["_rank"][rows].tolist(), pa.int64()),
            "group": pa.array(self.listing[rows].tolist(), pa.string()),
            "position": pa.array(self.values["_position"][rows].tolist(), pa.int64()),
            "cover": pa.array(self.values["_cover"][rows].tolist(), pa.bool_()),
            "tied_with": pa.array(self.values["_tied_with"][rows].tolist(), pa.list_(pa.string())),
            "duplicate_of": pa.array(self.values["_duplicate_of"][rows].tolist(), pa.string()),
        }
        for name, column in added.items():
            table = table.append_column(name, column)
        return table


def _objects(values: list[Any]) -> np.ndarray:
    """A list as a 1-D object array (lists inside stay lists)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)
