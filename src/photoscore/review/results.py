"""What a review gives: each photo's findings, and each listing's decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from photoscore.review.duplicates import DuplicateGroup
from photoscore.review.photo import CheckResult
from photoscore.scoring.results import ScoreResult

ListingVerdict = Literal["pass", "fail"]


@dataclass
class PhotoReview:
    """One photo: its scores, room, checks and hashes, and its place in the listing's decision."""

    index: int  # the photo's place in the input, from 0
    result: ScoreResult  # scores, or the error that kept the photo from being reviewed
    size: tuple[int, int] | None = None  # (width, height) of the original, upright, from its header
    room: str | None = None
    room_probability: float | None = None
    checks: list[CheckResult] = field(default_factory=list)
    digest: str | None = None  # exact duplicates: same decoded pixels
    phash: str | None = None  # 64-bit perceptual hash, 16 hex digits
    embedding: np.ndarray | None = None  # L2-normalised, for near duplicates (not written out)
    # Set by the listing decision:
    position: int | None = None  # 1-based place in the order to show; None for photos not shown
    cover: bool = False
    tied_with: list[int] = field(default_factory=list)  # indices of photos whose score is within the band
    duplicate_of: int | None = None  # index of the copy kept, when this photo is a duplicate of it
    duplicate_of_name: str | None = None  # that copy's file name

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def score(self) -> float:
        """The (ensemble) mean score, 1..10; only for photos that were scored."""
        return float(self.result.mean_score_prediction)  # type: ignore[arg-type]

    @property
    def failed(self) -> list[CheckResult]:
        """The checks this photo fails."""
        return [c for c in self.checks if c.failed]

    @property
    def passes(self) -> bool:
        """Scored, no failed check, and not a duplicate of a photo kept."""
        return self.ok and not self.failed and self.duplicate_of is None

    @property
    def reasons(self) -> list[str]:
        """What a host can do about this photo, one sentence per problem."""
        reasons = [c.reason for c in self.failed if c.reason]
        if self.duplicate_of is not None:
            reasons.append(f"the same shot as {self.duplicate_of_name}, which is kept: drop this copy")
        return reasons


@dataclass
class ListingReview:
    """One listing's photos in the order to show them, its cover, and what the preset asks of it."""

    listing: str | None
    preset: str
    photos: list[PhotoReview]  # the order to show: photos that pass, then those that fail, duplicates, errors
    cover: PhotoReview | None = None
    cover_note: str | None = None  # why the cover is not a photo that passes everything
    min_photos: int = 0
    acceptable_photos: int = 0  # photos that pass every check and are not duplicates
    rooms_shown: list[str] = field(default_factory=list)
    missing_rooms: list[str] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    tie_band: float = 0.0  # scores closer than this are tied (the models' repeatability)

    @property
    def verdicts(self) -> dict[str, ListingVerdict]:
        """The preset's listing-level rules: enough acceptable photos, the required rooms, a cover."""
        return {
            "photo_count": "pass" if self.acceptable_photos >= self.min_photos else "fail",
            "rooms": "fail" if self.missing_rooms else "pass",
            "cover": "pass" if self.cover is not None and self.cover.passes else "fail",
        }

    @property
    def title(self) -> str:
        count = len(self.photos)
        name = "all photos" if self.listing is None else f"listing {self.listing}"
        return f"{name}: {count} photo{'' if count == 1 else 's'}"
