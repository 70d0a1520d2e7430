"""What a batch job scores: a folder of photos, or a manifest (CSV or Parquet) with a column of photo
locations, read into one Arrow table on the driver (photos themselves are never read here).

The table has ``input_row`` (each photo's place in the input, from 0), ``path`` (where the photo is:
local paths made absolute, relative manifest paths taken from the manifest's folder, URIs as given but
with any ``user:password@`` replaced by ``***@``, so credentials never travel further) and
every manifest column unchanged, except the location column when it is itself called ``path``.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from photoscore.batch.fetch import is_remote, path_location, redact_credentials
from photoscore.batch.photos import score_schema
from photoscore.batch.storage import filesystem_for
from photoscore.images import find_images, is_supported
from photoscore.scoring.output import RANK_COLUMNS

INPUT_ROW = "input_row"
MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")


class InputError(ValueError):
    """An input that cannot be read; the message names it and the reason."""


@dataclass
class Photos:
    """The photos of a job, one row each, a fingerprint of their locations and listings, and a digest of
    every input column (its type and values)."""

    table: pa.Table
    listing_column: str | None
    fingerprint: str
    columns: dict[str, str]

    def __len__(self) -> int:
        return self.table.num_rows


def read_input(
    source: str, path_column: str = "path", listing_column: str | None = None, recursive: bool = False
) -> Photos:
    """A folder (``recursive``: with sub-folders) or a ``.csv``/``.parquet`` manifest -> :class:`Photos`."""
    if source.lower().endswith(MANIFEST_SUFFIXES):
        table = _read_manifest(source, path_column, listing_column)
    else:
        if listing_column is not None:
            raise InputError(f"{source}: --listing-column needs a manifest (CSV or Parquet), not a folder")
        table = pa.table({"path": _list_folder(source, recursive)})
        path_column = "path"
    if table.num_rows == 0:
        raise InputError(f"{source}: no photos found" + ("" if recursive else " (with -r, sub-folders too)"))
    table = table.add_column(0, INPUT_ROW, pa.array(range(table.num_rows), pa.int64()))
    return Photos(table, listing_column, _fingerprint(table, listing_column), column_digests(table))


def _list_folder(source: str, recursive: bool) -> list[str]:
    if not is_remote(source):
        try:
            found = find_images([Path(source)], recursive=recursive)
            return [path_location(str(Path(p).absolute())) for p in found]
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
    filesystem, base = filesystem_for(source)
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(base.rstrip("/"), recursive=recursive))
    except (OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot list the folder ({exc})") from None
    scheme = source.split("://", 1)[0]
    return sorted(
        f"{scheme}://{info.path}"
        for info in infos
        if info.type == pafs.FileType.File and is_supported(info.path) and not info.base_name.startswith(".")
    )


def _read_manifest(source: str, path_column: str, listing_column: str | None) -> pa.Table:
    filesystem, path = filesystem_for(source)
    strings = {c: pa.string() for c in (path_column, listing_column) if c}
    try:
        if source.lower().endswith(".csv"):
            with filesystem.open_input_stream(path) as stream:
                table = pacsv.read_csv(stream, convert_options=pacsv.ConvertOptions(column_types=strings))
        else:
            table = pq.read_table(path, filesystem=filesystem)
    except FileNotFoundError:
        raise InputError(f"{source}: manifest not found") from None
    except (OSError, ValueError) as exc:  # pyarrow's parse errors are ValueErrors
        raise InputError(f"{source}: cannot read the manifest ({exc})") from None
    twice = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
    if twice:
        raise InputError(f"{source}: column(s) {', '.join(twice)} appear more than once; keep one of each")
    for column, option in ((path_column, "--path-column"), (listing_column, "--listing-column")):
        if column and column not in table.column_names:
            raise InputError(
                f"{source}: no column {column!r} (columns: {', '.join(table.column_names)}); see {option}"
            )
    reserved = {INPUT_ROW, *score_schema(["a", "b"], normalized=True).names, *RANK_COLUMNS}
    clashes = [c for c in table.column_names if c in reserved and c != path_column and "." not in c]
    if clashes:
        raise InputError(
            f"{source}: column(s) {', '.join(clashes)} would be overwritten by the scores; rename them"
        )
    locations = [_resolve(value, source) for value in table.column(path_column).cast(pa.string()).to_pylist()]
    if path_column == "path":
        return table.set_column(table.column_names.index("path"), "path", pa.array(locations, pa.string()))
    return table.append_column("path", pa.array(locations, pa.string()))


def _resolve(value: str | None, manifest: str) -> str | None:
    """A manifest's photo location: URIs and absolute paths as they are, others from its folder."""
    if value is None or not value.strip():
        return value
    value = value.strip()
    if is_remote(value):
        return redact_credentials(value)
    if value.startswith("file://"):
        return value
    if is_remote(manifest):
        return value if value.startswith("/") else posixpath.join(manifest.rsplit("/", 1)[0], value)
    return str((Path(manifest).parent / value).absolute())


def _fingerprint(table: pa.Table, listing_column: str | None) -> str:
    """sha256 of the locations and listings in order: a rerun must see the same photos in the same rows."""
    digest = hashlib.sha256()
    columns = [table.column("path")] + ([table.column(listing_column)] if listing_column else [])
    for column in columns:
        for value in column.cast(pa.string()).to_pylist():
            digest.update(b"\x00" if value is None else value.encode() + b"\x01")
        digest.update(b"\x02")
    return digest.hexdigest()


def column_digests(table: pa.Table) -> dict[str, str]:
    """Each column's type and the sha256 of its values in order (``input_row`` aside, which only numbers
    the rows): a rerun whose input changed in any column, or changed a column's type, is told apart."""
    digests = {}
    for name in table.column_names:
        if name == INPUT_ROW:
            continue
        column = table.column(name)
        digest = hashlib.sha256(str(column.type).encode())
        for value in column.to_pylist():
            digest.update(repr(value).encode("utf-8", "backslashreplace") + b"\x00")
        digests[name] = f"{column.type}:{digest.hexdigest()}"
    return digests
