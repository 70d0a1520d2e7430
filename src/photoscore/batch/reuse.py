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

    paths = [path for _, path in sorted(folder.parts().items())]
    columns = [INPUT_ROW, "path", "group", "phash", "embedding"]
    dataset = ray.data.read_parquet(paths, filesystem=folder.fs, columns=columns)
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
