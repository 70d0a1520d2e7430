"""Dynamic micro-batching: photos from concurrent requests share model runs.

Requests put items on one queue and await their results. A single worker task takes the first waiting
item, then keeps gathering until the batch holds ``max_batch`` items or ``max_wait`` seconds have passed
since it started gathering, and runs the batch on one thread (ONNX Runtime releases the GIL, so the event
loop keeps accepting requests meanwhile). While a batch runs, new items queue up and make the next batch.
Items whose request gave up (a timeout, a closed connection) are dropped before they reach the model.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class MicroBatcher(Generic[Item, Result]):
    """Runs ``run(items) -> results`` (one result per item, in order) on batches of queued items.

    ``batches`` and ``items`` count what has run, so ``items / batches`` is the average batch size.
    """

    def __init__(self, run: Callable[[list[Item]], Sequence[Result]], max_batch: int, max_wait: float):
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be at least 1 and max_wait not negative")
        self.run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batches = 0
        self.items = 0
        self._queue: deque[_Waiting[Item, Result]] = deque()
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="photoscore-model")

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="photoscore-batcher")

    async def stop(self) -> None:
        """Stop the worker; items still queued fail with CancelledError."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for waiting in self._queue:
            waiting.future.cancel()
        self._queue.clear()
        self._thread.shutdown(wait=True)

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """Queue ``items`` and wait for their results; cancelling this drops those not yet run."""
        if not self.running:
            raise RuntimeError("the batcher is not running")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Result]] = [loop.create_future() for _ in items]
        self._queue.extend(_Waiting(item, future) for item, future in zip(items, futures, strict=True))
        self._arrived.set()
        return list(await asyncio.gather(*futures))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [w for w in await self._gather() if not w.future.done()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._thread, self.run, [w.item for w in batch])
            except Exception as exc:  # the batch's requests fail, the worker carries on
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(batch)
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)

    async def _gather(self) -> list[_Waiting[Item, Result]]:
        """The next batch: the first queued item and those arriving within ``max_wait`` after it."""
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(self._queue) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                break
        return [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
