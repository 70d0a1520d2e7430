"""Load test of `photoscore serve` on loopback: batched next to unbatched serving, in one run.

Usage: python scripts/load_test.py [--model FILE ...] [--clients 50] [--duration 20] [--max-batch 8 --max-batch 1]

For each --max-batch it starts `photoscore serve` on 127.0.0.1 (a free port) and warms it up. Then, in
--rounds alternating turns (so that drift in the machine's speed hits every configuration alike), it runs
--clients concurrent clients against each server, each client posting photos to /v1/score (or /v1/rank)
one request after another; a configuration gets --duration seconds in all, and at most --max-requests
requests. It reports throughput, p50 and p99 latency and the count of 5xx answers, and exits 1 if there
was any 5xx or failed connection. Photos come from --photos (default: examples/); the model defaults to
the bundled default model. Compare configurations within one run, not figures across runs.

--heavy N measures fair decoding: each configuration also runs with one more client that keeps posting
requests of N PNGs of 49 MP (small files, made here), and reports the ordinary clients' latency beside it
(a row "+ heavy") and the heavy requests' own (a row "heavy requests").
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from photoscore.images import find_images
from photoscore.scoring.registry import default_model

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SERVE = "import typer; from photoscore.cli.serve import serve; typer.run(serve)"


@dataclass
class Stats:
    """What one load run measured."""

    label: str
    seconds: float = 0.0
    photos_per_request: int = 1
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0

    def add(self, other: Stats) -> None:
        """Count another run of the same configuration in."""
        self.seconds += other.seconds
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.connection_errors += other.connection_errors

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")

    def row(self) -> str:
        rate = len(self.latencies) / self.seconds if self.seconds else 0.0
        return (
            f"{self.label:<18} {len(self.latencies):>8} {rate:>8.1f} {rate * self.photos_per_request:>9.1f} "
            f"{self.percentile(0.5) * 1000:>8.0f} {self.percentile(0.99) * 1000:>8.0f} {self.server_errors:>5} "
            f"{self.connection_errors:>6}  {dict(sorted(self.statuses.items()))}"
        )


HEADER = f"{'serving':<18} {'requests':>8} {'req/s':>8} {'photos/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'5xx':>5} {'conn':>6}  statuses"


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def serve_subprocess(args: list[str], log: Path | None = None, ready_within: float = 90.0) -> Iterator[str]:
    """Run `photoscore serve ARGS` on a free loopback port until the block ends; yields its base URL once
    /readyz answers 200. The server's output goes to ``log`` (a temporary file by default)."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    with open(log, "wb") if log else tempfile.TemporaryFile() as output:
        command = [
            sys.executable,
            "-c",
            SERVE,
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *args,
        ]
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, ready_within)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {within:g} s")


def heavy_png(side: int = 7000) -> bytes:
    """An 8-bit RGB PNG of ``side`` x ``side`` colour ramps (49 MP by default) in a file of about 150 KB."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    line = b"\x01" + b"\x01\x02\xff" * side  # PNG filter 1 (Sub): each row a ramp
    pixels = zlib.compress(line * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


async def run_load(
    url: str,
    bodies: list[list[tuple[str, bytes]]],
    clients: int,
    duration: float,
    max_requests: int,
    endpoint: str = "/v1/score",
    heavy: list[tuple[str, bytes]] | None = None,
) -> tuple[Stats, Stats]:
    """``clients`` concurrent clients post ``bodies`` (photo lists, in turn) until time or count runs out;
    with ``heavy``, one more client keeps posting that photo list. Returns the clients' and its stats."""
    stats = Stats(endpoint, photos_per_request=len(bodies[0]))
    heavy_stats = Stats("heavy requests", photos_per_request=len(heavy or []))
    started = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        end = time.perf_counter() + duration

        async def one_client(first: int) -> None:
            nonlocal started
            turn = first
            while time.perf_counter() < end and started < max_requests:
                started += 1
                files = [("photos", (name, data, "image/jpeg")) for name, data in bodies[turn % len(bodies)]]
                turn += clients
                sent = time.perf_counter()
                try:
                    response = await client.post(endpoint, files=files)
                except httpx.TransportError:
                    stats.connection_errors += 1
                    continue
                stats.latencies.append(time.perf_counter() - sent)
                stats.statuses[response.status_code] += 1

        async def heavy_client() -> None:
            files = [("photos", (name, data, "image/png")) for name, data in heavy or []]
            while files and time.perf_counter() < end:
                sent = time.perf_counter()
                try:
                    response = await client.post(endpoint, files=files)
                except httpx.TransportError:
                    heavy_stats.connection_errors += 1
                    continue
                heavy_stats.latencies.append(time.perf_counter() - sent)
                heavy_stats.statuses[response.status_code] += 1

        begin = time.perf_counter()
        heavy_task = asyncio.ensure_future(heavy_client())
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        stats.seconds = time.perf_counter() - begin
        await heavy_task  # its last request may end after the clients' time
        heavy_stats.seconds = time.perf_counter() - begin
    return stats, heavy_stats


def request_bodies(folder: Path, per_request: int) -> list[list[tuple[str, bytes]]]:
    """Every photo in ``folder``, grouped ``per_request`` to a request (cycling through them)."""
    photos = [(p.name, p.read_bytes()) for p in find_images([folder])]
    if not photos:
        raise SystemExit(f"no photos in {folder}")
    return [[photos[(i + j) % len(photos)] for j in range(per_request)] for i in range(len(photos))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", "-m", action="append", type=Path, help="model.onnx; repeat for several")
    parser.add_argument("--photos", type=Path, default=REPO / "examples", help="folder of photos to send")
    parser.add_argument("--photos-per-request", type=int, default=1)
    parser.add_argument("--endpoint", choices=("score", "rank"), default="score")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per configuration")
    parser.add_argument(
        "--max-requests", type=int, default=50_000, help="requests per configuration, at most"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating turns the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument(
        "--max-batch", type=int, action="append", help="one configuration each (default: 8 and 1)"
    )
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per worker (default: serve's)")
    parser.add_argument(
        "--heavy", type=int, default=0, help="also run each configuration beside requests of N 49 MP PNGs"
    )
    args = parser.parse_args()
    models = args.model or [default_model()]
    missing = [m for m in models if not m.is_file()]
    if missing:
        raise SystemExit(f"model not found: {missing[0]} (pass --model FILE.onnx)")
    bodies = request_bodies(args.photos, args.photos_per_request)
    endpoint = f"/v1/{args.endpoint}"
    batches = args.max_batch or [8, 1]
    heavy = [(f"heavy{i}.png", heavy_png()) for i in range(args.heavy)] if args.heavy else None
    runs = [(b, None) for b in batches] + ([(b, heavy) for b in batches] if heavy else [])
    results = {
        (b, bool(h)): Stats(
            ("unbatched (1)" if b == 1 else f"batched ({b})") + (" + heavy" if h else ""),
            photos_per_request=len(bodies[0]),
        )
        for b, h in runs
    }
    heavy_results = Stats("heavy requests", photos_per_request=args.heavy)
    with ExitStack() as stack:
        urls = {}
        for max_batch in batches:
            serve_args = [f"--model={m}" for m in models]
            serve_args += [
                f"--max-batch={max_batch}",
                f"--max-wait-ms={args.max_wait_ms}",
                f"--workers={args.workers}",
                *([f"--threads={args.threads}"] if args.threads else []),
            ]
            urls[max_batch] = stack.enter_context(serve_subprocess(serve_args))
            asyncio.run(
                run_load(urls[max_batch], bodies, args.clients, args.warmup, args.max_requests, endpoint)
            )
        for _ in range(args.rounds):
            for max_batch, heavy_photos in runs:
                turn = args.duration / args.rounds, args.max_requests // args.rounds
                stats, heavy_stats = asyncio.run(
                    run_load(urls[max_batch], bodies, args.clients, *turn, endpoint, heavy_photos)
                )
                results[max_batch, bool(heavy_photos)].add(stats)
                if heavy_photos:
                    heavy_results.add(heavy_stats)
    print(HEADER)
    for stats in [*results.values(), *([heavy_results] if heavy else [])]:
        print(stats.row())
    print(
        f"{args.clients} clients, {args.duration:g} s each, {args.photos_per_request} photo(s) per request to "
        f"{args.endpoint}, models {', '.join(m.name for m in models)}, {args.workers} worker(s)"
    )
    return 1 if any(s.server_errors or s.connection_errors for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
