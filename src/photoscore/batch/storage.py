"""Folders on any pyarrow filesystem (local, ``s3://``, ``gs://`` ...), written so that a file appears
whole or not at all: locally through a hidden temporary file and a rename; on an object store with one
upload, which the store makes visible only once it is complete."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from photoscore.batch.fetch import is_remote

PART = re.compile(r"^part-(\d+)\.parquet$")


def filesystem_for(location: str) -> tuple[pafs.FileSystem, str]:
    """A local path or a URI -> its filesystem and the path within it (local paths made absolute)."""
    if is_remote(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), os.path.abspath(location.removeprefix("file://"))


def part_name(shard: int) -> str:
    return f"part-{shard:06d}.parquet"


class Folder:
    """A folder of a job's files, by location (picklable: actors open their own)."""

    def __init__(self, location: str):
        self.location = location.rstrip("/")
        self.fs, self.base = filesystem_for(self.location)
        self.base = self.base.rstrip("/")
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Folder, (self.location,))

    def path(self, *names: str) -> str:
        return "/".join([self.base, *names])

    def describe(self, *names: str) -> str:
        """Where a file is, as the user wrote the folder."""
        return "/".join([self.location, *names])

    def parts(self, folder: str = "") -> dict[int, str]:
        """Shard number -> path of each ``part-N.parquet`` in ``folder`` (hidden temporary files ignored)."""
        where = self.path(folder) if folder else self.base
        infos = self.fs.get_file_info(pafs.FileSelector(where, allow_not_found=True))
        found = {}
        for info in infos:
            match = PART.match(info.base_name)
            if match and info.type == pafs.FileType.File:
                found[int(match.group(1))] = info.path
        return found

    def files(self, *names: str) -> list[str]:
        """The paths of the files directly in the folder ``names`` (none when it does not exist)."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(*names), allow_not_found=True))
        return [info.path for info in infos if info.type == pafs.FileType.File]

    def entries(self) -> list[str]:
        """The names directly in the folder, sorted (none when it does not exist)."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True))
        return sorted(info.base_name for info in infos)

    def write_table(self, table: pa.Table, *names: str) -> None:
        """Write a Parquet file atomically."""
        self._atomically(lambda path: pq.write_table(table, path, filesystem=self.fs), *names)

    def write_json(self, document: dict[str, Any], *names: str) -> None:
        data = (json.dumps(document, indent=1) + "\n").encode()

        def write(path: str) -> None:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)

        self._atomically(write, *names)

    def read_json(self, *names: str) -> dict[str, Any] | None:
        """The JSON document at ``names``, or None when there is none."""
        try:
            with self.fs.open_input_stream(self.path(*names)) as stream:
                return json.loads(stream.read())
        except FileNotFoundError:
            return None

    def read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(path, filesystem=self.fs, columns=columns)

    def delete_folder(self, *names: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.path(*names))

    def _atomically(self, write, *names: str) -> None:  # type: ignore[no-untyped-def]
        final = self.path(*names)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if not self.local:
            write(final)
            return
        temporary = f"{parent}/.{final.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
        try:
            write(temporary)
            self.fs.move(temporary, final)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
