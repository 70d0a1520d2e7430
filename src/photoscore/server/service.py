"""The scoring service behind the routes: one Scorer, fair decoding and the micro-batcher."""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass

from photoscore.images import DecodePlan
from photoscore.review.photo import ANALYSIS_SIDE
from photoscore.review.presets import Preset
from photoscore.review.results import ListingReview
from photoscore.review.reviewer import Reviewer
from photoscore.review.rooms import RoomModel
from photoscore.scoring.engine import Decoded, Inspect, Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.results import ScoreResult
from photoscore.server.batcher import MicroBatcher
from photoscore.server.decoding import FairDecoder
from photoscore.server.settings import ServerSettings


@dataclass(frozen=True)
class Upload:
    """One uploaded photo: a display name (never a path that is opened) and its bytes."""

    name: str
    data: bytes


class TooManyPixels(Exception):
    """A request whose photos hold more pixels in all than the per-request budget (answered 413)."""


class ScoringService:
    """Decodes uploads fairly between requests and scores them in batches shared with concurrent requests."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        models = [OnnxNimaModel(path, threads=settings.threads) for path in settings.models]
        self.scorer = Scorer(
            models, weights=settings.weights, ensemble=settings.ensemble, max_pixels=settings.max_pixels
        )
        self.model_names = [m.name for m in self.scorer.models]
        self.batcher: MicroBatcher[Decoded, ScoreResult] = MicroBatcher(
            self.scorer.score_decoded, settings.max_batch, settings.max_wait_ms / 1000
        )
        self.decoder = FairDecoder(self.scorer.workers, settings.decode_memory_bytes)
        self.rooms = RoomModel(threads=settings.threads)

    @property
    def ready(self) -> bool:
        return self.batcher.running

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self.decoder.shutdown()

    async def score(self, uploads: list[Upload]) -> list[ScoreResult]:
        """Scores of the uploads in their order; a photo that cannot be decoded gets its ``error``.

        Raises TooManyPixels, before anything is decoded, when the photos' headers add up to more
        pixels than ``max_request_pixels``.
        """
        return await self.batcher.submit(await self._decode(uploads))

    async def review(self, uploads: list[Upload], listing_id: str | None, preset: Preset) -> ListingReview:
        """One listing's review of the uploads (indices are upload positions); raises as :meth:`score`."""
        reviewer = Reviewer(self.scorer, preset, self.rooms)
        decoded = await self._decode(uploads, reviewer.inspect, ANALYSIS_SIDE)
        results = await self.batcher.submit(decoded)
        reviews = await asyncio.to_thread(reviewer.complete, decoded, results)
        return await asyncio.to_thread(reviewer.decide, listing_id, reviews)

    async def _decode(
        self, uploads: list[Upload], inspect: Inspect | None = None, min_side: int = 0
    ) -> list[Decoded]:
        """The uploads decoded fairly beside other requests' (with ``inspect`` on each), after the pixel
        budget is checked from their headers."""
        plans = await asyncio.to_thread(
            lambda: [self.scorer.plan_bytes(u.data, u.name, min_side) for u in uploads]
        )
        # Photos over max_pixels, or whose header cannot be read, fail at their header and cost nothing.
        decodable = [p if p is not None and p.pixels <= self.settings.max_pixels else None for p in plans]
        self._check_budget([p for p in decodable if p is not None])
        stop = threading.Event()  # set when the request ends: a timed-out request's decodes stop at once
        jobs = [
            (
                functools.partial(self.scorer.decode_bytes, u.data, u.name, stop, inspect, min_side),
                0 if plan is None else plan.memory,
            )
            for u, plan in zip(uploads, decodable, strict=True)
        ]
        try:
            return await self.decoder.run(jobs)
        finally:
            stop.set()

    def _check_budget(self, plans: list[DecodePlan]) -> None:
        total, limit = sum(p.pixels for p in plans), self.settings.max_request_pixels
        if total > limit:
            raise TooManyPixels(
                f"{len(plans)} photos with {total:,} pixels in all, more than the limit of {limit:,} pixels "
                "per request; send fewer or smaller photos"
            )
