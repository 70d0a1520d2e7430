"""How full the duplicate search's buckets get on real photos, projected to a larger catalogue: the
stored ``phash`` and ``embedding`` of a ``batch --review`` output (real photos) bucketed as
:meth:`Buckets.for_photos` would for ``--catalogue`` photos; a bucket holding a share s of the real photos
is taken to hold s x catalogue photos there, and is split as the search splits a bucket over
``max_bucket`` (here: over max_bucket x sample / catalogue photos, which takes the same sketch bits).
Reports the largest bucket shares, the share of buckets split, the photos left in no bucket, and the
planted pairs (``copy<k>-<original>.jpg``, scripts/measure_catalogue_quality.py) that share a bucket
before and after the splits. A projection (the catalogue is assumed to look like the sample), not a run
at that size.

    python scripts/measure_catalogue_buckets.py --out /tmp/quality/out --catalogue 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads

from photoscore.batch.catalogue import Buckets, _bucket_labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="a batch --review output folder")
    parser.add_argument("--catalogue", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--bits", type=int, nargs="*", default=[], help="signature bits to try as well")
    parser.add_argument("--max-bucket", type=int, nargs="*", default=[], help="bucket caps to try as well")
    args = parser.parse_args()
    table = pads.dataset(args.out, format="parquet").to_table(columns=["path", "phash", "embedding"])
    table = table.filter(table["phash"].is_valid())
    paths = table["path"].to_pylist()
    at = {Path(p).stem: k for k, p in enumerate(paths)}
    planted = [(at[Path(p).stem.split("-", 1)[1]], k) for k, p in enumerate(paths)
               if Path(p).stem.startswith("copy")]  # fmt: skip
    phash = np.array([int(h, 16) for h in table["phash"].to_pylist()], dtype=np.uint64)
    embedding = np.asarray(table["embedding"].to_pylist(), dtype=np.float32)
    n = len(phash)
    report = {"photos_sampled": n, "catalogues": []}
    for size in args.catalogue:
        default = Buckets.for_photos(size)
        tries = [default, *(Buckets.for_photos(size, bits=b) for b in args.bits)]
        for buckets in tries + [replace(default, max_bucket=cap) for cap in args.max_bucket]:
            keys = buckets.keys(phash, embedding).astype(np.int64)
            sketch = buckets.sketch(embedding)
            cap = max(1, int(buckets.max_bucket * n / size))
            labels = np.zeros(keys.shape, dtype=np.int64)
            split, largest = np.zeros(keys.shape, dtype=bool), []
            for slot in range(keys.shape[1]):
                order = np.argsort(keys[:, slot], kind="stable")
                labels[order, slot] = _bucket_labels(keys[order, slot], sketch[order], cap)
                _, inverse, counts = np.unique(keys[:, slot], return_inverse=True, return_counts=True)
                split[:, slot] = counts[inverse] > cap
                largest.append(counts.max() / n)
            # photos each photo is compared with, summed over its buckets (a bucket of c sample photos
            # after the splits holds about c x size / n photos of the catalogue, at most max_bucket)
            compared = np.zeros(n)
            for slot in range(keys.shape[1]):
                kept_rows = labels[:, slot] >= 0
                _, inverse, counts = np.unique(
                    labels[kept_rows, slot], return_inverse=True, return_counts=True
                )
                compared[kept_rows] += np.minimum(counts[inverse] * size / n, buckets.max_bucket)
            a, b = np.array([p for p, _ in planted]), np.array([c for _, c in planted])
            shared = keys[a] == keys[b]
            kept = shared & (labels[a] == labels[b]) & (labels[a] >= 0)
            report["catalogues"].append(
                {
                    "catalogue": size,
                    "buckets": f"{buckets.bands} bands + {buckets.tables} x {buckets.bits} bits",
                    "max_bucket": buckets.max_bucket,
                    "largest_band_bucket_projected": round(max(largest[: buckets.bands]) * size),
                    "largest_table_bucket_projected": round(max(largest[buckets.bands :], default=0) * size),
                    "share_of_table_buckets_split": round(float(split[:, buckets.bands :].mean()), 5),
                    "photos_in_no_bucket": int((labels < 0).all(axis=1).sum()),
                    "photos_compared_per_photo_projected": round(float(compared.mean())),
                    "planted_pairs": len(planted),
                    "planted_sharing_a_bucket": int(shared.any(axis=1).sum()),
                    "planted_sharing_a_bucket_after_splits": int(kept.any(axis=1).sum()),
                }
            )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
