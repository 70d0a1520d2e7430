"""The catalogue duplicate step of a ``batch --review`` job: the stored ``phash`` and ``embedding`` of
every photo in ``OUT`` searched by :func:`~photoscore.batch.catalogue.catalogue_duplicates`, the pairs
written to ``OUT/_duplicates/`` and the count per listing to ``OUT/_duplicate_counts/``.

Nothing is decoded again. The step is not resumable piece by piece but cheap to repeat: a rerun (or
``batch --duplicates-only``) deletes both folders and writes them again from the stored columns.
"""

from __future__ import annotations

from photoscore.batch.catalogue import PAIR_SCHEMA, Buckets, catalogue_duplicates, duplicate_counts
from photoscore.batch.inputs import INPUT_ROW
from photoscore.batch.storage import Folder, part_name

DUPLICATES = "_duplicates"
COUNTS = "_duplicate_counts"
COUNT_COLUMNS = ("listing", "pairs", "photos")


def write_duplicates(folder: Folder, buckets: Buckets | None = None, partitions: int = 16) -> int:
    """Search the reviewed parts of ``folder`` for photos reused across listings; the pairs written."""
    import pyarrow as pa
    import ray.data

    columns = [INPUT_ROW, "path", "group", "phash", "embedding"]
    # The folder, not a list of its parts: Ray reads the parts and skips names starting with "_" (a list
    # of files makes Ray 2.60 import fsspec's HTTP filesystem, which needs aiohttp).
    dataset = ray.data.read_parquet(folder.path(), filesystem=folder.fs, columns=columns)
    pairs = catalogue_duplicates(dataset, buckets=buckets or Buckets(), partitions=partitions).materialize()
    counts = duplicate_counts(pairs).materialize()
    folder.delete_folder(DUPLICATES)
    folder.delete_folder(COUNTS)
    found = pairs.count()
    if found:
        pairs.write_parquet(folder.path(DUPLICATES), filesystem=folder.fs)
        counts.write_parquet(folder.path(COUNTS), filesystem=folder.fs)
    else:  # an empty dataset writes no file; readers still find the columns
        folder.write_table(PAIR_SCHEMA.empty_table(), DUPLICATES, part_name(0))
        empty = pa.table(
            {n: pa.array([], pa.string() if n == "listing" else pa.int64()) for n in COUNT_COLUMNS}
        )
        folder.write_table(empty, COUNTS, part_name(0))
    return found
