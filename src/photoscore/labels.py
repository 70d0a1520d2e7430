"""Label files: read, validate, write, normalise, split and summarise.

A label file is a JSON list ``[{"image_id": "231893", "label": [2, 8, 19, 36, 76, 52, 16, 9, 3, 2]}]``:
10 non-negative numbers (vote counts for scores 1..10, or probabilities) with a positive sum per image,
and optionally the photo's ``"scene"`` (a data set's own scene name, such as PARA's ``"indoor"``).
The image of an entry is ``<image_dir>/<image_id>.<img_format>``, or ``<image_id>.<ext>`` with any
supported extension when no format is given, so an id never names a path outside the image folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from photoscore.atomic import atomic_open
from photoscore.distribution import SCORE_BUCKETS, mean_score, normalize, std_score
from photoscore.images import SUPPORTED_EXTENSIONS

NUM_BUCKETS = len(SCORE_BUCKETS)
MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True)
class LabelEntry:
    """One image and its 10 bucket values (vote counts or probabilities) for scores 1..10, and its scene
    (``indoor``, ``building``...) where the data set names one."""

    image_id: str
    label: tuple[float, ...]
    scene: str | None = None

    @property
    def mean(self) -> float:
        """Mean score (1..10) of the label."""
        return float(mean_score(self.label))


class LabelFileError(ValueError):
    """A label file that cannot be used; ``problems`` lists each bad entry."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:MAX_REPORTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = [f"{source}: {problem}" for problem in shown]
        if more:
            lines.append(f"{source}: ... and {more} more problems")
        super().__init__("\n".join(lines))


def check_image_id(image_id: object) -> str:
    """Return ``image_id`` if it is a safe file stem; raise ValueError saying why not."""
    if not isinstance(image_id, str):
        raise ValueError(f"image_id must be a string, got {type(image_id).__name__}")
    if not image_id.strip():
        raise ValueError("image_id is empty")
    if image_id in (".", ".."):
        raise ValueError(f"image_id {image_id!r} would leave the image folder")
    if "/" in image_id or "\\" in image_id or "\0" in image_id:
        raise ValueError(f"image_id {image_id!r} contains a path separator")
    if image_id[1:2] == ":" and image_id[0].isalpha():
        raise ValueError(f"image_id {image_id!r} starts with a drive letter")
    return image_id


def check_label(label: object) -> tuple[float, ...]:
    """Return ``label`` as a tuple of 10 floats; raise ValueError unless it is a valid distribution."""
    if not isinstance(label, list | tuple) or len(label) != NUM_BUCKETS:
        raise ValueError(f"label must be a list of {NUM_BUCKETS} numbers")
    if not set(map(type, label)) <= {int, float}:
        raise ValueError(f"label must hold numbers only, got {list(label)!r}")
    values = tuple(map(float, label))
    if not all(map(math.isfinite, values)):
        raise ValueError("label contains NaN or infinity")
    total = sum(values)
    if not math.isfinite(total):
        raise ValueError(
            f"label too large: its numbers sum to more than {sys.float_info.max:.3g}; scale them down"
        )
    if min(values) < 0:
        raise ValueError("label contains a negative number")
    if total <= 0:
        raise ValueError("label sums to zero")
    return values


def parse_labels(data: object, source: str = "<labels>") -> list[LabelEntry]:
    """Validate decoded JSON ``data`` as a label list; raise LabelFileError naming each bad entry."""
    if not isinstance(data, list):
        raise LabelFileError(source, [f"expected a JSON list of entries, got {type(data).__name__}"])
    entries: list[LabelEntry] = []
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(data):
        try:
            entry = _parse_entry(item)
        except ValueError as exc:
            problems.append(f"entry {index}{_id_suffix(item)}: {exc}")
            continue
        if entry.image_id in first_index:
            first = first_index[entry.image_id]
            problems.append(f"entry {index} (image_id {entry.image_id!r}): duplicate of entry {first}")
            continue
        first_index[entry.image_id] = index
        entries.append(entry)
    if problems:
        raise LabelFileError(source, problems)
    return entries


def _parse_entry(item: object) -> LabelEntry:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object with image_id and label, got {type(item).__name__}")
    try:
        return LabelEntry(check_image_id(item["image_id"]), check_label(item["label"]), _check_scene(item))
    except KeyError:
        missing = [key for key in ("image_id", "label") if key not in item]
        raise ValueError(f"missing {' and '.join(missing)}") from None


def _check_scene(item: dict[str, Any]) -> str | None:
    scene = item.get("scene")
    if scene is not None and not (isinstance(scene, str) and scene.strip()):
        raise ValueError(f"scene must be a non-empty string, got {scene!r}")
    return scene


def _id_suffix(item: object) -> str:
    image_id = item.get("image_id") if isinstance(item, dict) else None
    return f" (image_id {image_id!r})" if image_id is not None else ""


def read_labels(path: str | os.PathLike[str]) -> list[LabelEntry]:
    """Read and validate a label file; raise LabelFileError (or OSError) when it is unusable."""
    source = str(path)
    with open(path, encoding="utf-8") as file:
        try:
            data = json.load(file)
        except json.JSONDecodeError as exc:
            raise LabelFileError(source, [f"not valid JSON: {exc}"]) from exc
    return parse_labels(data, source)


def entry_json(entry: LabelEntry) -> str:
    """One entry as compact JSON; whole numbers (vote counts) are written without a decimal point."""
    values = ", ".join(map(_json_number, entry.label))
    scene = "" if entry.scene is None else f', "scene": {json.dumps(entry.scene)}'
    return f'{{"image_id": {json.dumps(entry.image_id)}, "label": [{values}]{scene}}}'


def _json_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


class LabelWriter:
    """Streams entries into an open label file, one entry per line."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.count = 0
        file.write("[")

    def write(self, entry: LabelEntry) -> None:
        """Append one entry."""
        self._file.write(("\n" if self.count == 0 else ",\n") + entry_json(entry))
        self.count += 1

    def close(self) -> None:
        """End the JSON list."""
        self._file.write("\n]\n" if self.count else "]\n")


@contextmanager
def open_label_writer(path: str | os.PathLike[str]) -> Iterator[LabelWriter]:
    """A LabelWriter on ``path``, written atomically."""
    with atomic_open(path) as file:
        writer = LabelWriter(file)
        yield writer
        writer.close()


def write_labels(path: str | os.PathLike[str], entries: Iterable[LabelEntry]) -> int:
    """Write entries to a label file atomically; returns how many were written."""
    with open_label_writer(path) as writer:
        for entry in entries:
            writer.write(entry)
    return writer.count


def normalize_labels(entries: Iterable[LabelEntry]) -> list[LabelEntry]:
    """Entries with each label scaled to sum to 1."""
    return [replace(e, label=tuple(float(v) for v in normalize(e.label))) for e in entries]


def labels_array(entries: Sequence[LabelEntry]) -> np.ndarray:
    """Labels as a float64 array of shape (N, 10)."""
    return np.array([e.label for e in entries], dtype=np.float64).reshape(len(entries), NUM_BUCKETS)


def _extensions() -> list[str]:
    return [ext.lower().lstrip(".") for ext in sorted(SUPPORTED_EXTENSIONS)]


def strip_image_extension(name: str) -> str:
    """``name`` without a trailing supported image extension (any case): ``"3.WebP"`` -> ``"3"``."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and ext.lower() in _extensions() else name


def image_path(image_dir: str | os.PathLike[str], image_id: str, img_format: str | None = None) -> Path:
    """The image file of ``image_id``.

    With ``img_format`` the path is ``<image_dir>/<image_id>.<img_format>`` (existing or not). Without it,
    the existing file ``<image_id>.<ext>`` with a supported extension in any case; when several exist,
    the first extension in sorted order wins. Raises FileNotFoundError when there is none.
    """
    folder = Path(image_dir)
    check_image_id(image_id)
    if img_format is not None:
        return folder / f"{image_id}.{img_format.lstrip('.')}"
    extensions = _extensions()
    for ext in extensions:
        for variant in (ext, ext.upper()):
            candidate = folder / f"{image_id}.{variant}"
            if candidate.is_file():
                return candidate
    matches = sorted(_mixed_case_matches(folder, image_id, extensions))
    if matches:
        return matches[0]
    raise FileNotFoundError(f"no image {image_id}.<{'|'.join(extensions)}> in {folder}")


def _mixed_case_matches(folder: Path, image_id: str, extensions: list[str]) -> Iterator[Path]:
    prefix = f"{image_id}."
    try:
        with os.scandir(folder) as scan:
            for item in scan:
                name = item.name
                if name.startswith(prefix) and name[len(prefix) :].lower() in extensions and item.is_file():
                    yield Path(item.path)
    except FileNotFoundError:
        return


def split_key(image_id: str, seed: int) -> int:
    """A 64-bit pseudo-random key of an id; a split puts the ids with the smallest keys in the test set."""
    digest = hashlib.blake2b(f"{seed}\0{image_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def split_test_size(total: int, test_fraction: float) -> int:
    """How many of ``total`` items a split puts in the test set (at least one each side when total >= 2)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    if total < 2:
        return 0
    return min(total - 1, max(1, round(total * test_fraction)))


def split_limit(keys: np.ndarray, test_fraction: float) -> int:
    """The largest split key in the test set (-1 when the test set is empty): test means key <= limit."""
    n_test = split_test_size(len(keys), test_fraction)
    if n_test == 0:
        return -1
    return int(np.partition(np.asarray(keys, dtype=np.uint64), n_test - 1)[n_test - 1])


def hash_folds(entries: Sequence[LabelEntry], k: int, seed: int) -> list[list[LabelEntry]]:
    """k folds of about equal size for cross-validation, each entry's fold fixed by its id's seeded key
    (independent of the order of the entries)."""
    ordered = sorted(entries, key=lambda e: split_key(e.image_id, seed))
    return [ordered[i::k] for i in range(k)]


def split_labels(
    entries: Sequence[LabelEntry], test_fraction: float, seed: int = 0
) -> tuple[list[LabelEntry], list[LabelEntry]]:
    """Split entries at random into (train, test), keeping their order.

    Deterministic for a seed: an entry's side depends only on its id, the seed and the set of ids, not on
    the order of the entries (AVA conversion uses the same rule, so both give the same split).
    """
    keys = np.array([split_key(e.image_id, seed) for e in entries], dtype=np.uint64)
    limit = split_limit(keys, test_fraction)
    is_test = keys <= limit if limit >= 0 else np.zeros(len(entries), dtype=bool)
    train = [e for e, test in zip(entries, is_test, strict=True) if not test]
    test = [e for e, test in zip(entries, is_test, strict=True) if test]
    return train, test


@dataclass(frozen=True)
class LabelStats:
    """A summary of a set of labels (score figures are None when there are no labels).

    ``histogram[k]`` counts mean scores in [k + 1, k + 2) for k = 0..8 (the last bin includes 10).
    Vote figures are None unless every label holds whole-number vote counts.
    """

    count: int
    histogram: tuple[int, ...]
    mean_score_mean: float | None = None
    mean_score_std: float | None = None
    mean_score_min: float | None = None
    mean_score_max: float | None = None
    std_score_mean: float | None = None
    votes_total: int | None = None
    votes_per_image_min: int | None = None
    votes_per_image_mean: float | None = None
    votes_per_image_max: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class StatsAccumulator:
    """Builds LabelStats from batches of labels without keeping them."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = self._sum_sq = self._std_sum = 0.0
        self._min, self._max = math.inf, -math.inf
        self._histogram = np.zeros(NUM_BUCKETS - 1, dtype=np.int64)
        self._counts_only = True
        self._votes_total = 0
        self._votes_min, self._votes_max = math.inf, -math.inf

    def add(self, labels: np.ndarray) -> None:
        """Add labels of shape (N, 10)."""
        if len(labels) == 0:
            return
        means = np.atleast_1d(mean_score(labels))
        self.count += len(labels)
        self._sum += float(means.sum())
        self._sum_sq += float((means**2).sum())
        self._std_sum += float(np.atleast_1d(std_score(labels)).sum())
        self._min, self._max = min(self._min, float(means.min())), max(self._max, float(means.max()))
        bins = np.clip(np.floor(means).astype(np.int64) - 1, 0, NUM_BUCKETS - 2)
        self._histogram += np.bincount(bins, minlength=NUM_BUCKETS - 1)
        self._add_votes(labels)

    def _add_votes(self, labels: np.ndarray) -> None:
        self._counts_only = self._counts_only and bool(np.all(labels == np.round(labels)))
        if self._counts_only:
            votes = labels.sum(axis=1)
            self._votes_total += int(votes.sum())
            self._votes_min = min(self._votes_min, float(votes.min()))
            self._votes_max = max(self._votes_max, float(votes.max()))

    def result(self) -> LabelStats:
        """The statistics so far."""
        n = self.count
        histogram = tuple(int(v) for v in self._histogram)
        if n == 0:
            return LabelStats(count=0, histogram=histogram)
        mean = self._sum / n
        votes = self._counts_only
        return LabelStats(
            count=n,
            histogram=histogram,
            mean_score_mean=mean,
            mean_score_std=math.sqrt(max(self._sum_sq / n - mean**2, 0.0)),
            mean_score_min=self._min,
            mean_score_max=self._max,
            std_score_mean=self._std_sum / n,
            votes_total=self._votes_total if votes else None,
            votes_per_image_min=int(self._votes_min) if votes else None,
            votes_per_image_mean=self._votes_total / n if votes else None,
            votes_per_image_max=int(self._votes_max) if votes else None,
        )


def label_stats(entries: Sequence[LabelEntry]) -> LabelStats:
    """Statistics of a list of entries."""
    accumulator = StatsAccumulator()
    accumulator.add(labels_array(entries))
    return accumulator.result()
