"""Photos reused across listings, found among millions without comparing all pairs.

Each photo's stored 64-bit pHash and room-model embedding give it a few bucket keys (locality-sensitive
hashing): the hash cut into ``bands`` bands (two hashes within ``bands - 1`` bits of each other share a
band whole, by pigeonhole), and ``tables`` random-projection signatures of ``bits`` bits of the
embedding (two embeddings at cosine c agree on a bit with probability 1 - arccos(c)/pi), which find the
cropped and straightened copies whose hash moved. Photos meet in a Ray Data groupby on the key; inside
a bucket, pairs from different listings become candidates once (in the first bucket they share). Each
candidate is then verified with the embeddings, joined in by photo, by the same
:class:`~photoscore.review.duplicates.NearDuplicateRule` as the review inside a listing.

Work and memory grow with the photos times the keys per photo plus the candidate pairs; no step holds
all photos or all pairs in one process. A bucket of more than ``max_bucket`` photos (a hash shared by
thousands: blank or near-uniform photos) is skipped rather than paired n x n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from photoscore.review.duplicates import DEFAULT_RULE, HASH_BITS, NearDuplicateRule

if TYPE_CHECKING:
    import ray.data

# Rows meet in this many groups (a groupby calls Python once per group: one per bucket or per photo
# would be millions of calls); each group is sorted and split by key inside.
GROUPS = 1024
SLOT_SHIFT = 40  # a bucket key is slot << 40 | the slot's value (values < 2**32)
# Signatures of about log2(photos / PHOTOS_PER_BUCKET) bits keep a bucket of unrelated photos near this
# size whatever the catalogue's size, so the pairs looked at grow with the photos, not their square.
PHOTOS_PER_BUCKET = 16
MIN_SIGNATURE_BITS = 12
PAIR_SCHEMA = pa.schema(
    [
        ("photo", pa.string()),
        ("listing", pa.string()),
        ("other_photo", pa.string()),
        ("other_listing", pa.string()),
        ("hash_distance", pa.int64()),
        ("similarity", pa.float64()),
        ("photo_row", pa.int64()),
        ("other_row", pa.int64()),
    ]
)


CANDIDATE_COLUMNS = ["photo_row", "other_row", "listing", "other_listing", "hash_distance"]
# What travels while pairs get their photos' embeddings: pairs (``_photo`` false) and photos (true). The
# embeddings travel as float16: half the bytes through the two shuffles; the cosine of two unit embeddings
# moves by about 1e-4 (on 11,000 real photos no pair's decision changed: docs/scaling.md).
CARRIED = pa.list_(pa.float16())
CARRY = pa.schema(
    [
        *(PAIR_SCHEMA.field(n) for n in CANDIDATE_COLUMNS),
        ("photo", pa.string()),
        ("other_photo", pa.string()),
        ("_a", CARRIED),
        ("_b", CARRIED),
        ("_key", pa.int64()),
        ("_group", pa.int64()),
        ("_photo", pa.bool_()),
        ("_p", pa.string()),
        ("_e", CARRIED),
    ]
)


@dataclass(frozen=True)
class Buckets:
    """How photos are bucketed: ``bands`` bands of the pHash and ``tables`` random-projection signatures
    of ``bits`` bits of the embedding (``seed`` picks the projections; 0 tables: the hash alone). The
    defaults are :meth:`for_photos` of a million photos; ``batch`` sizes them for its catalogue."""

    bands: int = 4
    tables: int = 26
    bits: int = 16
    seed: int = 0
    max_bucket: int = 2000

    def __post_init__(self) -> None:
        if HASH_BITS % self.bands or not 1 <= self.bits <= 32 or HASH_BITS // self.bands > 32:
            raise ValueError("bands must divide 64 into bands of at most 32 bits; bits must be 1..32")

    @classmethod
    def for_photos(
        cls,
        photos: int,
        *,
        bits: int | None = None,
        tables: int | None = None,
        similarity: float = DEFAULT_RULE.similarity,
        recall: float = 0.97,
    ) -> Buckets:
        """Buckets for a catalogue of ``photos``: signatures of log2(photos / :data:`PHOTOS_PER_BUCKET`)
        bits (at least :data:`MIN_SIGNATURE_BITS`), and enough tables that two embeddings at cosine
        ``similarity`` share a bucket with probability ``recall``; ``bits`` or ``tables`` given are kept."""
        if bits is None:
            bits = min(32, max(MIN_SIGNATURE_BITS, math.ceil(math.log2(max(photos, 1) / PHOTOS_PER_BUCKET))))
        if tables is None:
            agree = (1 - math.acos(similarity) / math.pi) ** bits
            tables = math.ceil(math.log(1 - recall) / math.log(1 - agree))
        return cls(tables=tables, bits=bits)

    def signature_bound(self, similarity: float) -> float:
        """The most signature bits two embeddings at cosine ``similarity`` differ in, three standard
        deviations above the expected count (candidates beyond it and far in hash are dropped)."""
        bits = self.tables * self.bits
        if not bits:
            return -1.0
        p = np.arccos(similarity) / np.pi
        return bits * p + 3 * np.sqrt(bits * p * (1 - p))

    def keys(self, phash: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """(n,) uint64 hashes and (n, d) embeddings -> (n, bands + tables) int64 bucket keys."""
        width = HASH_BITS // self.bands
        mask = np.uint64((1 << width) - 1)
        bands = [(phash >> np.uint64(width * b)) & mask for b in range(self.bands)]
        columns = [v.astype(np.int64) for v in bands]
        if self.tables:
            rng = np.random.default_rng(self.seed)
            planes = rng.standard_normal((self.tables * self.bits, embedding.shape[1])).astype(np.float32)
            signs = (embedding @ planes.T > 0).reshape(len(embedding), self.tables, self.bits)
            columns += list((signs.astype(np.int64) << np.arange(self.bits, dtype=np.int64)).sum(axis=2).T)
        return np.stack(columns, axis=1) | (np.arange(len(columns), dtype=np.int64) << SLOT_SHIFT)


def catalogue_duplicates(
    dataset: ray.data.Dataset,
    *,
    id_column: str = "input_row",
    photo_column: str = "path",
    listing_column: str = "group",
    rule: NearDuplicateRule = DEFAULT_RULE,
    buckets: Buckets = Buckets(),
    partitions: int = 16,
) -> ray.data.Dataset:
    """A Dataset of reviewed photos (an int64 id, photo, listing, ``phash`` as 16 hex digits,
    ``embedding``) -> one row per pair of near or exact duplicates in different listings (columns of
    :data:`PAIR_SCHEMA`, ``photo_row < other_row``). Rows without a hash or an embedding are left out.
    Lazy."""
    photos = dataset.select_columns([id_column, photo_column, listing_column, "phash", "embedding"])
    photos = photos.map_batches(
        _usable, fn_kwargs={"names": (id_column, photo_column, listing_column)}, batch_format="pyarrow"
    )
    keyed = photos.map_batches(_bucket_rows, fn_kwargs={"buckets": buckets}, batch_format="pyarrow")
    candidates = keyed.groupby("_group", num_partitions=partitions).map_groups(
        _candidates, fn_kwargs={"buckets": buckets, "rule": rule}, batch_format="pyarrow"
    )
    embeddings = photos.select_columns(["row", "photo", "embedding"])
    with_a = _attach(candidates, embeddings, "photo_row", ("photo", "_a"), partitions)
    with_b = _attach(with_a, embeddings, "other_row", ("other_photo", "_b"), partitions)
    return with_b.map_batches(_verified, fn_kwargs={"rule": rule}, batch_format="pyarrow")


def duplicate_counts(pairs: ray.data.Dataset) -> ray.data.Dataset:
    """Pairs -> one row per listing with any: ``listing``, ``pairs`` (pairs it is in), ``photos`` (its
    photos with a copy in another listing)."""
    sides = pairs.map_batches(_both_sides, batch_format="pyarrow")
    return sides.groupby("listing").map_groups(_count, batch_format="pyarrow")


def _usable(batch: pa.Table, names: tuple[str, str, str]) -> pa.Table:
    """Rows with a hash, an embedding and a listing, as ``row``, ``photo``, ``listing``, ``phash``, ``embedding``."""
    batch = batch.rename_columns(["row", "photo", "listing", "phash", "embedding"])
    valid = pc.and_(
        pc.and_(pc.is_valid(batch["phash"]), pc.is_valid(batch["embedding"])), pc.is_valid(batch["listing"])
    )
    batch = batch.filter(valid)
    return batch.set_column(2, "listing", batch["listing"].cast(pa.string()))


def _bucket_rows(batch: pa.Table, buckets: Buckets) -> pa.Table:
    """One row per photo and bucket key: ``key``, ``row``, ``listing``, ``phash`` (int64 bits), ``keys``."""
    n = batch.num_rows
    phash = np.array([int(h, 16) for h in batch["phash"].to_pylist()], dtype=np.uint64)
    embedding = _matrix(batch["embedding"])
    keys = buckets.keys(phash, embedding)
    slots = keys.shape[1]
    every = pa.FixedSizeListArray.from_arrays(pa.array(keys.ravel()), slots)
    take = pa.array(np.repeat(np.arange(n), slots))
    return pa.table(
        {
            "key": pa.array(keys.ravel()),
            "_group": pa.array(keys.ravel() % GROUPS),
            "row": batch["row"].take(take),
            "listing": batch["listing"].take(take),
            "phash": pa.array(phash.view(np.int64)).take(take),
            "keys": every.take(take),
        }
    )


def _candidates(group: pa.Table, buckets: Buckets, rule: NearDuplicateRule) -> pa.Table:
    """The candidate pairs of every bucket in a group of buckets: photos sharing a bucket key (of at most
    ``max_bucket`` photos), in different listings, sharing no earlier key, that the rule could accept
    (hashes close enough, or signatures that allow the embeddings' cosine). Columns ``photo_row``,
    ``other_row`` (smaller first), ``listing``, ``other_listing``, ``hash_distance``."""
    group = group.sort_by("key")
    keys = group["key"].to_numpy()
    n = len(keys)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    run = np.repeat(lengths, lengths)
    at = np.flatnonzero((run >= 2) & (run <= buckets.max_bucket))
    found_i, found_j = [], []
    step = 1
    while at.size:  # photos ``step`` apart in the sorted keys: same bucket while the keys are equal
        at = at[at + step < n]
        at = at[keys[at] == keys[at + step]]
        found_i.append(at)
        found_j.append(at + step)
        step += 1
    if not found_i:
        return _no_candidates()
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    listing_codes = pc.dictionary_encode(group["listing"].combine_chunks()).indices.to_numpy()
    rows = group["row"].to_numpy()
    phash = group["phash"].to_numpy().view(np.uint64)
    every = _matrix(group["keys"], np.int64)
    distance = np.bitwise_count(phash[i] ^ phash[j]).astype(np.int64)
    signature = np.bitwise_count(every[i, buckets.bands :] ^ every[j, buckets.bands :]).sum(axis=1)
    first = np.argmax(every[i] == every[j], axis=1)  # the first bucket the two share
    keep = (
        (listing_codes[i] != listing_codes[j])
        & (first == keys[i] >> SLOT_SHIFT)
        & ((distance <= rule.hash_distance) | (signature <= buckets.signature_bound(rule.similarity)))
    )
    i, j, distance = i[keep], j[keep], distance[keep]
    swap = rows[i] > rows[j]
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    listings = group["listing"]
    return pa.table(
        {
            "photo_row": pa.array(rows[i], pa.int64()),
            "other_row": pa.array(rows[j], pa.int64()),
            "listing": listings.take(pa.array(i, pa.int64())).combine_chunks().cast(pa.string()),
            "other_listing": listings.take(pa.array(j, pa.int64())).combine_chunks().cast(pa.string()),
            "hash_distance": pa.array(distance, pa.int64()),
        }
    )


def _no_candidates() -> pa.Table:
    return CARRY.empty_table().select(CANDIDATE_COLUMNS)


def _attach(
    pairs: ray.data.Dataset,
    embeddings: ray.data.Dataset,
    on: str,
    into: tuple[str, str],
    partitions: int,
) -> ray.data.Dataset:
    """Each pair with the photo and embedding of its ``on`` row set in ``into``: the pairs and the
    photos meet in a groupby on the row (Ray Data's join needs polars, which photoscore does not)."""
    left = pairs.map_batches(_as_carried, fn_kwargs={"key": on}, batch_format="pyarrow")
    right = embeddings.map_batches(_photos_carried, batch_format="pyarrow")
    return (
        left.union(right)
        .groupby("_group", num_partitions=partitions)
        .map_groups(_fill, fn_kwargs={"into": into}, batch_format="pyarrow")
    )


def _as_carried(batch: pa.Table, key: str) -> pa.Table:
    """Pairs in the :data:`CARRY` schema, keyed by ``key``."""
    columns = {n: batch[n] if n in batch.column_names else pa.nulls(batch.num_rows, CARRY.field(n).type)
               for n in CARRY.names}  # fmt: skip
    columns["_key"] = batch[key]
    columns["_group"] = pc.bit_wise_and(batch[key], GROUPS - 1)
    columns["_photo"] = pa.array([False] * batch.num_rows)
    return pa.table(columns, schema=CARRY)


def _photos_carried(batch: pa.Table) -> pa.Table:
    """Photos in the :data:`CARRY` schema: key, photo and embedding set, the rest null."""
    columns = {n: pa.nulls(batch.num_rows, CARRY.field(n).type) for n in CARRY.names}
    columns.update(
        _key=batch["row"],
        _group=pc.bit_wise_and(batch["row"], GROUPS - 1),
        _photo=pa.array([True] * batch.num_rows),
        _p=batch["photo"],
        _e=batch["embedding"].cast(CARRIED),
    )
    return pa.table(columns, schema=CARRY)


def _fill(group: pa.Table, into: tuple[str, str]) -> pa.Table:
    """A group of photos and pairs -> its pairs with the photo and embedding of their ``_key`` row in
    ``into`` (a pair whose photo is absent is dropped)."""
    is_photo = group["_photo"].to_numpy(zero_copy_only=False)
    photos = group.filter(pa.array(is_photo)).sort_by("_key")
    pairs = group.filter(pa.array(~is_photo))
    rows = photos["_key"].to_numpy()
    at = np.searchsorted(rows, pairs["_key"].to_numpy())
    present = at < len(rows)
    present[present] = rows[at[present]] == pairs["_key"].to_numpy()[present]
    pairs, take = pairs.filter(pa.array(present)), pa.array(at[present])
    for name, source in zip(into, ("_p", "_e"), strict=True):
        pairs = pairs.set_column(CARRY.get_field_index(name), CARRY.field(name), photos[source].take(take))
    return pairs


def _verified(batch: pa.Table, rule: NearDuplicateRule) -> pa.Table:
    """Candidates with both embeddings -> the pairs the rule accepts, as :data:`PAIR_SCHEMA`."""
    if batch.num_rows == 0:
        return PAIR_SCHEMA.empty_table()
    similarity = np.einsum("ij,ij->i", _matrix(batch["_a"]), _matrix(batch["_b"])).astype(np.float64)
    distance = batch["hash_distance"].to_numpy()
    accepted = (similarity >= rule.similarity) | (
        (distance <= rule.hash_distance) & (similarity >= rule.hash_similarity)
    )
    batch = batch.append_column("similarity", pa.array(np.round(similarity, 6)))
    return batch.filter(pa.array(accepted)).select(PAIR_SCHEMA.names).cast(PAIR_SCHEMA)


def _both_sides(pairs: pa.Table) -> pa.Table:
    return pa.table(
        {
            "listing": pa.concat_arrays(
                [pairs["listing"].combine_chunks(), pairs["other_listing"].combine_chunks()]
            ),
            "row": pa.concat_arrays(
                [pairs["photo_row"].combine_chunks(), pairs["other_row"].combine_chunks()]
            ),
        }
    )


def _count(group: pa.Table) -> pa.Table:
    return pa.table(
        {
            "listing": group["listing"].slice(0, 1),
            "pairs": pa.array([group.num_rows], pa.int64()),
            "photos": pa.array([len(pc.unique(group["row"]))], pa.int64()),
        }
    )


def _matrix(column: pa.ChunkedArray | pa.Array, dtype: type = np.float32) -> np.ndarray:
    """A list column of equal-length lists -> a 2-D array."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return np.zeros((0, 0), dtype=dtype)
    values = array.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return values.reshape(len(array), -1)
