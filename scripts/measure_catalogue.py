"""Measure the catalogue duplicate search on synthetic stored reviews: N photos with random 64-bit
hashes and random unit embeddings (1280 floats), ``--copies`` of them planted as near copies in other
listings (a few hash bits flipped, the embedding nudged to cosine ~0.95); wall time, pairs found,
recall of the planted pairs, and peak memory (RSS) of the driver and of Ray's workers.

    python scripts/measure_catalogue.py --photos 1000000 --copies 1000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DIM = 1280


def synthetic(
    photos: int, copies: int, folder: Path, rows_per_file: int = 50_000, seed: int = 0
) -> set[tuple[int, int]]:
    """Write the stored columns as Parquet files; return the planted (original, copy) rows."""
    rng = np.random.default_rng(seed)
    originals = rng.choice(photos - copies, copies, replace=False)
    planted = {(int(o), photos - copies + k) for k, o in enumerate(originals)}
    keep_h: dict[int, int] = {}
    keep_e: dict[int, np.ndarray] = {}
    wanted = set(originals.tolist())
    for start in range(0, photos, rows_per_file):
        n = min(rows_per_file, photos - start)
        rows = np.arange(start, start + n)
        hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(
            0, 2, n
        ).astype(np.uint64)
        emb = rng.standard_normal((n, DIM)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        for k, row in enumerate(rows):
            if row in wanted:
                keep_h[int(row)], keep_e[int(row)] = int(hashes[k]), emb[k].copy()
            if row >= photos - copies:
                original = int(originals[row - (photos - copies)])
                flips = rng.choice(64, rng.integers(0, 9), replace=False)
                hashes[k] = np.uint64(keep_h[original] ^ sum(1 << int(f) for f in flips))
                noise = rng.standard_normal(DIM).astype(np.float32)
                noise -= noise @ keep_e[original] * keep_e[original]
                noise /= np.linalg.norm(noise)
                emb[k] = 0.95 * keep_e[original] + np.sqrt(1 - 0.95**2) * noise
        table = pa.table(
            {
                "input_row": pa.array(rows, pa.int64()),
                "path": pa.array([f"p{r}.jpg" for r in rows]),
                "group": pa.array([f"L{r // 20}" for r in rows]),
                "phash": pa.array([f"{h:016x}" for h in hashes]),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), DIM).cast(
                    pa.list_(pa.float32())
                ),
            }
        )
        pq.write_table(table, folder / f"part-{start // rows_per_file:06d}.parquet")
    return planted


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--object-store-gib", type=float, help="Ray's object store (default: Ray's own)")
    args = parser.parse_args()
    import ray
    import ray.data

    from photoscore.batch.catalogue import Buckets, catalogue_duplicates

    buckets = Buckets.for_photos(args.photos)  # as batch sizes them

    with tempfile.TemporaryDirectory(prefix="catalogue-") as temp:
        folder = Path(temp)
        started = time.monotonic()
        planted = synthetic(args.photos, args.copies, folder)
        made = time.monotonic() - started
        store = None if args.object_store_gib is None else int(args.object_store_gib * 2**30)
        ray.init(include_dashboard=False, logging_level="WARNING", object_store_memory=store)
        ray.data.DataContext.get_current().enable_progress_bars = False
        stop, peaks = threading.Event(), {}
        sampler = threading.Thread(target=worker_peak_rss, args=(stop, peaks), daemon=True)
        sampler.start()
        started = time.monotonic()
        dataset = ray.data.read_parquet(str(folder))
        pairs = catalogue_duplicates(dataset, buckets=buckets, partitions=args.partitions)
        found = {(a, b) for batch in pairs.iter_batches(batch_size=None, batch_format="pyarrow")
                 for a, b in zip(batch["photo_row"].to_pylist(), batch["other_row"].to_pylist(), strict=True)}  # fmt: skip
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()
        ray.shutdown()
    hits = len(found & planted)
    print(json.dumps({
        "photos": args.photos, "buckets": f"{buckets.bands} bands + {buckets.tables} x {buckets.bits} bits",
        "planted": len(planted), "pairs_found": len(found), "planted_found": hits,
        "recall": hits / len(planted), "other_pairs": len(found) - hits, "seconds": round(seconds, 1),
        "synthesis_seconds": round(made, 1),
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_total_mib": round(peaks.get("workers_total", 0)),
        "largest_worker_peak_rss_mib": round(peaks.get("largest_worker", 0)),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
