"""Fair decoding: requests take turns on the decoding threads, within a memory budget.

Each request queues its photos here. Whenever a thread is free, the next request in turn starts its next
photo, so a request of a hundred large photos delays a small request by one photo's decoding at most,
not by the whole hundred. While more than one thread is configured, one request holds at most all but one
of them, so a newcomer finds a free thread at once. A photo starts only when its estimated decoding
memory fits in what the running ones leave of the budget (or nothing else is running), so the number of
threads does not multiply the worst case.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class _Job(Generic[Result]):
    work: Callable[[], Result]
    memory: int
    future: asyncio.Future[Result]


@dataclass
class _Request:
    waiting: deque[_Job[Any]]
    running: int = 0


class FairDecoder:
    """Runs each request's decoding jobs on ``threads`` threads, taking turns between requests."""

    def __init__(self, threads: int, memory_budget: int):
        if threads < 1 or memory_budget < 1:
            raise ValueError("threads and memory_budget must be positive")
        self.threads = threads
        self.memory_budget = memory_budget
        self.share = max(1, threads - 1)  # threads one request may hold at once
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="photoscore-decode")
        self._turns: deque[_Request] = deque()  # requests with jobs waiting, next in turn first
        self._running = 0
        self._memory = 0

    @property
    def running(self) -> int:
        """Jobs running now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet started."""
        return sum(len(r.waiting) for r in self._turns)

    async def run(self, jobs: Sequence[tuple[Callable[[], Result], int]]) -> list[Result]:
        """Run one request's jobs, each ``(work, estimated memory in bytes)``; results in their order.

        Cancelling this (a timeout, a closed connection) drops the jobs not yet started.
        """
        loop = asyncio.get_running_loop()
        queued = [_Job(work, memory, loop.create_future()) for work, memory in jobs]
        request = _Request(deque(queued))
        if queued:
            self._turns.append(request)
            self._dispatch()
        try:
            return list(await asyncio.gather(*(job.future for job in queued)))
        finally:
            if request.waiting:
                request.waiting.clear()
                self._turns.remove(request)

    def shutdown(self) -> None:
        """Stop taking jobs; those waiting are cancelled."""
        for request in self._turns:
            for job in request.waiting:
                job.future.cancel()
        self._turns.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self) -> None:
        """Start jobs while threads are free, going round the requests in turn."""
        while self._running < self.threads and self._turns:
            for _ in range(len(self._turns)):
                request = self._turns[0]
                self._turns.rotate(-1)  # whether or not it starts a job, the next request is next
                if self._may_start(request):
                    self._start(request)
                    break
            else:
                return  # every waiting request is at its share or over the memory budget

    def _may_start(self, request: _Request) -> bool:
        fits = self._running == 0 or self._memory + request.waiting[0].memory <= self.memory_budget
        return request.running < self.share and fits

    def _start(self, request: _Request) -> None:
        job = request.waiting.popleft()
        if not request.waiting:
            self._turns.remove(request)
        request.running += 1
        self._running += 1
        self._memory += job.memory
        done = asyncio.wrap_future(self._pool.submit(job.work))
        done.add_done_callback(lambda finished: self._finish(request, job, finished))

    def _finish(self, request: _Request, job: _Job[Any], finished: asyncio.Future[Any]) -> None:
        request.running -= 1
        self._running -= 1
        self._memory -= job.memory
        if not job.future.done():
            if finished.cancelled():
                job.future.cancel()
            elif finished.exception() is not None:
                job.future.set_exception(finished.exception())  # type: ignore[arg-type]
            else:
                job.future.set_result(finished.result())
        self._dispatch()
