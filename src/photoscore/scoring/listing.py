"""Listings: group photos (by folder or a CSV manifest), normalise and rank them within each group.

Ranking needs a whole group, so a result waits (as a small record, never pixels) until the last photo
of its group is scored; photos given group by group (a folder of listings, a manifest sorted by listing)
hold one group at a time. Within a group:

- scores are compared at the precision they are written with (6 decimals), so photos that look equal
  in the output rank equal;
- ``rank`` 1 is the best; equal scores share a rank and the next rank skips (1, 2, 2, 4);
- a group of one photo, or of equal scores, gets the normaliser's middle value (0.5 on a 0..1 scale)
  and rank 1 for all; the cover is the first of them in input order;
- a photo that could not be scored keeps its error, gets no score or rank and is left out of the
  normalisation, so it does not move the others.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np

from photoscore.scoring.normalize import Method, Normalizer, Scale
from photoscore.scoring.results import DECIMALS, ScoreResult

GroupBy = Literal["parent", "none"]
# Photos whose mean score (1..10) is below this are flagged. AVA's photo means average 5.4 with a std of
# about 0.7, so 4.5 is about the weakest tenth: a photo to look at again, not an automatic reject.
DEFAULT_FLAG_BELOW = 4.5
MANIFEST_COLUMNS = ("listing_id", "path")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and the row."""


@dataclass
class Ranking:
    """One group's photos, best first; photos that could not be scored come last, in input order."""

    group: str | None
    results: list[ScoreResult]

    @property
    def title(self) -> str:
        """``"listing <id>: <n> photos"`` (``"all photos: ..."`` for the one group of ungrouped photos)."""
        count = len(self.results)
        name = "all photos" if self.group is None else f"listing {self.group}"
        return f"{name}: {count} photo{'' if count == 1 else 's'}"

    @property
    def cover(self) -> ScoreResult | None:
        """The suggested cover photo: the best scored one (the first in input order among equals)."""
        return next((r for r in self.results if r.ok), None)

    def flagged(self, below: float) -> list[ScoreResult]:
        """Scored photos whose mean score (1..10) is below ``below``, best first."""
        return [r for r in self.results if r.ok and r.mean_score_prediction < below]  # type: ignore[operator]


def group_labels(paths: Sequence[Path], group_by: GroupBy | Sequence[str]) -> list[str | None]:
    """Each photo's group: ``"parent"`` (its folder), ``"none"`` (one group, labelled None) or labels
    given one per path."""
    if group_by == "parent":
        return parent_groups(paths)
    if group_by == "none":
        return [None] * len(paths)
    if isinstance(group_by, str):
        raise ValueError(f"unknown grouping {group_by!r}; use parent, none or one label per photo")
    labels: list[str | None] = list(group_by)
    if len(labels) != len(paths):
        raise ValueError(f"{len(paths)} photos need {len(paths)} group labels, got {len(labels)}")
    return labels


def parent_groups(paths: Sequence[Path]) -> list[str | None]:
    """Each photo's listing id: its folder's name, or the folder's path where two folders share a name."""
    folders = [Path(p).parent for p in paths]
    real = {folder: folder.resolve() for folder in folders}
    by_name: defaultdict[str, set[Path]] = defaultdict(set)
    for resolved in real.values():
        by_name[resolved.name].add(resolved)
    return [
        real[folder].name if real[folder].name and len(by_name[real[folder].name]) == 1 else str(folder)
        for folder in folders
    ]


def read_manifest(path: str | Path) -> tuple[list[Path], list[str | None]]:
    """A CSV with the columns ``listing_id`` and ``path`` (others are ignored) -> photos and their listings.

    Relative photo paths are taken from the manifest's folder. Raises ManifestError for a missing file or
    column, or a row with an empty value.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            columns = list(reader.fieldnames or ())
            missing = [c for c in MANIFEST_COLUMNS if c not in columns]
            if missing:
                raise ManifestError(
                    f"{path}: no column {', '.join(missing)} (a manifest has listing_id,path)"
                )
            twice = [c for c in MANIFEST_COLUMNS if columns.count(c) > 1]
            if twice:
                raise ManifestError(f"{path}: column {', '.join(twice)} appears more than once; keep one")
            rows = [(n, row["listing_id"], row["path"]) for n, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    photos: list[Path] = []
    labels: list[str | None] = []
    for line, listing_id, photo in rows:
        if not (listing_id or "").strip() or not (photo or "").strip():
            raise ManifestError(f"{path}, line {line}: empty listing_id or path")
        photos.append(path.parent / photo.strip())
        labels.append(listing_id.strip())
    return photos, labels


def rank_in_place(
    members: Sequence[ScoreResult],
    normalize: Method = "minmax",
    normalizer: Normalizer | None = None,
    scale: Scale = "0-1",
) -> None:
    """Set ``normalized_score`` and ``rank`` of one group's scored photos.

    Without ``normalizer``, one of method ``normalize`` is fitted on the group itself.
    """
    scored = [r for r in members if r.ok]
    if not scored:
        return
    scores = np.array([_shown(r) for r in scored])
    fitted = normalizer or Normalizer.fit(normalize, scores)
    ranks = len(scores) - np.searchsorted(np.sort(scores), scores, side="right") + 1
    for result, value, rank in zip(scored, fitted.apply(scores, scale), ranks, strict=True):
        result.normalized_score = float(value)
        result.rank = int(rank)


def score_groups(
    results: Iterable[ScoreResult],
    groups: Sequence[str | None],
    normalize: Method = "minmax",
    normalizer: Normalizer | None = None,
    scale: Scale = "0-1",
) -> Iterator[ScoreResult]:
    """Results in input order with ``group``, ``normalized_score`` and ``rank`` set (``groups`` gives
    one label per result); each result leaves as soon as its group is complete."""
    buffer: GroupBuffer[ScoreResult] = GroupBuffer(groups)
    pending: deque[ScoreResult] = deque()
    for result, group in zip(results, groups, strict=True):
        result.group = group
        pending.append(result)
        members = buffer.add(result, group)
        if members is not None:
            rank_in_place(members, normalize, normalizer, scale)
        while pending and buffer.complete(pending[0].group):
            yield pending.popleft()


def rank_groups(
    results: Iterable[ScoreResult],
    groups: Sequence[str | None],
    normalize: Method = "minmax",
    normalizer: Normalizer | None = None,
    scale: Scale = "0-1",
) -> Iterator[Ranking]:
    """Each group's :class:`Ranking`, as soon as the last photo of that group is scored."""
    buffer: GroupBuffer[ScoreResult] = GroupBuffer(groups)
    for result, group in zip(results, groups, strict=True):
        result.group = group
        members = buffer.add(result, group)
        if members is not None:
            rank_in_place(members, normalize, normalizer, scale)
            yield Ranking(group, sorted(members, key=lambda r: (r.rank is None, r.rank or 0)))


def normalize_each(
    results: Iterable[ScoreResult], normalizer: Normalizer, scale: Scale
) -> Iterator[ScoreResult]:
    """Results with ``normalized_score`` from a fitted normaliser, one by one: no waiting, no rank."""
    for result in results:
        if result.ok:
            result.normalized_score = float(normalizer.apply(_shown(result), scale))
        yield result


def _shown(result: ScoreResult) -> float:
    """The mean score at the precision it is written with."""
    return round(result.mean_score_prediction, DECIMALS)  # type: ignore[arg-type]


Item = TypeVar("Item")


class GroupBuffer(Generic[Item]):
    """Collects a group's items (results, reviews) until the last photo of the group arrives."""

    def __init__(self, groups: Sequence[str | None]):
        self.remaining = Counter(groups)
        self.members: defaultdict[str | None, list[Item]] = defaultdict(list)

    def add(self, item: Item, group: str | None) -> list[Item] | None:
        """Add an item; returns its group's members, in input order, once the group is complete."""
        self.members[group].append(item)
        self.remaining[group] -= 1
        return self.members.pop(group) if self.remaining[group] == 0 else None

    def complete(self, group: str | None) -> bool:
        return self.remaining[group] == 0
