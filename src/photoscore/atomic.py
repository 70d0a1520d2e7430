"""Files that appear whole or not at all: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_FILE_MODE = 0o644


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; it replaces ``path`` when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(temp)
        os.chmod(temp, _FILE_MODE)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A UTF-8 text file that replaces ``path`` only when the block ends without error. File names that
    are not valid UTF-8 (held as surrogate escapes) are written as their original bytes."""
    with (
        atomic_path(path) as temp,
        temp.open("w", encoding="utf-8", newline="\n", errors="surrogateescape") as file,
    ):
        yield file


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as temp, temp.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
