"""Photos reused across listings, found among millions without comparing all pairs.

Each photo's stored 64-bit pHash and room-model embedding give it a few bucket keys (locality-sensitive
hashing): the hash cut into ``bands`` bands (two hashes within ``bands - 1`` bits of each other share a
band whole, by pigeonhole), and ``tables`` random-projection signatures of ``bits`` bits of the
embedding (two embeddings at cosine c agree on a bit with probability 1 - arccos(c)/pi), which find the
cropped and straightened copies whose hash moved. The search runs in three steps, each a Ray Dataset:

1. :func:`photo_keys`: one compact row per photo (its keys, pHash, listing id and a 256-bit sketch of
   the embedding), the only step that reads the embeddings in full.
2. :func:`candidate_pairs`: one row per photo and key (of the key slots asked for: a catalogue too big
   for one shuffle runs in passes), meeting in a Ray Data groupby on the key. Inside a bucket, pairs
   from different listings whose sketches allow the rule's cosine (its lower cosine where the hashes
   are close) become candidates. A bucket over ``max_bucket`` photos (thousands of near-uniform photos, or room
   photos crowding a signature) is split by further sketch bits until it fits.
3. :func:`verified_pairs`: the candidates, deduplicated, meet the embeddings of only their own photos
   in two groupbys on the photo, and the review's
   :class:`~photoscore.review.duplicates.NearDuplicateRule` decides.

Rows shuffled per photo are ``bands + tables`` of 72 bytes whatever the signature length, plus the
candidates; no step holds all photos or all pairs in one process.
"""

from __future__ import annotations

import functools
import hashlib
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
SKETCH_BITS = 256  # random-projection bits kept per photo: the candidate bound, and to split big buckets
SKETCH = [f"s{w}" for w in range(SKETCH_BITS // 64)]
# Key rows per pass of candidate_pairs: about 4 GiB through one shuffle (72 bytes a row).
ROWS_PER_PASS = 60_000_000
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
CANDIDATE_SCHEMA = pa.schema([PAIR_SCHEMA.field(n) for n in ("photo_row", "other_row", "hash_distance")])
# What travels while pairs get their photos' embeddings: pairs (``_photo`` false) and photos (true). The
# embeddings travel as float16: half the bytes through the two shuffles; the cosine of two unit embeddings
# moves by about 1e-4 (on 11,000 real photos no pair's decision changed: docs/scaling.md).
CARRIED = pa.list_(pa.float16())
CARRY = pa.schema(
    [
        *CANDIDATE_SCHEMA,
        *(PAIR_SCHEMA.field(n) for n in ("photo", "listing", "other_photo", "other_listing")),
        ("_a", CARRIED),
        ("_b", CARRIED),
        ("_key", pa.int64()),
        ("_group", pa.int64()),
        ("_photo", pa.bool_()),
        ("_p", pa.string()),
        ("_l", pa.string()),
        ("_e", CARRIED),
    ]
)


@dataclass(frozen=True)
class Buckets:
    """How photos are bucketed: ``bands`` bands of the pHash and ``tables`` random-projection signatures
    of ``bits`` bits of the embedding (``seed`` picks the projections; 0 tables: the hash alone), buckets
    of more than ``max_bucket`` photos split. The defaults are :meth:`for_photos` of a million photos;
    ``batch`` sizes them for its catalogue."""

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

    @property
    def slots(self) -> int:
        """Bucket keys per photo."""
        return self.bands + self.tables

    def passes(self, photos: int, rows_per_pass: int = ROWS_PER_PASS) -> list[range]:
        """The key slots of each pass of :func:`candidate_pairs` for ``photos`` photos."""
        per_pass = max(1, rows_per_pass // max(photos, 1))
        return [range(s, min(s + per_pass, self.slots)) for s in range(0, self.slots, per_pass)]

    def keys(self, phash: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """(n,) uint64 hashes and (n, d) embeddings -> (n, bands + tables) uint32 bucket values, by slot."""
        width = HASH_BITS // self.bands
        mask = np.uint64((1 << width) - 1)
        columns = [((phash >> np.uint64(width * b)) & mask).astype(np.uint32) for b in range(self.bands)]
        if self.tables:
            signs = _signs(embedding, self.tables * self.bits, self.seed)
            weights = np.uint64(1) << np.arange(self.bits, dtype=np.uint64)
            values = (signs.reshape(len(embedding), self.tables, self.bits) * weights).sum(axis=2)
            columns += list(values.astype(np.uint32).T)
        return np.stack(columns, axis=1) if columns else np.zeros((len(phash), 0), np.uint32)

    def sketch(self, embedding: np.ndarray) -> np.ndarray:
        """(n, d) embeddings -> (n, 4) uint64: :data:`SKETCH_BITS` random-projection signs, packed."""
        packed = np.packbits(_signs(embedding, SKETCH_BITS, self.seed + 1), axis=1, bitorder="little")
        return packed.view(np.uint64)

    @staticmethod
    def sketch_bound(similarity: float) -> float:
        """The most sketch bits two embeddings at cosine ``similarity`` differ in, three standard
        deviations above the expected count (candidates beyond it and far in hash are dropped)."""
        p = np.arccos(similarity) / np.pi
        return SKETCH_BITS * p + 3 * np.sqrt(SKETCH_BITS * p * (1 - p))


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
    :data:`PAIR_SCHEMA`, ``photo_row < other_row``). Rows without a hash, an embedding or a listing are
    left out. The candidates are computed here in one pass (materialised); the verification is lazy."""
    photos = usable_photos(
        dataset, id_column=id_column, photo_column=photo_column, listing_column=listing_column
    )
    keyed = photo_keys(photos, buckets)
    candidates = candidate_pairs(keyed, buckets, rule, partitions=partitions).materialize()
    return verified_pairs(candidates, photos, rule, partitions=partitions)


def usable_photos(
    dataset: ray.data.Dataset,
    *,
    id_column: str = "input_row",
    photo_column: str = "path",
    listing_column: str = "group",
) -> ray.data.Dataset:
    """Rows with a hash, an embedding and a listing, as ``row``, ``photo``, ``listing``, ``phash``,
    ``embedding``. Lazy."""
    photos = dataset.select_columns([id_column, photo_column, listing_column, "phash", "embedding"])
    return photos.map_batches(_usable, batch_format="pyarrow")


def photo_keys(photos: ray.data.Dataset, buckets: Buckets) -> ray.data.Dataset:
    """:func:`usable_photos` -> one row per photo: ``row``, ``listing_id`` (a 64-bit hash of the
    listing), ``phash`` (int64 bits), the sketch words ``s0`` .. ``s3`` and ``keys`` (uint32 by slot). Lazy."""
    return photos.map_batches(_photo_keys, fn_kwargs={"buckets": buckets}, batch_format="pyarrow")


def photo_keys_schema(buckets: Buckets) -> pa.Schema:
    """The columns of :func:`photo_keys`."""
    empty = pa.table({"row": pa.array([], pa.int64()), "photo": pa.array([], pa.string()),
                      "listing": pa.array([], pa.string()), "phash": pa.array([], pa.string()),
                      "embedding": pa.array([], pa.list_(pa.float32()))})  # fmt: skip
    return _photo_keys(empty, buckets).schema


def candidate_pairs(
    keyed: ray.data.Dataset,
    buckets: Buckets,
    rule: NearDuplicateRule = DEFAULT_RULE,
    *,
    slots: range | None = None,
    partitions: int = 16,
) -> ray.data.Dataset:
    """:func:`photo_keys` rows -> candidate pairs (:data:`CANDIDATE_SCHEMA`, ``photo_row < other_row``)
    met in the buckets of ``slots`` (default: all); a pair meeting in several buckets comes once per
    bucket. Lazy."""
    slots = range(buckets.slots) if slots is None else slots
    rows = keyed.map_batches(_bucket_rows, fn_kwargs={"slots": slots}, batch_format="pyarrow")
    return rows.groupby("_group", num_partitions=partitions).map_groups(
        _candidates, fn_kwargs={"buckets": buckets, "rule": rule}, batch_format="pyarrow"
    )


def verified_pairs(
    candidates: ray.data.Dataset,
    photos: ray.data.Dataset,
    rule: NearDuplicateRule = DEFAULT_RULE,
    *,
    partitions: int = 16,
) -> ray.data.Dataset:
    """Candidates (materialised: they are read twice) and :func:`usable_photos` -> the distinct pairs
    the rule accepts (:data:`PAIR_SCHEMA`). Only photos of some candidate travel with their embeddings
    (a bitmap of their rows, built here, filters the rest; those photos are materialised here, read
    once). Lazy after that."""
    import ray

    wanted = ray.put(_wanted_rows(candidates))
    carried = photos.map_batches(_photos_carried, fn_kwargs={"wanted": wanted}, batch_format="pyarrow")
    embeddings = carried.materialize()  # read once for both sides: few photos pass the bitmap
    with_a = _attach(candidates, embeddings, "photo_row", ("photo", "listing", "_a"), partitions)
    with_b = _attach(with_a, embeddings, "other_row", ("other_photo", "other_listing", "_b"), partitions)
    return with_b.map_batches(_verified, fn_kwargs={"rule": rule}, batch_format="pyarrow")


def duplicate_counts(pairs: ray.data.Dataset) -> ray.data.Dataset:
    """Pairs -> one row per listing with any: ``listing``, ``pairs`` (pairs it is in), ``photos`` (its
    photos with a copy in another listing)."""
    sides = pairs.map_batches(_both_sides, batch_format="pyarrow")
    return sides.groupby("listing").map_groups(_count, batch_format="pyarrow")


def _signs(embedding: np.ndarray, count: int, seed: int) -> np.ndarray:
    """(n, d) -> (n, count) uint8: the sign bits of ``count`` random projections (seeded)."""
    return (embedding @ _planes(count, embedding.shape[1], seed).T > 0).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _planes(count: int, dimensions: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)


def _usable(batch: pa.Table) -> pa.Table:
    batch = batch.rename_columns(["row", "photo", "listing", "phash", "embedding"])
    valid = pc.and_(
        pc.and_(pc.is_valid(batch["phash"]), pc.is_valid(batch["embedding"])), pc.is_valid(batch["listing"])
    )
    batch = batch.filter(valid)
    return batch.set_column(2, "listing", batch["listing"].cast(pa.string()))


def _listing_ids(listings: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A stable 64-bit hash of each listing (equal ids in every batch and worker)."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little", signed=True)
         for s in listings.to_pylist()], dtype=np.int64,
    )  # fmt: skip


def _photo_keys(batch: pa.Table, buckets: Buckets) -> pa.Table:
    phash = np.array([int(h, 16) for h in batch["phash"].to_pylist()], dtype=np.uint64)
    embedding = _matrix(batch["embedding"])
    keys = buckets.keys(phash, embedding)
    sketch = buckets.sketch(embedding).view(np.int64)
    return pa.table(
        {
            "row": batch["row"],
            "listing_id": pa.array(_listing_ids(batch["listing"])),
            "phash": pa.array(phash.view(np.int64)),
            **{name: pa.array(sketch[:, w]) for w, name in enumerate(SKETCH)},
            "keys": pa.FixedSizeListArray.from_arrays(pa.array(keys.ravel()), keys.shape[1]),
        }
    )


def _bucket_rows(batch: pa.Table, slots: range) -> pa.Table:
    """One row per photo and key slot in ``slots``: ``key`` (slot << 40 | value), ``_group``, and the
    photo's ``row``, ``listing_id``, ``phash`` and sketch."""
    every = _matrix(batch["keys"], np.int64) if batch.num_rows else np.zeros((0, slots.stop), np.int64)
    keys = every[:, slots.start : slots.stop]
    keys = keys | (np.arange(slots.start, slots.stop, dtype=np.int64) << SLOT_SHIFT)
    take = pa.array(np.repeat(np.arange(batch.num_rows), keys.shape[1]))
    flat = keys.ravel()
    columns = {"key": pa.array(flat), "_group": pa.array(flat % GROUPS)}
    columns.update({name: batch[name].take(take) for name in ["row", "listing_id", "phash", *SKETCH]})
    return pa.table(columns)


def _candidates(group: pa.Table, buckets: Buckets, rule: NearDuplicateRule) -> pa.Table:
    """The candidate pairs of every bucket in a group of buckets: photos sharing a bucket (split when
    over ``max_bucket``), in different listings, that the rule could accept: sketches that allow the
    rule's cosine, or hashes close enough and sketches that allow its cosine for close hashes."""
    group = group.sort_by("key")
    sketch = np.stack([group[name].to_numpy() for name in SKETCH], axis=1).view(np.uint64)
    labels = _bucket_labels(group["key"].to_numpy(), sketch, buckets.max_bucket)
    order = np.argsort(labels, kind="stable")
    order = order[labels[order] >= 0]
    labels = labels[order]
    words = [np.ascontiguousarray(sketch[order, w]) for w in range(sketch.shape[1])]
    listing = group["listing_id"].to_numpy()[order]
    phash = group["phash"].to_numpy().view(np.uint64)[order]
    strict, loose = buckets.sketch_bound(rule.similarity), buckets.sketch_bound(rule.hash_similarity)
    n = len(order)
    _, lengths = _runs(labels)
    at = np.flatnonzero(np.repeat(lengths, lengths) >= 2)
    found_i, found_j, found_d = [], [], []
    step = 1
    while at.size:  # photos ``step`` apart in the sorted labels: same bucket while the labels are equal
        at = at[at + step < n]
        at = at[labels[at] == labels[at + step]]
        differ = np.zeros(len(at), np.int16)
        for word in words:  # sketch bits that differ; filtered pair by pair, step by step, to stay small
            differ += np.bitwise_count(word[at] ^ word[at + step])
        close = differ <= loose
        near = at[close]
        distance = np.bitwise_count(phash[near] ^ phash[near + step]).astype(np.int64)
        keep = (listing[near] != listing[near + step]) & (
            (differ[close] <= strict) | (distance <= rule.hash_distance)
        )
        found_i.append(near[keep])
        found_j.append(near[keep] + step)
        found_d.append(distance[keep])
        step += 1
    if not found_i:
        return CANDIDATE_SCHEMA.empty_table()
    rows = group["row"].to_numpy()[order]
    a, b = rows[np.concatenate(found_i)], rows[np.concatenate(found_j)]
    return pa.table(
        {
            "photo_row": np.minimum(a, b),
            "other_row": np.maximum(a, b),
            "hash_distance": np.concatenate(found_d),
        },
        schema=CANDIDATE_SCHEMA,
    )


def _bucket_labels(keys: np.ndarray, sketch: np.ndarray, max_bucket: int) -> np.ndarray:
    """Sorted bucket keys -> a label per row, equal within a bucket. A bucket over ``max_bucket`` rows is
    split by the next few sketch bits (as many as halvings would bring it to the cap; again while a part
    is over); the rows of a part still too big when the sketch runs out get -1 (left out)."""
    n = len(keys)
    starts, lengths = _runs(keys)
    labels = np.repeat(starts, lengths).astype(np.int64)
    big = lengths > max_bucket
    if not big.any():
        return labels
    fresh = n  # labels of split buckets start after every run's start
    pending = [(np.arange(s, s + length), 0) for s, length in zip(starts[big], lengths[big], strict=True)]
    while pending:
        rows, used = pending.pop()
        take = math.ceil(math.log2(len(rows) / max_bucket))
        if used + take > SKETCH_BITS:
            labels[rows] = -1
            continue
        bits = np.unpackbits(sketch[rows].view(np.uint8), axis=1, bitorder="little")[:, used : used + take]
        value = bits.astype(np.int64) @ (np.int64(1) << np.arange(take, dtype=np.int64))
        order = np.argsort(value, kind="stable")
        rows, value = rows[order], value[order]
        sub, sizes = _runs(value)
        labels[rows] = fresh + np.repeat(np.arange(len(sub)), sizes)
        fresh += len(sub)
        pending += [
            (rows[s : s + size], used + take) for s, size in zip(sub, sizes, strict=True) if size > max_bucket
        ]
    return labels


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values -> the start and length of each run of equal values."""
    starts = (
        np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, np.int64)
    )
    return starts, np.diff(np.r_[starts, len(ordered)])


def _wanted_rows(candidates: ray.data.Dataset) -> np.ndarray:
    """A bitmap over hashed rows, set for every row in a candidate pair (read batch by batch: the
    driver holds the bitmap, never the pairs); a row of no pair passes with probability <= 1/16."""
    count = candidates.count()
    size = 1 << min(27, max(10, math.ceil(math.log2(max(count, 1) * 32))))
    wanted = np.zeros(size, dtype=bool)
    for batch in candidates.iter_batches(batch_size=1 << 20, batch_format="pyarrow"):
        for column in ("photo_row", "other_row"):
            wanted[_slot(batch[column].to_numpy(), size)] = True
    return wanted


def _slot(rows: np.ndarray, size: int) -> np.ndarray:
    """Rows -> places in a bitmap of ``size`` (a power of two) by Fibonacci hashing."""
    mixed = rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (mixed >> np.uint64(64 - size.bit_length() + 1)).astype(np.int64)


def _attach(
    pairs: ray.data.Dataset,
    embeddings: ray.data.Dataset,
    on: str,
    into: tuple[str, str, str],
    partitions: int,
) -> ray.data.Dataset:
    """Each pair with the photo, listing and embedding of its ``on`` row set in ``into``: the pairs and
    the photos meet in a groupby on the row (Ray Data's join needs polars, which photoscore does not)."""
    left = pairs.map_batches(_as_carried, fn_kwargs={"key": on}, batch_format="pyarrow")
    return (
        left.union(embeddings)
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


def _photos_carried(batch: pa.Table, wanted: ray.ObjectRef) -> pa.Table:
    """The photos whose row is set in the ``wanted`` bitmap, in the :data:`CARRY` schema: key, photo,
    listing and embedding set, the rest null."""
    import ray

    bitmap = ray.get(wanted)
    batch = batch.filter(pa.array(bitmap[_slot(batch["row"].to_numpy(), len(bitmap))]))
    columns = {n: pa.nulls(batch.num_rows, CARRY.field(n).type) for n in CARRY.names}
    columns.update(
        _key=batch["row"],
        _group=pc.bit_wise_and(batch["row"], GROUPS - 1),
        _photo=pa.array([True] * batch.num_rows),
        _p=batch["photo"],
        _l=batch["listing"],
        _e=batch["embedding"].cast(CARRIED),
    )
    return pa.table(columns, schema=CARRY)


def _fill(group: pa.Table, into: tuple[str, str, str]) -> pa.Table:
    """A group of photos and pairs -> its distinct pairs with the photo, listing and embedding of their
    ``_key`` row in ``into`` (a pair whose photo is absent is dropped)."""
    is_photo = group["_photo"].to_numpy(zero_copy_only=False)
    photos = group.filter(pa.array(is_photo)).sort_by("_key")
    pairs = group.filter(pa.array(~is_photo))
    ends = np.stack([pairs["photo_row"].to_numpy(), pairs["other_row"].to_numpy()], axis=1)
    pairs = pairs.take(
        pa.array(np.unique(ends, axis=0, return_index=True)[1] if len(ends) else [], pa.int64())
    )
    rows = photos["_key"].to_numpy()
    keys = pairs["_key"].to_numpy()
    at = np.searchsorted(rows, keys)
    present = at < len(rows)
    present[present] = rows[at[present]] == keys[present]
    pairs, take = pairs.filter(pa.array(present)), pa.array(at[present])
    for name, source in zip(into, ("_p", "_l", "_e"), strict=True):
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
