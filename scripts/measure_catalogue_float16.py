"""Does carrying embeddings as float16 in the catalogue duplicate search change any decision? Every pair of
photos in different listings of a ``batch --review`` output (all pairs, numpy, no Ray), judged by the
review's ``NearDuplicateRule`` with the stored float32 embeddings and with them rounded to float16.

    python scripts/measure_catalogue_float16.py --out /tmp/quality/out
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads

from photoscore.review.duplicates import DEFAULT_RULE as RULE


def accepted(similarity: np.ndarray, distance: np.ndarray) -> np.ndarray:
    return (similarity >= RULE.similarity) | (
        (distance <= RULE.hash_distance) & (similarity >= RULE.hash_similarity)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="a batch --review output folder (listings: folders)")
    args = parser.parse_args()
    table = pads.dataset(args.out, format="parquet").to_table(columns=["path", "phash", "embedding"])
    table = table.filter(table["phash"].is_valid())
    e32 = np.asarray(table["embedding"].to_pylist(), dtype=np.float32)
    e16 = e32.astype(np.float16).astype(np.float32)
    phash = np.array([int(h, 16) for h in table["phash"].to_pylist()], dtype=np.uint64)
    listing = np.array([Path(p).parent.name for p in table["path"].to_pylist()])
    n, step = len(e32), 1000
    counts = {"photos": n, "accepted_float32": 0, "accepted_float16": 0, "decisions_changed": 0}
    largest = 0.0
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        pairs = (np.arange(n)[None, :] > rows[:, None]) & (listing[rows, None] != listing[None, :])
        distance = np.bitwise_count(phash[rows, None] ^ phash[None, :])
        s32, s16 = e32[rows] @ e32.T, e16[rows] @ e16.T
        a32, a16 = accepted(s32, distance) & pairs, accepted(s16, distance) & pairs
        counts["accepted_float32"] += int(a32.sum())
        counts["accepted_float16"] += int(a16.sum())
        counts["decisions_changed"] += int((a32 != a16).sum())
        largest = max(largest, float(np.abs(s32 - s16)[pairs].max(initial=0.0)))
    print(json.dumps({**counts, "largest_cosine_change": largest, "rule": str(RULE)}))


if __name__ == "__main__":
    main()
