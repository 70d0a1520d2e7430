"""Measure the catalogue duplicate search (the stepped search ``batch --duplicates`` runs) on synthetic
stored reviews: N photos with random 64-bit hashes and random unit embeddings (1280 floats), 20 per
listing, ``--copies`` of them planted as near copies in other listings (0-8 hash bits flipped, the
embedding at cosine 0.95); wall time of each step, pairs found, recall of the planted pairs, disk used
by the steps, and peak memory (RSS) of the driver and of Ray's workers.

The photos are generated inside the Ray pipeline, block by block from seeds, not read from Parquet: 10M
embeddings are 51 GB, more than this machine's free disk. Each step's output goes under ``--work``.

    python scripts/measure_catalogue.py --photos 1000000 --copies 1000 --work /tmp/catalogue-work
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

DIM = 1280
BLOCK = 1024  # photos generated from one seed


def block(number: int) -> tuple[np.ndarray, np.ndarray]:
    """The hashes (uint64) and unit embeddings of block ``number``'s photos."""
    rng = np.random.default_rng([7, number])
    embedding = rng.standard_normal((BLOCK, DIM), dtype=np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    return rng.integers(0, 2**64 - 1, BLOCK, dtype=np.uint64, endpoint=True), embedding


def planting(photos: int, copies: int) -> np.ndarray:
    """The original of each planted copy (copies are the last ``copies`` rows)."""
    return np.random.default_rng(11).choice(photos - copies, copies, replace=False)


def generate(batch: dict[str, np.ndarray], photos: int, copies: int) -> pa.Table:
    """Rows ``id`` of ``ray.data.range`` -> the stored columns of a ``batch --review`` output."""
    rows = batch["id"].astype(np.int64)
    hashes = np.zeros(len(rows), np.uint64)
    embedding = np.zeros((len(rows), DIM), np.float32)
    for number in np.unique(rows // BLOCK):
        at = np.flatnonzero(rows // BLOCK == number)
        h, e = block(int(number))
        hashes[at], embedding[at] = h[rows[at] % BLOCK], e[rows[at] % BLOCK]
    originals = planting(photos, copies)
    for at in np.flatnonzero(rows >= photos - copies):
        k = int(rows[at] - (photos - copies))
        original = int(originals[k])
        h, e = block(original // BLOCK)
        rng = np.random.default_rng([13, k])
        flips = rng.choice(64, rng.integers(0, 9), replace=False)
        hashes[at] = h[original % BLOCK] ^ np.uint64(sum(1 << int(f) for f in flips))
        noise = rng.standard_normal(DIM).astype(np.float32)
        noise -= noise @ e[original % BLOCK] * e[original % BLOCK]
        noise /= np.linalg.norm(noise)
        embedding[at] = 0.95 * e[original % BLOCK] + np.sqrt(1 - 0.95**2) * noise
    return pa.table(
        {
            "input_row": pa.array(rows),
            "path": pa.array([f"p{r}.jpg" for r in rows]),
            "group": pa.array([f"L{r // 20}" for r in rows]),
            "phash": pa.array([f"{h:016x}" for h in hashes]),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embedding.ravel()), DIM),
        }
    )


def worker_peak_rss(stop: threading.Event, peaks: dict[str, float]) -> None:
    """Sample the summed RSS of Ray's processes (and the largest one) from /proc until ``stop``."""
    import os

    while not stop.is_set():
        total, largest = 0, 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if "ray::" not in cmd and "default_worker.py" not in cmd:
                    continue
                rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue
            total += rss
            largest = max(largest, rss)
        peaks["workers_total"] = max(peaks.get("workers_total", 0), total / 2**20)
        peaks["largest_worker"] = max(peaks.get("largest_worker", 0), largest / 2**20)
        time.sleep(0.5)


def disk_use(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--work", type=Path, required=True, help="a folder for the search's steps (emptied)")
    parser.add_argument("--rows-per-pass", type=int, help="key rows per pass (default: the search's own)")
    parser.add_argument("--object-store-gib", type=float, help="Ray's object store (default: Ray's own)")
    args = parser.parse_args()
    import ray
    import ray.data

    from photoscore.batch.catalogue import ROWS_PER_PASS, Buckets
    from photoscore.batch.reuse import WORK, search_in_steps
    from photoscore.batch.storage import Folder

    buckets = Buckets.for_photos(args.photos)  # as batch sizes them
    rows_per_pass = args.rows_per_pass or ROWS_PER_PASS
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    store = None if args.object_store_gib is None else int(args.object_store_gib * 2**30)
    ray.init(include_dashboard=False, logging_level="WARNING", object_store_memory=store)
    ray.data.DataContext.get_current().enable_progress_bars = False
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=worker_peak_rss, args=(stop, peaks), daemon=True)
    sampler.start()
    started = time.monotonic()
    dataset = ray.data.range(args.photos, override_num_blocks=max(8, args.photos // 25_000)).map_batches(
        generate, fn_kwargs={"photos": args.photos, "copies": args.copies}, batch_size=BLOCK
    )
    pairs = search_in_steps(dataset, Folder(str(args.work)), buckets, partitions=args.partitions,
                            rows_per_pass=rows_per_pass)  # fmt: skip
    found = {(a, b) for batch in pairs.iter_batches(batch_size=None, batch_format="pyarrow")
             for a, b in zip(batch["photo_row"].to_pylist(), batch["other_row"].to_pylist(), strict=True)}  # fmt: skip
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    ray.shutdown()
    work = args.work / WORK
    steps = {
        p.name: round(disk_use(p) / 2**20) for p in [work / "keys", *sorted((work / "candidates").iterdir())]
    }
    originals = planting(args.photos, args.copies)
    planted = {(int(o), args.photos - args.copies + k) for k, o in enumerate(originals)}
    hits = len(found & planted)
    print(json.dumps({
        "photos": args.photos, "buckets": f"{buckets.bands} bands + {buckets.tables} x {buckets.bits} bits",
        "passes": len(buckets.passes(args.photos, rows_per_pass)),
        "planted": len(planted), "pairs_found": len(found), "planted_found": hits,
        "recall": hits / len(planted), "other_pairs": len(found) - hits, "seconds": round(seconds, 1),
        "step_mib_on_disk": steps,
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_total_mib": round(peaks.get("workers_total", 0)),
        "largest_worker_peak_rss_mib": round(peaks.get("largest_worker", 0)),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
