"""The ranking pass of a batch job: after every photo is scored, each listing is normalised and ranked
by :func:`photoscore.scoring.listing.rank_in_place` (the rules of ``photoscore rank``), and every scored
part is written again with ``normalized_score``, ``rank`` and ``group``.

Only four narrow columns of all photos (row, listing, mean score, error) are read on the driver; the
parts themselves are rewritten one at a time, so the driver's memory grows with the number of photos by
a few dozen bytes each, not with their distributions.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from photoscore.batch.inputs import INPUT_ROW
from photoscore.batch.storage import Folder, part_name
from photoscore.scoring.listing import rank_in_place
from photoscore.scoring.normalize import Method, Normalizer, Scale
from photoscore.scoring.results import DECIMALS, ScoreResult

NO_RANK = 0


def rank_listings(
    folder: Folder,
    scored: str,
    photos: int,
    listing_column: str,
    normalize: Method = "minmax",
    normalizer: Normalizer | None = None,
    scale: Scale = "0-1",
    on_part: Callable[[], None] | None = None,
) -> None:
    """Rank the photos of the parts in ``folder/scored`` by listing; write the ranked parts to ``folder``."""
    columns = [INPUT_ROW, listing_column, "mean_score_prediction", "error"]
    slim = pads.dataset(folder.path(scored), filesystem=folder.fs, format="parquet").to_table(columns=columns)
    normalized, ranks = _ranks(slim, photos, listing_column, normalize, normalizer, scale)
    parts = folder.parts(scored)

    def rewrite(shard: int) -> None:
        table = folder.read_table(parts[shard])
        rows = table.column(INPUT_ROW).to_numpy()
        values, places = normalized[rows], ranks[rows]
        table = table.append_column(
            "normalized_score", pa.array(values, pa.float64(), mask=np.isnan(values))
        ).append_column("rank", pa.array(places, pa.int64(), mask=places == NO_RANK))
        table = table.append_column("group", table.column(listing_column).cast(pa.string()))
        folder.write_table(table, part_name(shard))
        if on_part is not None:
            on_part()

    with ThreadPoolExecutor(8, thread_name_prefix="photoscore-rank") as pool:
        list(pool.map(rewrite, sorted(parts)))


def _ranks(
    slim: pa.Table,
    photos: int,
    listing_column: str,
    normalize: Method,
    normalizer: Normalizer | None,
    scale: Scale,
) -> tuple[np.ndarray, np.ndarray]:
    """Each input row's normalised score (NaN: none) and rank (0: none), listing by listing."""
    labels = slim.column(listing_column).cast(pa.string())
    order = pc.sort_indices(
        pa.table({"g": labels, "r": slim.column(INPUT_ROW)}), [("g", "ascending"), ("r", "ascending")]
    )
    rows = slim.column(INPUT_ROW).take(order).to_pylist()
    groups = labels.take(order).to_pylist()
    means = slim.column("mean_score_prediction").take(order).to_pylist()
    errors = slim.column("error").take(order).to_pylist()
    if sorted(rows) != list(range(photos)):
        raise RuntimeError(f"the scored parts hold {len(rows)} rows, not each of the {photos} photos once")
    normalized = np.full(photos, np.nan)
    ranks = np.full(photos, NO_RANK, dtype=np.int64)
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and groups[end] == groups[start]:
            end += 1
        members = [
            ScoreResult("", "", mean_score_prediction=means[i], error=errors[i]) for i in range(start, end)
        ]
        rank_in_place(members, normalize, normalizer, scale)
        for i, member in zip(range(start, end), members, strict=True):
            if member.rank is not None:
                normalized[rows[i]] = round(member.normalized_score, DECIMALS)  # type: ignore[arg-type]
                ranks[rows[i]] = member.rank
        start = end
    return normalized, ranks
