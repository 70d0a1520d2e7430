"""Benchmark `photoscore batch` (a local Ray) against `photoscore score` on the same photos, in one run.

Usage: python scripts/benchmark_batch.py [--photos N] [--rounds R] [--model FILE] [--threads T]

Photos: LIVE In the Wild photos (500x500) from ../shared/data/livec, repeated to N (default 2,000), else
scikit-image samples resized to 500x500. Both commands run as the user runs them (real processes); rounds
interleave them and medians are reported, since this machine's speed drifts and only ratios within one
run are trustworthy.

- score: wall time of `photoscore score DIR -o out.csv`, less the wall time of the same command on one
  photo (process start and model loading), so both sides leave their start-up out. Each batch run sits
  between two score runs and is compared with their mean.
- batch: the run time `photoscore batch` reports (actors starting, loading the models, scoring and
  writing), with Ray's own start-up reported apart; and the rate from the first part file written to the
  last (the actor already up, as in a long job).
- memory: peak resident memory of the batch driver, of each scoring actor and of all the run's processes
  together, sampled from /proc every 0.2 s.
- resume: the batch driver killed with SIGKILL once half the parts are written, then the same command
  again: the rerun's time against a full run's, and a rerun of a finished job (nothing left to do).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from benchmark_score import prepare_photos  # the same photos as the scoring benchmark

SUMMARY = re.compile(r"This run: (\d+) photos in ([\d.]+) s .*?, (\d+) already done; Ray start-up ([\d.]+) s")


def photoscore(*args: object) -> list[str]:
    return [sys.executable, "-m", "photoscore", *map(str, args)]


class MemoryWatch:
    """Peak memory (MiB) of a process and its descendants, sampled from /proc: the process itself, the
    biggest Ray Data actor (``ray::MapWorker...``) and all of them together. ``actor`` is its resident
    size, ``actor_private`` the part no other process shares (RssAnon: not the object store's shared
    memory, not shared libraries)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.driver = self.actor = self.actor_private = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> MemoryWatch:
        self._stop.set()
        self._thread.join()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            tree = _descendants(self.pid)
            sizes = {pid: _memory_mib(pid) for pid in tree}
            self.driver = max(self.driver, sizes.get(self.pid, (0.0, 0.0))[0])
            actors = [size for pid, size in sizes.items() if "MapWorker" in _cmdline(pid)]
            self.actor = max([self.actor, *(rss for rss, _ in actors)])
            self.actor_private = max([self.actor_private, *(private for _, private in actors)])
            self.total = max(self.total, sum(rss for rss, _ in sizes.values()))


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _memory_mib(pid: int) -> tuple[float, float]:
    """(resident, private resident) MiB of a process."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "RssAnon:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def timed(command: list[str]) -> tuple[float, str, MemoryWatch]:
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch = MemoryWatch(process.pid)
    _, stderr = process.communicate()
    seconds = time.monotonic() - started
    watch.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return seconds, stderr, watch


def steady_rate(out: Path) -> float:
    """Photos/s between the first part file written and the last (the actor already up)."""
    times = sorted((p.stat().st_mtime, pq.read_metadata(p).num_rows) for p in out.glob("part-*.parquet"))
    return sum(rows for _, rows in times[1:]) / (times[-1][0] - times[0][0])


def batch_summary(stderr: str) -> tuple[int, float, int, float]:
    match = SUMMARY.search(stderr)
    if match is None:
        raise SystemExit(f"no summary in:\n{stderr}")
    new, seconds, done, startup = match.groups()
    return int(new), float(seconds), int(done), float(startup)


def driver_costs(rows: int, work: Path) -> None:
    """The driver's own work for a manifest of ``rows`` photos in listings of 25: reading it with the
    fingerprint, and ranking every listing (the narrow columns of the ranking pass), with peak memory."""
    import resource

    import pyarrow as pa

    from photoscore.batch.inputs import read_input
    from photoscore.batch.ranking import _ranks

    manifest = work / "manifest.csv"
    with manifest.open("w") as stream:
        stream.write("listing_id,path,sku\n")
        stream.writelines(f"L{i // 25},s3://bucket/photos/{i:08d}.jpg,{i}\n" for i in range(rows))
    started = time.monotonic()
    photos = read_input(str(manifest), listing_column="listing_id")
    read = time.monotonic() - started
    rng = np.random.default_rng(0)
    slim = pa.table({
        "input_row": photos.table.column("input_row"),
        "listing_id": photos.table.column("listing_id"),
        "mean_score_prediction": np.round(rng.normal(5.4, 0.7, rows), 6),
        "error": pa.nulls(rows, pa.string()),
    })  # fmt: skip
    started = time.monotonic()
    _ranks(slim, rows, "listing_id", "minmax", None, "0-1")
    ranked = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver, {rows:,} photos in {rows // 25:,} listings: manifest read + fingerprint {read:.1f} s, "
          f"ranking {ranked:.1f} s, peak RSS {peak:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a model.onnx (default: the bundled default model)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPUs per actor")
    parser.add_argument(
        "--driver-rows", type=int, default=0, help="only measure the driver's work for this many"
    )
    args = parser.parse_args()
    if args.driver_rows:
        with tempfile.TemporaryDirectory() as folder:
            driver_costs(args.driver_rows, Path(folder))
        return
    folder = prepare_photos(args.photos)
    model = ["-m", args.model] if args.model else []
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    one = work / "one"
    one.mkdir()
    shutil.copy(next(folder.iterdir()), one)
    print(f"{args.photos} photos, {os.cpu_count()} CPUs, batch: 1 actor x {args.threads} threads", flush=True)

    def score_rate() -> float:
        base, _, _ = timed(photoscore("score", one, *model, "-o", work / "one.csv"))
        wall, _, _ = timed(photoscore("score", folder, *model, "-o", work / "all.csv"))
        rate = args.photos / (wall - base)
        print(f"score: {rate:.1f} photos/s (its start-up {base:.1f} s left out)", flush=True)
        return rate

    ratios, steady_ratios, batch_rates, startups = [], [], [], []
    before = score_rate()
    for round_ in range(args.rounds):
        out = work / f"out-{round_}"
        _, stderr, watch = timed(photoscore("batch", folder, "--out", out, *model, "--threads", args.threads))
        new, seconds, _, startup = batch_summary(stderr)
        steady = steady_rate(out)
        after = score_rate()
        around = (before + after) / 2
        ratios.append(new / seconds / around)
        steady_ratios.append(steady / around)
        batch_rates.append(new / seconds)
        startups.append(startup)
        print(
            f"batch: {new / seconds:.1f} photos/s over the job, {steady:.1f} from the first part to the last "
            f"(Ray start-up {startup:.1f} s) -> {ratios[-1]:.2f} / {steady_ratios[-1]:.2f} x score around it; "
            f"peak RSS driver {watch.driver:.0f} MiB, actor {watch.actor:.0f} MiB "
            f"({watch.actor_private:.0f} private), all processes {watch.total:.0f} MiB",
            flush=True,
        )
        before = after
    print(
        f"median batch/score: {statistics.median(ratios):.2f} over the job, "
        f"{statistics.median(steady_ratios):.2f} once the actor is up; Ray start-up "
        f"{statistics.median(startups):.1f} s"
    )

    out = work / "resume"
    command = photoscore("batch", folder, "--out", out, *model, "--threads", args.threads)
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = -(-args.photos // 500)
    while len(list(out.glob("part-*.parquet"))) < shards // 2:
        if driver.poll() is not None:
            raise SystemExit("the batch run ended before half its parts were written")
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    time.sleep(3)
    _, stderr, _ = timed(command)
    new, seconds, done, startup = batch_summary(stderr)
    _, stderr, _ = timed(command)
    _, finished, _, _ = batch_summary(stderr)
    full = args.photos / statistics.median(batch_rates)
    print(
        f"resume: killed after {done} photos; the rerun scored {new} in {seconds:.1f} s "
        f"({seconds / (full * new / args.photos):.2f} x a full run's time for as many photos), Ray start-up "
        f"{startup:.1f} s; a rerun of the finished job: {finished:.1f} s after Ray start-up"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
