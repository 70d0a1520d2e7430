"""A scoring run's progress, kept beside its output file so that a run that was killed can resume.

``out.json.partial`` is JSON Lines: a header holding the run's settings (model files by content, weights,
options, the photo list), then one row per photo in input order with its raw scores at full precision,
written and flushed as each photo is scored. Normalisation and ranks are never stored: they are
computed from the raw scores when the output is written, so a group cut in two by a kill ranks as it
would have in one run. A kill can cut the last row short; resuming drops that row and scores its photo
again, so every photo is kept exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from photoscore.scoring.results import ModelScore, ScoreResult

PARTIAL_SUFFIX = ".partial"
FORMAT = "photoscore partial scores 1"


class PartialFileError(ValueError):
    """A partial file that cannot be resumed; the message names the file and says why."""


class PartialFileBusy(PartialFileError):
    """A partial file that another running process holds (its lock): two runs would mix their rows."""


def partial_path(output: Path) -> Path:
    """Where the progress of a run writing ``output`` is kept: ``out.json`` -> ``out.json.partial``."""
    return output.with_name(output.name + PARTIAL_SUFFIX)


def photo_list_digest(paths: Sequence[str | Path], groups: Sequence[str | None]) -> str:
    """The SHA-256 of the photos to score, in order, with their groups."""
    text = json.dumps([[str(p), g] for p, g in zip(paths, groups, strict=True)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def result_row(result: ScoreResult) -> dict[str, Any]:
    """One photo's raw result as stored: scores at full precision, no normalisation or rank."""
    return {
        "path": result.path,
        "image_id": result.image_id,
        "mean": result.mean_score_prediction,
        "std": result.std_score_prediction,
        "distribution": result.distribution,
        "models": {name: [s.mean, s.std] for name, s in result.models.items()},
        "error": result.error,
    }


def row_result(row: Mapping[str, Any]) -> ScoreResult:
    """The :class:`ScoreResult` a stored row was made from."""
    return ScoreResult(
        image_id=row["image_id"],
        path=row["path"],
        mean_score_prediction=row["mean"],
        std_score_prediction=row["std"],
        distribution=row["distribution"],
        models={name: ModelScore(mean, std) for name, (mean, std) in row["models"].items()},
        error=row["error"],
    )


class PartialRun:
    """An open partial file: the first ``done`` photos are in it; :meth:`record` appends the next.

    The run holds an exclusive lock (``flock``) on the file from opening it until :meth:`remove` (or
    its process ends, whatever kills it), so a second run on the same file is refused, not mixed in.
    """

    def __init__(self, path: Path, stream: IO[str], done: int, lock: int):
        self.path = path
        self.stream = stream
        self.done = done
        self._lock = lock

    @classmethod
    def start(cls, path: Path, settings: Mapping[str, Any]) -> PartialRun:
        """A new partial file; FileExistsError when one is already there (an unfinished run), and
        PartialFileBusy when a running process holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            stream = path.open("x", encoding="utf-8", newline="\n", errors="surrogateescape")
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):  # a running process holds it: say so instead
                os.close(_lock(path))
            raise
        lock = _lock(path)
        stream.write(json.dumps({"format": FORMAT, "settings": settings}, ensure_ascii=False) + "\n")
        stream.flush()
        return cls(path, stream, 0, lock)

    @classmethod
    def resume(cls, path: Path, settings: Mapping[str, Any], photos: Sequence[str | Path]) -> PartialRun:
        """Reopen ``path`` for a run with ``settings`` over ``photos``.

        Raises PartialFileError when the file was made with other settings, or its rows are not the first
        of ``photos`` in order, and PartialFileBusy when a running process holds it. A last row cut
        short by a kill is dropped.
        """
        lock = _lock(path)
        try:
            return cls._reopen(path, settings, photos, lock)
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def _reopen(
        cls, path: Path, settings: Mapping[str, Any], photos: Sequence[str | Path], lock: int
    ) -> PartialRun:
        with path.open("rb") as stream:
            data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]  # what follows the last newline is a row cut short
        lines = complete.decode("utf-8", "surrogateescape").splitlines()
        header = _header(path, lines[0] if lines else "")
        settings = json.loads(json.dumps(settings))  # compared as stored: tuples become lists
        differ = [key for key in {*settings, *header} if settings.get(key) != header.get(key)]
        if differ:
            raise PartialFileError(
                f"{path} was made with other {', '.join(sorted(differ))}: resume with the same ones, "
                "or delete it to start afresh"
            )
        rows = lines[1:]
        for number, (line, photo) in enumerate(zip(rows, photos, strict=False), start=2):
            stored = _row(path, number, line)["path"]
            if stored != str(photo):
                raise PartialFileError(
                    f"{path}, line {number}: holds {stored!r} where {str(photo)!r} belongs"
                )
        if len(rows) > len(photos):
            raise PartialFileError(f"{path}: holds {len(rows)} photos, more than the {len(photos)} to score")
        if len(complete) < len(data):
            with path.open("r+b") as stream:
                stream.truncate(len(complete))
        stream = path.open("a", encoding="utf-8", newline="\n", errors="surrogateescape")
        return cls(path, stream, len(rows), lock)

    def record(self, results: Iterable[ScoreResult]) -> Iterator[ScoreResult]:
        """Pass ``results`` on, each one appended (and flushed) before it is passed on."""
        for result in results:
            self.stream.write(json.dumps(result_row(result), ensure_ascii=False) + "\n")
            self.stream.flush()
            self.done += 1
            yield result

    def results(self, limit: int | None = None) -> Iterator[ScoreResult]:
        """The stored results in input order (the first ``limit`` of them), read one row at a time."""
        with self.path.open(encoding="utf-8", newline="\n", errors="surrogateescape") as stream:
            stream.readline()
            for number, line in enumerate(stream, start=2):
                if limit is not None and number - 2 >= limit:
                    return
                yield row_result(_row(self.path, number, line))

    def flush(self) -> None:
        """Flush the rows to disk; the file stays open and locked."""
        if not self.stream.closed:
            self.stream.flush()
            os.fsync(self.stream.fileno())

    def close(self) -> None:
        """Flush the rows to disk, close the file and let go of its lock."""
        self.flush()
        self.stream.close()
        self._unlock()

    def remove(self) -> None:
        """Delete the file (the output it was for is complete), then let go of its lock."""
        self.stream.close()
        self.path.unlink(missing_ok=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1


def _lock(path: Path) -> int:
    """A descriptor of ``path`` holding its exclusive lock; PartialFileBusy when another process has it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise PartialFileBusy(
                f"{path} is in use by another photoscore run that is still going: wait for it to end, "
                "or stop it and then --resume"
            ) from None
        raise
    return fd


def _header(path: Path, line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT
        or not isinstance(header.get("settings"), dict)
    ):
        raise PartialFileError(f"{path}: not a partial file of photoscore score; delete it to start afresh")
    return header["settings"]


def _row(path: Path, number: int, line: str) -> dict[str, Any]:
    """The stored row on line ``number``, checked field by field (a row edited by hand or damaged must
    not turn into a crash or into NaN in the output)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PartialFileError(f"{path}, line {number}: not a result row ({exc})") from None
    problem = _row_problem(row)
    if problem:
        raise PartialFileError(
            f"{path}, line {number}: not a result row ({problem}); delete the file to start afresh"
        )
    return row


def _row_problem(row: Any) -> str | None:
    """What is wrong with a stored row, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    for key in ("path", "image_id"):
        if not isinstance(row.get(key), str):
            return f"{key} missing or not text"
    if not isinstance(row.get("error", 0), str | None):
        return "error missing or not text"
    for key in ("mean", "std"):
        if not _score(row.get(key, "")):
            return f"{key} missing or not a finite number"
    distribution, models = row.get("distribution", ""), row.get("models")
    if distribution is not None and not (isinstance(distribution, list) and all(map(_score, distribution))):
        return "distribution missing or not a list of finite numbers"
    if not isinstance(models, dict) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(map(_score, pair)) for pair in models.values()
    ):
        return "models missing or not pairs of finite numbers"
    return None


def _score(value: Any) -> bool:
    """A stored score: null or a finite number."""
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
