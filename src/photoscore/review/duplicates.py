"""Exact and near duplicates inside a listing, and which copy of each to keep.

Each photo is reduced once to a :class:`DuplicateCandidate`: a digest of its decoded pixels (exact
copies), a 64-bit perceptual hash and the room model's L2-normalised embedding (near copies). These are
small, storable per photo (the hash as a 16-digit hex string, the embedding as float32) and comparable
later across a catalogue. Inside one listing every pair is compared; pairs join into groups and each
group keeps the copy with the most pixels, then the best score, then the first given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from photoscore.review.photo import PhotoView

HASH_BITS = 64
# pHash as imagehash computes it: a 32x32 grey copy, its 2-D DCT-II, the 8x8 lowest frequencies (DC
# included) against their median, bits row by row, the first the most significant.
_HASH_SIDE = 32
# The grey copy is first box-reduced to about 3 x 32 px, then LANCZOS-resized: a sixth of the time of a
# LANCZOS resize from 512 px, 0.14 of 64 bits different from it on average (at most 2, on 400 LIVE photos).
_REDUCING_GAP = 3.0
_LOW = 8
_n = np.arange(_HASH_SIDE)
_DCT_LOW = np.cos(np.pi * np.arange(_LOW)[:, None] * (2 * _n[None, :] + 1) / (2 * _HASH_SIDE))


def pixel_digest(view: PhotoView) -> str:
    """sha256 (hex) of the decoded pixels and the original's size: equal only for exact copies."""
    image = view.photo.image
    digest = hashlib.sha256(f"{view.width}x{view.height}:{image.width}x{image.height}:{image.mode}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def perceptual_hash(view: PhotoView) -> int:
    """64-bit pHash of the photo's grey analysis copy: ``imagehash.phash``'s method (the signs of the
    low 8x8 DCT of a 32x32 copy against their median), within a bit or two of it on the same pixels."""
    grey = Image.fromarray(view.grey).resize(
        (_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP
    )
    coeffs = _DCT_LOW @ np.asarray(grey, dtype=np.float64) @ _DCT_LOW.T
    bits = np.packbits(coeffs > np.median(coeffs))  # row by row, the first bit the highest
    return int.from_bytes(bits.tobytes(), "big")


def hash_to_hex(phash: int) -> str:
    """The hash as 16 hex digits (the form imagehash prints and Parquet stores without sign trouble)."""
    return f"{phash:016x}"


def hash_from_hex(text: str) -> int:
    """The inverse of :func:`hash_to_hex`."""
    return int(text, 16)


def hash_distance(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes (0..64)."""
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class NearDuplicateRule:
    """When two photos are near duplicates: the embeddings alone are very close (cosine >= ``similarity``),
    or the hashes are close (distance <= ``hash_distance``) and the embeddings fairly close
    (cosine >= ``hash_similarity``).

    The hash finds re-encoded, resized, brightened and branded copies whose embeddings moved (a half-size
    copy can fall to cosine 0.8); the embedding finds cropped and straightened copies whose hashes moved.
    The defaults pair no two distinct photos of 8,400 copies / 119,400 same-room pairs of Places365 train
    photos, find 99.3% of the copies there, and sit 0.10 above the cosine of every distinct pair
    (scripts/measure_duplicates.py, which reports them on held-out photos).
    """

    similarity: float = 0.93
    hash_distance: int = 16
    hash_similarity: float = 0.82

    def matches(self, distance: int, similarity: float) -> bool:
        return similarity >= self.similarity or (
            distance <= self.hash_distance and similarity >= self.hash_similarity
        )


DEFAULT_RULE = NearDuplicateRule()


@dataclass(frozen=True, eq=False)
class DuplicateCandidate:
    """What duplicate search keeps of one photo.

    ``index`` is the caller's label (e.g. the photo's position in the listing); ``embedding`` is the room
    model's L2-normalised float32 vector; ``pixels`` is width x height of the original; ``score`` the
    photo's score (higher is better), None when not scored.
    """

    index: int
    digest: str
    phash: int
    embedding: np.ndarray
    pixels: int
    score: float | None = None

    @classmethod
    def from_view(
        cls, index: int, view: PhotoView, embedding: np.ndarray, score: float | None = None
    ) -> DuplicateCandidate:
        """The candidate of one decoded photo, given its embedding from the room model."""
        return cls(
            index=index,
            digest=pixel_digest(view),
            phash=perceptual_hash(view),
            embedding=np.asarray(embedding, dtype=np.float32),
            pixels=view.width * view.height,
            score=score,
        )


@dataclass(frozen=True)
class DuplicatePair:
    """Two photos found to be copies: ``first``/``second`` are candidate indices."""

    first: int
    second: int
    kind: Literal["exact", "near"]
    hash_distance: int
    similarity: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos that are copies of each other (joined by ``pairs``): the one to keep and the others."""

    keep: int
    others: tuple[int, ...]
    pairs: tuple[DuplicatePair, ...]

    @property
    def exact(self) -> bool:
        """Whether every pair in the group is an exact copy."""
        return all(pair.kind == "exact" for pair in self.pairs)


def find_pairs(
    photos: Sequence[DuplicateCandidate], rule: NearDuplicateRule = DEFAULT_RULE
) -> list[DuplicatePair]:
    """Every pair of ``photos`` that are exact or near duplicates, in input order."""
    if not photos:
        return []
    embeddings = np.stack([p.embedding for p in photos])
    similarities = embeddings @ embeddings.T
    pairs = []
    for i, a in enumerate(photos):
        for j in range(i + 1, len(photos)):
            b = photos[j]
            distance = hash_distance(a.phash, b.phash)
            similarity = float(similarities[i, j])
            if a.digest == b.digest:
                pairs.append(DuplicatePair(a.index, b.index, "exact", distance, similarity))
            elif rule.matches(distance, similarity):
                pairs.append(DuplicatePair(a.index, b.index, "near", distance, similarity))
    return pairs


def find_duplicates(
    photos: Sequence[DuplicateCandidate], rule: NearDuplicateRule = DEFAULT_RULE
) -> list[DuplicateGroup]:
    """Groups of copies among one listing's photos (connected pairs), ordered by their first photo.

    Each group keeps the photo with the most pixels in the original, then the higher score, then the
    one given first; ``others`` are in input order.
    """
    position = {p.index: i for i, p in enumerate(photos)}
    if len(position) != len(photos):
        raise ValueError("duplicate candidates need distinct indices")
    root = list(range(len(photos)))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    pairs = find_pairs(photos, rule)
    for pair in pairs:
        a, b = find(position[pair.first]), find(position[pair.second])
        root[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for i in range(len(photos)):
        members.setdefault(find(i), []).append(i)
    groups = []
    for _, group in sorted(members.items()):
        if len(group) < 2:
            continue
        keep = min(group, key=lambda i: _keep_order(photos[i], i))
        in_group = {photos[i].index for i in group}
        groups.append(
            DuplicateGroup(
                keep=photos[keep].index,
                others=tuple(photos[i].index for i in group if i != keep),
                pairs=tuple(p for p in pairs if p.first in in_group),
            )
        )
    return groups


def _keep_order(photo: DuplicateCandidate, position: int) -> tuple[int, float, int]:
    """Sort key: the most pixels first, then the highest score (unscored last), then input order."""
    score = -np.inf if photo.score is None else photo.score
    return (-photo.pixels, -score, position)
