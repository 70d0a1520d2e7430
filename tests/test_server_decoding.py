"""FairDecoder: requests take turns on the threads, one request keeps a thread free for others, the
memory budget holds photos back, and a cancelled request's waiting photos never start."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from photoscore.server.decoding import FairDecoder


class Jobs:
    """Jobs that record when they start and block until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, threading.Event] = {}

    def job(self, name: str) -> Callable[[], str]:
        gate = self.gates[name] = threading.Event()

        def work() -> str:
            self.started.append(name)
            gate.wait(10)
            return name

        return work

    def release(self, *names: str) -> None:
        for name in names:
            self.gates[name].set()


async def settle() -> None:
    """Let started jobs reach their threads and finished ones report back."""
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_a_second_request_starts_while_the_first_has_photos_waiting():
    async def scenario() -> None:
        decoder, jobs = FairDecoder(threads=2, memory_budget=10**9), Jobs()
        heavy = asyncio.ensure_future(decoder.run([(jobs.job(f"a{i}"), 1) for i in range(3)]))
        await settle()
        assert jobs.started == ["a0"]  # one request holds at most threads - 1
        small = asyncio.ensure_future(decoder.run([(jobs.job("b0"), 1), (jobs.job("b1"), 1)]))
        await settle()
        assert jobs.started == ["a0", "b0"]
        jobs.release("a0", "b0")
        await settle()
        assert set(jobs.started[2:]) == {"a1", "b1"}  # turns alternate between the requests
        jobs.release("a1", "a2", "b1")
        assert await small == ["b0", "b1"]
        assert await heavy == ["a0", "a1", "a2"]
        decoder.shutdown()

    asyncio.run(scenario())


def test_photos_wait_for_memory_and_a_cancelled_request_drops_its_waiting_photos():
    async def scenario() -> None:
        decoder, jobs = FairDecoder(threads=3, memory_budget=100), Jobs()
        big = asyncio.ensure_future(decoder.run([(jobs.job("big"), 80)]))
        await settle()
        other = asyncio.ensure_future(decoder.run([(jobs.job("other"), 50), (jobs.job("later"), 1)]))
        await settle()
        assert jobs.started == ["big"]  # 80 + 50 > 100: "other" waits though threads are free
        assert (decoder.running, decoder.waiting) == (1, 2)
        other.cancel()
        await settle()
        assert decoder.waiting == 0
        jobs.release("big")
        assert await big == ["big"]
        await settle()
        assert jobs.started == ["big"]  # the cancelled request's photos never started
        with pytest.raises(asyncio.CancelledError):
            await other
        alone = await asyncio.wait_for(decoder.run([(lambda: "huge", 500)]), 5)  # over budget, but alone
        assert alone == ["huge"]
        decoder.shutdown()

    asyncio.run(scenario())
