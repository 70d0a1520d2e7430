"""The bucketing of the catalogue duplicate search, without Ray: crowded buckets are split (not skipped),
passes cover every key slot once, and a bucket pairs copies across listings only."""

from __future__ import annotations

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")  # the batch extra's

from photoscore.batch.catalogue import (  # noqa: E402
    SKETCH_BITS,
    Buckets,
    _bucket_labels,
    _bucket_rows,
    _candidates,
    _photo_keys,
)
from photoscore.review.duplicates import DEFAULT_RULE  # noqa: E402


def unit(rng: np.random.Generator, n: int, dim: int = 64) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def near(rng: np.random.Generator, vectors: np.ndarray, cosine: float) -> np.ndarray:
    """Unit vectors at ``cosine`` to each of ``vectors``."""
    noise = unit(rng, len(vectors), vectors.shape[1])
    noise -= (noise * vectors).sum(axis=1, keepdims=True) * vectors
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return cosine * vectors + np.sqrt(1 - cosine**2) * noise


def test_a_crowded_bucket_is_split_by_the_sketch_and_keeps_its_copies_together():
    rng = np.random.default_rng(0)
    buckets = Buckets(max_bucket=500)
    originals = unit(rng, 3000)
    embeddings = np.concatenate([originals, near(rng, originals[:200], 0.98)])
    sketch = buckets.sketch(embeddings)
    keys = np.zeros(len(embeddings), np.int64)  # one bucket of 3,200 photos (blank photos sharing a hash)
    labels = _bucket_labels(keys, sketch, buckets.max_bucket)
    assert (labels >= 0).all()  # nothing skipped
    assert np.bincount(labels).max() <= buckets.max_bucket
    together = (labels[:200] == labels[3000:]).mean()
    # 3,200 -> 500 takes 3 sketch bits; a copy at cosine 0.98 agrees on each with probability 0.936
    assert together >= 0.75

    same = np.zeros((1000, SKETCH_BITS // 64), np.uint64)  # photos no sketch bit can tell apart
    assert (_bucket_labels(np.zeros(1000, np.int64), same, 500) == -1).all()
    small = _bucket_labels(np.array([1, 1, 2, 3, 3, 3]), sketch[:6], 500)
    assert small.tolist() == [0, 0, 2, 3, 3, 3]  # buckets within the cap keep one label each


def test_passes_cover_every_key_slot_once():
    for photos in (1_000, 1_000_000, 10_000_000, 100_000_000):
        buckets = Buckets.for_photos(photos)
        passes = buckets.passes(photos)
        assert [s for p in passes for s in p] == list(range(buckets.slots))
        assert all(len(p) * photos <= 60_000_000 or len(p) == 1 for p in passes)
    assert len(Buckets.for_photos(1_000_000).passes(1_000_000)) == 1
    assert len(Buckets.for_photos(10_000_000).passes(10_000_000)) == 8


def test_a_bucket_pairs_copies_in_other_listings_only():
    rng = np.random.default_rng(1)
    buckets = Buckets(tables=6, bits=4)  # short signatures: unrelated photos share buckets too
    originals = unit(rng, 300, 1280)
    copies = near(rng, originals[:20], 0.95)
    embeddings = np.concatenate([originals, copies])
    hashes = rng.integers(0, 2**63, len(embeddings)).astype(np.uint64)
    hashes[300:] = hashes[:20] ^ np.uint64(0b101)  # two bits flipped
    listings = [f"L{i // 10}" for i in range(300)] + [f"L{(i // 10 + 1) % 30}" for i in range(20)]
    listings[305] = listings[5]  # a copy in its own listing: the review's, not the catalogue's
    table = pa.table(
        {
            "row": pa.array(np.arange(len(embeddings), dtype=np.int64)),
            "photo": [f"p{i}.jpg" for i in range(len(embeddings))],
            "listing": listings,
            "phash": [f"{h:016x}" for h in hashes],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.ravel()), 1280),
        }
    )
    rows = _bucket_rows(_photo_keys(table, buckets), range(buckets.slots))
    candidates = _candidates(rows, buckets, DEFAULT_RULE)
    pairs = set(zip(candidates["photo_row"].to_pylist(), candidates["other_row"].to_pylist(), strict=True))
    planted = {(i, 300 + i) for i in range(20) if i != 5}
    assert planted <= pairs and (5, 305) not in pairs
    assert len(pairs - planted) <= 3  # unrelated pairs of a shared bucket: far in hash and in sketch
