"""How full the duplicate search's buckets get on real photos, projected to a larger catalogue: the
stored ``phash`` and ``embedding`` of a ``batch --review`` output (real photos) bucketed as
:meth:`Buckets.for_photos` would for ``--catalogue`` photos; a bucket holding a share s of the real photos
is taken to hold s x catalogue photos there, and is skipped when that exceeds ``max_bucket``. Reports the
largest bucket shares, the photos with some, or all, of their buckets skipped, and the planted pairs
(``copy<k>-<original>.jpg``, scripts/measure_catalogue_quality.py) that still share a bucket not skipped. A projection (the
catalogue is assumed to look like the sample), not a run at that size.

    python scripts/measure_catalogue_buckets.py --out /tmp/quality/out --catalogue 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads

from photoscore.batch.catalogue import Buckets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="a batch --review output folder")
    parser.add_argument("--catalogue", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--bits", type=int, nargs="*", default=[], help="signature bits to try as well")
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
        for buckets in [default, *(Buckets.for_photos(size, bits=b) for b in args.bits)]:
            keys = buckets.keys(phash, embedding)
            skipped = np.zeros(keys.shape, dtype=bool)
            largest = []
            for slot in range(keys.shape[1]):
                _, inverse, counts = np.unique(keys[:, slot], return_inverse=True, return_counts=True)
                share = counts[inverse] / n
                skipped[:, slot] = share * size > buckets.max_bucket
                largest.append(counts.max() / n)
            bands, tables = skipped[:, : buckets.bands], skipped[:, buckets.bands :]
            a, b = np.array([p for p, _ in planted]), np.array([c for _, c in planted])
            shared = keys[a] == keys[b]
            meet = (shared.any(axis=1).sum(), (shared & ~skipped[a] & ~skipped[b]).any(axis=1).sum())
            report["catalogues"].append(
                {
                    "catalogue": size,
                    "buckets": f"{buckets.bands} bands + {buckets.tables} x {buckets.bits} bits",
                    "largest_band_bucket_projected": round(max(largest[: buckets.bands]) * size),
                    "largest_table_bucket_projected": round(max(largest[buckets.bands :], default=0) * size),
                    "photos_with_a_band_skipped": int(bands.any(axis=1).sum()),
                    "photos_with_a_table_skipped": int(tables.any(axis=1).sum()),
                    "share_of_table_buckets_skipped": round(float(tables.mean()), 5),
                    "photos_with_every_bucket_skipped": int(skipped.all(axis=1).sum()),
                    "planted_pairs": len(planted),
                    "planted_sharing_a_bucket": int(meet[0]),
                    "planted_sharing_a_bucket_not_skipped": int(meet[1]),
                }
            )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
