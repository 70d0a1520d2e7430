"""The scoring service behind the routes: one Scorer, a decoding pool and the micro-batcher."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from photoscore.scoring.engine import Decoded, Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.results import ScoreResult
from photoscore.server.batcher import MicroBatcher
from photoscore.server.settings import ServerSettings


@dataclass(frozen=True)
class Upload:
    """One uploaded photo: a display name (never a path that is opened) and its bytes."""

    name: str
    data: bytes


class ScoringService:
    """Decodes uploads on a thread pool and scores them in batches shared with concurrent requests."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        models = [OnnxNimaModel(path, threads=settings.threads) for path in settings.models]
        self.scorer = Scorer(models, weights=settings.weights, ensemble=settings.ensemble)
        self.model_names = [m.name for m in self.scorer.models]
        self.batcher: MicroBatcher[Decoded, ScoreResult] = MicroBatcher(
            self.scorer.score_decoded, settings.max_batch, settings.max_wait_ms / 1000
        )
        self._decoders = ThreadPoolExecutor(self.scorer.workers, thread_name_prefix="photoscore-decode")

    @property
    def ready(self) -> bool:
        return self.batcher.running

    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self._decoders.shutdown(wait=False, cancel_futures=True)

    async def score(self, uploads: list[Upload]) -> list[ScoreResult]:
        """Scores of the uploads in their order; a photo that cannot be decoded gets its ``error``."""
        loop = asyncio.get_running_loop()
        decoded = await asyncio.gather(
            *(loop.run_in_executor(self._decoders, self.scorer.decode_bytes, u.data, u.name) for u in uploads)
        )
        return await self.batcher.submit(decoded)
