"""AVA (AVA.txt, tags.txt, generic_test.jpgl) to label files.

``AVA.txt`` has 15 space-separated whole numbers per line: index, image id (the file ``<id>.jpg``), vote
counts for scores 1..10, semantic tag 1, semantic tag 2 (0 = none) and challenge id. Malformed lines
(another column count, a non-number, a negative count, no votes, a repeated id) are skipped and reported
with their line numbers.

The file is streamed twice: the first pass finds bad lines and the random split, the second writes the
label files, so memory grows only by 16 bytes per row. The split is made on every valid row before the
category filter and the image checks, so the test ids of a category are the test ids of the full split
(images rejected by the checks are then left out of either side).
"""

from __future__ import annotations

import csv
import difflib
import json
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from photoscore.atomic import atomic_open
from photoscore.images import ImageError, load_image
from photoscore.labels import (
    NUM_BUCKETS,
    LabelEntry,
    LabelStats,
    StatsAccumulator,
    image_path,
    open_label_writer,
    split_key,
    split_limit,
    strip_image_extension,
)

AVA_COLUMNS = 15
TRAIN_FILE = "ava_labels_train.json"
TEST_FILE = "ava_labels_test.json"
SUMMARY_FILE = "ava_summary.json"
REJECTED_FILE = "ava_rejected.csv"
MAX_KEPT_PROBLEMS = 1000
CHUNK_ROWS = 1024
CHECK_SIZE = (256, 256)  # images are checked with a reduced-scale decode, as large as training needs

SplitMode = Literal["random", "official"]
Progress = Callable[[int, int], None]

# The 66 semantic tags of AVA's tags.txt (ids 1..66 in this order), used when no tags file is given.
# fmt: off
_AVA_TAG_NAMES = [
    "Abstract", "Cityscape", "Fashion", "Family", "Humorous", "Interior", "Sky", "Snapshot", "Sports",
    "Urban", "Vintage", "Emotive", "Performance", "Landscape", "Nature", "Candid", "Portraiture",
    "Still Life", "Animals", "Architecture", "Black and White", "Macro", "Travel", "Action",
    "Photojournalism", "Nude", "Rural", "Water", "Studio", "Political", "Advertisement", "Persuasive",
    "Panoramic", "Digital Art", "Seascapes", "Traditional Art", "Diptych / Triptych", "Floral",
    "Transportation", "Food and Drink", "Science and Technology", "Wedding", "Astrophotography", "Military",
    "History", "Infrared", "Self Portrait", "Textures", "DPChallenge GTGs", "Children", "Blur",
    "Photo-Impressionism", "High Dynamic Range (HDR)", "Texture Library", "Overlays", "Maternity", "Birds",
    "Horror", "Music", "Pinhole/Zone Plate", "Street", "Lensbaby", "Fish Eye", "Camera Phones",
    "Insects, etc", "Analog",
]
# fmt: on
AVA_TAGS: dict[int, str] = dict(enumerate(_AVA_TAG_NAMES, start=1))


class AvaError(ValueError):
    """AVA input that cannot be converted at all."""


@dataclass(frozen=True)
class AvaRow:
    """One valid line of AVA.txt."""

    image_id: str
    counts: tuple[int, ...]
    tags: tuple[int, int]


@dataclass(frozen=True)
class LineProblem:
    """A line of AVA.txt that was skipped, and why."""

    line: int
    problem: str


@dataclass
class AvaSummary:
    """What a conversion read and wrote."""

    lines: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    problem_count: int = 0
    valid_rows: int = 0
    selected_rows: int = 0
    rejected_images: int = 0
    test_list_ids: int | None = None
    test_list_not_in_ava: int | None = None
    stats: dict[str, LabelStats] = field(default_factory=dict)
    tags: dict[int, dict[str, int]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def add_problem(self, problem: LineProblem) -> None:
        """Record a skipped line (keeping the first MAX_KEPT_PROBLEMS in detail)."""
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(problem)

    def to_dict(self, tag_names: Mapping[int, str]) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "settings": self.settings,
            "lines": self.lines,
            "skipped_lines": self.problem_count,
            "skipped_line_details": [{"line": p.line, "problem": p.problem} for p in self.problems],
            "valid_rows": self.valid_rows,
            "selected_rows": self.selected_rows,
            "rejected_images": self.rejected_images,
            "test_list_ids": self.test_list_ids,
            "test_list_not_in_ava": self.test_list_not_in_ava,
            "splits": {name: stats.to_dict() for name, stats in self.stats.items()},
            "tags": [
                {"id": tag, "name": tag_names.get(tag, "?")} | counts
                for tag, counts in sorted(self.tags.items())
            ],
        }


def parse_ava_line(text: str) -> AvaRow:
    """Parse one AVA.txt line; raise ValueError saying what is wrong with it."""
    parts = text.split()
    if len(parts) != AVA_COLUMNS:
        raise ValueError(f"expected {AVA_COLUMNS} columns, found {len(parts)}")
    try:
        numbers = list(map(int, parts))
    except ValueError:
        column, part = next((i, p) for i, p in enumerate(parts, 1) if not _is_int(p))
        raise ValueError(f"column {column} ({part!r}) is not a whole number") from None
    counts = tuple(numbers[2:12])
    if min(counts) < 0:
        raise ValueError("negative vote count")
    if sum(counts) == 0:
        raise ValueError("no votes")
    return AvaRow(parts[1], counts, (numbers[12], numbers[13]))


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def read_tags(path: str | os.PathLike[str]) -> dict[int, str]:
    """Read tags.txt (``<id> <name>`` per line); raise AvaError naming malformed lines."""
    tags: dict[int, str] = {}
    with open(path, encoding="utf-8", errors="replace") as file:
        for line, text in enumerate(file, 1):
            if not text.strip():
                continue
            tag, _, name = text.strip().partition(" ")
            if not tag.isdigit() or not name.strip():
                raise AvaError(f"{path}, line {line}: expected '<tag id> <name>', got {text.strip()!r}")
            tags[int(tag)] = name.strip()
    return tags


def resolve_categories(specs: Iterable[str], tags: Mapping[int, str]) -> dict[int, str]:
    """Tag ids and names for category specs, each a tag id or a name (any case); raise AvaError if unknown."""
    by_name = {name.casefold(): tag for tag, name in tags.items()}
    chosen: dict[int, str] = {}
    for spec in (s.strip() for s in specs):
        tag = int(spec) if spec.isdigit() else by_name.get(spec.casefold())
        if tag is None or tag not in tags:
            close = difflib.get_close_matches(spec, tags.values(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise AvaError(f"unknown AVA category {spec!r}{hint}")
        chosen[tag] = tags[tag]
    return chosen


def read_test_list(path: str | os.PathLike[str]) -> set[str]:
    """Read an image list (one id, or ``<id>.jpg``, per line)."""
    with open(path, encoding="utf-8", errors="replace") as file:
        return {strip_image_extension(text.strip()) for text in file if text.strip()}


def check_image(image_dir: Path, image_id: str, img_format: str | None) -> str | None:
    """Why the image of ``image_id`` cannot be used, or None when it exists and decodes."""
    try:
        load_image(image_path(image_dir, image_id, img_format), min_size=CHECK_SIZE)
    except FileNotFoundError:
        return "file not found"
    except ImageError as exc:
        return exc.reason
    return None


@dataclass(frozen=True)
class _FirstPass:
    bad_lines: set[int]
    limit: int


def _read_lines(path: Path, progress: Progress | None, offset: int) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of non-blank lines, reporting bytes read."""
    total = 2 * path.stat().st_size
    done = 0
    with open(path, "rb") as file:
        for line, raw in enumerate(file, 1):
            done += len(raw)
            if progress is not None and line % CHUNK_ROWS == 0:
                progress(offset + done, total)
            text = raw.decode("utf-8", errors="replace")
            if text.strip():
                yield line, text
    if progress is not None:
        progress(offset + done, total)


def _first_pass(
    path: Path, summary: AvaSummary, seed: int, test_fraction: float | None, progress: Progress | None
) -> _FirstPass:
    keys = array("Q")
    lines = array("Q")
    bad_lines: set[int] = set()
    for line, text in _read_lines(path, progress, 0):
        summary.lines += 1
        try:
            row = parse_ava_line(text)
        except ValueError as exc:
            summary.add_problem(LineProblem(line, str(exc)))
            bad_lines.add(line)
            continue
        keys.append(split_key(row.image_id, seed))
        lines.append(line)
    unique = _drop_duplicates(
        np.frombuffer(keys, dtype=np.uint64), np.frombuffer(lines, dtype=np.uint64), summary, bad_lines
    )
    summary.valid_rows = len(unique)
    if summary.valid_rows == 0:
        details = "; ".join(f"line {p.line}: {p.problem}" for p in summary.problems[:5])
        raise AvaError(f"{path}: no valid AVA rows ({details or 'the file is empty'})")
    return _FirstPass(bad_lines, split_limit(unique, test_fraction) if test_fraction is not None else -1)


def _drop_duplicates(
    keys: np.ndarray, lines: np.ndarray, summary: AvaSummary, bad_lines: set[int]
) -> np.ndarray:
    """Keys of the first row of each id; later rows with the same id are bad lines.

    Ids are compared by their 64-bit split keys (a false match between two ids is about 1e-9 likely).
    """
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    repeat = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
    first_line: dict[int, int] = {}
    for position in repeat:
        first = first_line.setdefault(int(sorted_keys[position]), int(lines[order[position - 1]]))
        line = int(lines[order[position]])
        summary.add_problem(LineProblem(line, f"duplicate image id (first on line {first})"))
        bad_lines.add(line)
    summary.problems.sort(key=lambda p: p.line)
    return np.delete(sorted_keys, repeat)


def _rows(path: Path, bad_lines: set[int], progress: Progress | None) -> Iterator[AvaRow]:
    offset = path.stat().st_size
    for line, text in _read_lines(path, progress, offset):
        if line not in bad_lines:
            yield parse_ava_line(text)


def _chunks(rows: Iterable[AvaRow]) -> Iterator[list[AvaRow]]:
    chunk: list[AvaRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Sink:
    """Writes the selected rows of each split and keeps the summary's counts."""

    def __init__(self, stack: ExitStack, out_dir: Path, summary: AvaSummary) -> None:
        self.writers = {
            "train": stack.enter_context(open_label_writer(out_dir / TRAIN_FILE)),
            "test": stack.enter_context(open_label_writer(out_dir / TEST_FILE)),
        }
        self.stats = {name: StatsAccumulator() for name in self.writers}
        self.summary = summary

    def write(self, split: str, rows: list[AvaRow]) -> None:
        """Write rows to one split's file."""
        for row in rows:
            self.writers[split].write(LabelEntry(row.image_id, row.counts))
            for tag in set(row.tags) - {0}:
                counts = self.summary.tags.setdefault(tag, {"train": 0, "test": 0})
                counts[split] += 1
        self.stats[split].add(
            np.array([row.counts for row in rows], dtype=np.float64).reshape(-1, NUM_BUCKETS)
        )

    def finish(self) -> None:
        """Put the statistics of both splits into the summary."""
        self.summary.stats = {name: acc.result() for name, acc in self.stats.items()}


class _ImageChecker:
    """Checks images in parallel and writes the rejected ids with their reasons."""

    def __init__(
        self,
        stack: ExitStack,
        out_dir: Path,
        image_dir: Path,
        img_format: str | None,
        workers: int | None,
        summary: AvaSummary,
    ) -> None:
        self.image_dir, self.img_format, self.summary = image_dir, img_format, summary
        self.executor = stack.enter_context(ThreadPoolExecutor(workers or os.cpu_count()))
        self.rejected = csv.writer(stack.enter_context(atomic_open(out_dir / REJECTED_FILE)))
        self.rejected.writerow(["image_id", "reason"])

    def usable(self, rows: list[AvaRow]) -> list[AvaRow]:
        """The rows whose image exists and decodes."""
        reasons = self.executor.map(
            lambda row: check_image(self.image_dir, row.image_id, self.img_format), rows
        )
        kept = []
        for row, reason in zip(rows, reasons, strict=True):
            if reason is None:
                kept.append(row)
            else:
                self.rejected.writerow([row.image_id, reason])
                self.summary.rejected_images += 1
        return kept


def convert_ava(
    ava_txt: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    categories: Mapping[int, str] | None = None,
    split: SplitMode = "random",
    test_fraction: float = 0.1,
    seed: int = 0,
    test_ids: set[str] | None = None,
    image_dir: str | os.PathLike[str] | None = None,
    img_format: str | None = None,
    workers: int | None = None,
    tag_names: Mapping[int, str] = AVA_TAGS,
    progress: Progress | None = None,
) -> AvaSummary:
    """Convert AVA.txt into ``ava_labels_train.json`` and ``ava_labels_test.json`` in ``out_dir``.

    ``categories`` keeps rows with one of these tag ids in either tag column. ``split="random"`` puts
    ``test_fraction`` of all valid rows (by id and ``seed``, the rule of labels.split_labels) in the test
    set; ``"official"`` puts the ids of ``test_ids`` there. With ``image_dir`` each selected image is
    checked to exist and decode (``workers`` threads, default: CPU count); rejected ids go to
    ``ava_rejected.csv`` with their reasons. The summary (``ava_summary.json``, tags named by
    ``tag_names``) is written last and returned. ``progress(done, total)`` is called as the file is read.
    """
    path, out = Path(ava_txt), Path(out_dir)
    if (split == "official") != (test_ids is not None):
        raise AvaError("the official split, and only it, needs the test list (generic_test.jpgl)")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise AvaError(f"image folder {image_dir} does not exist")
    summary = AvaSummary(settings=_settings(path, categories, split, test_fraction, seed, image_dir))
    first = _first_pass(path, summary, seed, test_fraction if split == "random" else None, progress)
    found_test_ids: set[str] = set()
    with ExitStack() as stack:
        sink = _Sink(stack, out, summary)
        checker = None
        if image_dir is not None:
            checker = _ImageChecker(stack, out, Path(image_dir), img_format, workers, summary)
        for chunk in _chunks(_rows(path, first.bad_lines, progress)):
            if test_ids is not None:
                found_test_ids.update(row.image_id for row in chunk if row.image_id in test_ids)
            selected = [
                row for row in chunk if categories is None or not categories.keys().isdisjoint(row.tags)
            ]
            summary.selected_rows += len(selected)
            if checker is not None:
                selected = checker.usable(selected)
            for name, rows in _split_rows(selected, test_ids, seed, first.limit).items():
                sink.write(name, rows)
        if summary.selected_rows == 0:
            wanted = ", ".join(f"{name} ({tag})" for tag, name in (categories or {}).items())
            raise AvaError(f"no valid AVA row has the category {wanted}")
        sink.finish()
    if test_ids is not None:
        summary.test_list_ids = len(test_ids)
        summary.test_list_not_in_ava = len(test_ids) - len(found_test_ids)
    with atomic_open(out / SUMMARY_FILE) as file:
        json.dump(summary.to_dict(tag_names), file, indent=2)
    return summary


def _split_rows(
    rows: list[AvaRow], test_ids: set[str] | None, seed: int, limit: int
) -> dict[str, list[AvaRow]]:
    """Rows by split: the ids of the test list, or those whose split key is at most ``limit``."""
    split: dict[str, list[AvaRow]] = {"train": [], "test": []}
    for row in rows:
        is_test = row.image_id in test_ids if test_ids is not None else split_key(row.image_id, seed) <= limit
        split["test" if is_test else "train"].append(row)
    return split


def _settings(
    path: Path,
    categories: Mapping[int, str] | None,
    split: SplitMode,
    test_fraction: float,
    seed: int,
    image_dir: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {"ava_txt": str(path), "split": split}
    if split == "random":
        settings |= {"test_fraction": test_fraction, "seed": seed}
    settings["categories"] = dict(categories) if categories is not None else None
    settings["image_dir"] = str(image_dir) if image_dir is not None else None
    return settings
