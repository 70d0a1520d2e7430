"""Review photos: one decode per photo feeds the NIMA models, the room model, the checks and the hashes;
each listing is then decided (:mod:`photoscore.review.decision`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photoscore.images import Photo
from photoscore.modelcard import ModelCard
from photoscore.review import checks
from photoscore.review.decision import decide
from photoscore.review.duplicates import (
    DuplicateCandidate,
    find_duplicates,
    hash_to_hex,
    perceptual_hash,
    pixel_digest,
)
from photoscore.review.photo import ANALYSIS_SIDE, CheckResult, PhotoView
from photoscore.review.presets import Preset, get_preset
from photoscore.review.results import ListingReview, PhotoReview
from photoscore.review.rooms import RoomModel
from photoscore.review.tilt import check_tilt
from photoscore.scoring.engine import Decoded, Scorer
from photoscore.scoring.listing import GroupBuffer, GroupBy, group_labels, rank_in_place
from photoscore.scoring.results import ScoreResult

# Tie band where no model card gives its repeatability: the p95 score change of the bundled default
# model between a photo and its re-encoded or resized copy (scripts/measure_repeatability.py).
DEFAULT_TIE_BAND = 0.15
REPEATABILITY_METRIC = "repeatability_p95"


@dataclass
class Inspection:
    """What the decoding thread learns of a photo besides the models' inputs."""

    size: tuple[int, int]
    checks: list[CheckResult]
    focus: float
    room_input: np.ndarray
    digest: str
    phash: int


def tie_band(cards: Sequence[ModelCard]) -> float:
    """Scores closer than this are within the models' noise: the largest repeatability their cards give."""
    bands = [card.metrics.get(REPEATABILITY_METRIC) for card in cards]
    known = [b for b in bands if b is not None]
    return max(known) if len(known) == len(bands) else max([*known, DEFAULT_TIE_BAND])


class Reviewer:
    """Reviews photos with a :class:`Scorer`'s models, the room model, the checks and a platform preset.

    ``review`` yields one :class:`ListingReview` per listing as soon as its last photo is reviewed;
    ``review_decoded`` reviews photos decoded elsewhere (the server's uploads).
    """

    def __init__(
        self,
        scorer: Scorer,
        preset: Preset | None = None,
        rooms: RoomModel | None = None,
        band: float | None = None,
    ):
        self.scorer = scorer
        self.preset = preset or get_preset("none")
        self.rooms = rooms or RoomModel()
        self.tie_band = tie_band([m.card for m in scorer.models]) if band is None else band
        technical = [m.name for m in scorer.models if m.card.kind == "technical"]
        self.technical_model = technical[0] if technical else None

    def inspect(self, photo: Photo) -> Inspection:
        """Checks, hashes and the room model's input of one decoded photo (runs on a decoding thread)."""
        view = PhotoView(photo)
        focus = checks.focus_measure(view)
        return Inspection(
            size=photo.size,
            checks=[*run_checks(view, self.preset), checks.check_focus(focus)],
            focus=focus,
            room_input=self.rooms.preprocessing.to_array(view.image),  # 192 px from the 512 px copy
            digest=pixel_digest(view),
            phash=perceptual_hash(view),
        )

    def decode(self, paths: Iterable[str | Path]) -> Iterator[Decoded]:
        """Photos decoded once for everything the review looks at, in input order."""
        return self.scorer.decode(paths, inspect=self.inspect, min_side=ANALYSIS_SIDE)

    def review_photos(self, paths: Iterable[str | Path]) -> Iterator[PhotoReview]:
        """Each photo's review in input order (scores, room, checks, hashes), before any listing decision."""
        batch: list[Decoded] = []
        start = 0
        for decoded in self.decode(paths):
            batch.append(decoded)
            if len(batch) == self.scorer.batch_size:
                yield from self.review_decoded(batch, start)
                start += len(batch)
                batch = []
        if batch:
            yield from self.review_decoded(batch, start)

    def review_decoded(self, batch: Sequence[Decoded], start: int = 0) -> list[PhotoReview]:
        """Review photos decoded by :meth:`decode` (or ``scorer.decode_bytes(..., inspect=reviewer.inspect,
        min_side=ANALYSIS_SIDE)``); their indices count from ``start``."""
        return self.complete(batch, self.scorer.score_decoded(batch), start)

    def complete(
        self, batch: Sequence[Decoded], results: Sequence[ScoreResult], start: int = 0
    ) -> list[PhotoReview]:
        """Reviews of decoded photos whose scores are known (``results``, in the same order): the room
        model on the batch, and the checks that need a score."""
        good = [i for i, d in enumerate(batch) if d.inspection is not None]
        predictions = (
            self.rooms.predict(np.stack([batch[i].inspection.room_input for i in good])) if good else None
        )
        reviews = [PhotoReview(start + i, result) for i, result in enumerate(results)]
        for row, i in enumerate(good):
            inspection: Inspection = batch[i].inspection
            review = reviews[i]
            review.size = inspection.size
            review.room, review.room_probability = predictions.room(row)  # type: ignore[union-attr]
            review.embedding = predictions.embedding[row]  # type: ignore[union-attr]
            review.digest = inspection.digest
            review.phash = hash_to_hex(inspection.phash)
            review.checks = [*inspection.checks, self._sharpness(inspection, results[i])]
        return reviews

    def review(
        self, paths: Sequence[str | Path], group_by: GroupBy | Sequence[str | None] = "parent"
    ) -> Iterator[ListingReview]:
        """Review listings: ``"parent"`` folders, ``"none"`` (all photos one listing) or one listing label
        per path. Each listing is yielded once its last photo is reviewed."""
        files = [Path(p) for p in paths]
        groups = group_labels(files, group_by)  # type: ignore[arg-type]
        buffer: GroupBuffer[PhotoReview] = GroupBuffer(groups)
        for review, group in zip(self.review_photos(files), groups, strict=True):
            review.result.group = group
            members = buffer.add(review, group)
            if members is not None:
                yield self.decide(group, members)

    def decide(self, listing: str | None, photos: Sequence[PhotoReview]) -> ListingReview:
        """One listing's decision from its photos' reviews (normalised scores and ranks set too)."""
        return decide_listing(listing, photos, self.preset, self.tie_band)

    def _sharpness(self, inspection: Inspection, result: ScoreResult) -> CheckResult:
        score = result.models[self.technical_model].mean if self.technical_model and result.ok else None
        return checks.check_sharpness(inspection.focus, score)


def decide_listing(
    listing: str | None, photos: Sequence[PhotoReview], preset: Preset, band: float
) -> ListingReview:
    """One listing's decision from its photos' reviews, as :meth:`Reviewer.decide` makes it (also from
    reviews read back from storage): ranks, in-listing duplicates, cover, order, ties, verdicts."""
    rank_in_place([p.result for p in photos])
    candidates = [
        DuplicateCandidate(
            index=p.index,
            digest=p.digest,
            phash=int(p.phash, 16),
            embedding=p.embedding,
            pixels=p.size[0] * p.size[1],
            score=p.score,
        )
        for p in photos
        if p.ok and p.embedding is not None and p.digest and p.phash and p.size
    ]
    return decide(listing, photos, preset, find_duplicates(candidates), band)


def run_checks(view: PhotoView, preset: Preset) -> list[CheckResult]:
    """Every check that needs only the decoded photo, with the preset's sizes and orientation."""
    return [
        checks.check_size(view, preset.min_size, preset.min_long_edge),
        checks.check_orientation(view, preset.orientation),
        checks.check_aspect(view),
        checks.check_dark(view),
        checks.check_overexposed(view),
        checks.check_contrast(view),
        checks.check_black_and_white(view),
        check_tilt(view),
        checks.check_borders(view),
        checks.check_low_information(view),
    ]
