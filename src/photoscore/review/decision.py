"""The listing decision: the cover, the order to show the photos, ties, missing rooms, photo count.

- The cover is the best-scored photo that passes every check, is no duplicate, and whose room the preset
  allows as a cover (never a bathroom); a preset's ``cover_first`` room is preferred when one of its
  photos qualifies. Where no photo qualifies, the best-scored photo of an allowed room stands in and
  ``cover_note`` says why.
- The order follows the score but prefers a room not yet shown: after the cover, each next photo is the
  one with the highest score plus :data:`NEW_ROOM_BONUS` when its room is new (``other`` is never new).
  Photos that fail a check follow, then duplicates (the copies not kept), then photos that could not be
  read.
- Two photos whose scores differ by less than the tie band (the models' repeatability: the score change
  a re-encoded or resized copy of the same photo shows) are tied: each lists the other in ``tied_with``,
  since their order is within the models' noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from photoscore.review.duplicates import DuplicateGroup
from photoscore.review.presets import Preset
from photoscore.review.results import ListingReview, PhotoReview

# A room not yet shown moves a photo up by this many points of the 1..10 score: inside a listing, scores
# span a median of 0.6 points, so a new room nearly always comes before a second view of a room shown.
NEW_ROOM_BONUS = 0.5


def decide(
    listing: str | None,
    photos: Sequence[PhotoReview],
    preset: Preset,
    duplicates: Sequence[DuplicateGroup] = (),
    tie_band: float = 0.0,
) -> ListingReview:
    """Decide one listing: sets each photo's ``position``, ``cover``, ``tied_with`` and ``duplicate_of``."""
    by_index = {p.index: p for p in photos}
    for group in duplicates:
        for copy in group.others:
            by_index[copy].duplicate_of = group.keep
            by_index[copy].duplicate_of_name = Path(by_index[group.keep].result.path).name
    cover, note = _cover(photos, preset)
    order = _order(photos, cover)
    for position, photo in enumerate(order, start=1):
        photo.position = position
        photo.cover = photo is cover
    _mark_ties(photos, tie_band)
    shown = [p for p in order if p.ok and p.duplicate_of is None]
    rooms_shown = list(dict.fromkeys(p.room for p in shown if p.room and p.room != "other"))
    errors = [p for p in photos if not p.ok]
    return ListingReview(
        listing=listing,
        preset=preset.name,
        photos=order + errors,
        cover=cover,
        cover_note=note,
        min_photos=preset.min_photos,
        acceptable_photos=sum(p.passes for p in photos),
        rooms_shown=rooms_shown,
        missing_rooms=[r for r in preset.required_rooms if r not in rooms_shown],
        duplicates=list(duplicates),
        tie_band=tie_band,
    )


def _best(photos: Sequence[PhotoReview]) -> PhotoReview | None:
    """The best-scored photo, the first in input order among equal scores."""
    return max(photos, key=lambda p: (round(p.score, 6), -p.index), default=None)


def _cover(photos: Sequence[PhotoReview], preset: Preset) -> tuple[PhotoReview | None, str | None]:
    """The cover and, where it is a stand-in, why."""
    allowed = [p for p in photos if p.ok and p.duplicate_of is None and p.room in preset.cover_rooms]
    passing = [p for p in allowed if p.passes]
    if preset.cover_first is not None:
        first = [p for p in passing if p.room == preset.cover_first]
        if first:
            return _best(first), None
    if passing:
        note = None
        if preset.cover_first is not None:
            note = (
                f"no {_room_name(preset.cover_first)} photo passes every check; {preset.name} wants one first"
            )
        return _best(passing), note
    stand_in = _best(allowed)
    if stand_in is None:
        rooms = ", ".join(_room_name(r) for r in preset.cover_rooms)
        return None, f"no photo of a room allowed as cover ({rooms})"
    return stand_in, "no photo of a room allowed as cover passes every check; the best one stands in"


def _order(photos: Sequence[PhotoReview], cover: PhotoReview | None) -> list[PhotoReview]:
    """Cover, passing photos (new rooms first), photos that fail a check, duplicates; errors left out."""
    scored = [p for p in photos if p.ok and p is not cover]
    passing = [p for p in scored if p.passes]
    failing = sorted((p for p in scored if p.duplicate_of is None and not p.passes), key=_by_score)
    copies = sorted((p for p in scored if p.duplicate_of is not None), key=_by_score)
    order = [cover] if cover is not None else []
    seen = {cover.room} if cover is not None else set()
    while passing:
        following = max(passing, key=lambda p: (_with_new_room_bonus(p, seen), -p.index))
        passing.remove(following)
        order.append(following)
        seen.add(following.room)
    return order + failing + copies


def _with_new_room_bonus(photo: PhotoReview, seen: set[str | None]) -> float:
    new = photo.room not in seen and photo.room not in (None, "other")
    return round(photo.score, 6) + (NEW_ROOM_BONUS if new else 0.0)


def _by_score(photo: PhotoReview) -> tuple[float, int]:
    return -round(photo.score, 6), photo.index


def _mark_ties(photos: Sequence[PhotoReview], band: float) -> None:
    """Each scored, kept photo lists the others whose score is less than ``band`` from its own."""
    kept = [p for p in photos if p.ok and p.duplicate_of is None]
    for photo in kept:
        photo.tied_with = [
            other.index for other in kept if other is not photo and abs(other.score - photo.score) < band
        ]


def _room_name(room: str) -> str:
    return room.replace("_", " ")
