"""Exact and near duplicates inside a listing, on real photos and copies made from them as hosts make them:
re-encoded, resized, cropped, brightened or darkened, straightened, branded (the transforms of
scripts/measure_duplicates.py, which measures the rule on thousands of such pairs)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscore.images import load_photo
from photoscore.review.duplicates import (
    DuplicateCandidate,
    find_duplicates,
    hash_distance,
    hash_from_hex,
    hash_to_hex,
    perceptual_hash,
    pixel_digest,
)
from photoscore.review.photo import PhotoView
from photoscore.review.rooms import RoomModel

from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DISTINCT = ("astronaut", "chelsea", "coffee", "rocket")
# imagehash 4.3.2's phash of the example files (str(imagehash.phash(Image.open(path)))).
IMAGEHASH_PHASH = {
    "astronaut": "c2924c5532bddfc8",
    "chelsea": "b15fe6465121175e",
    "coffee": "bb8320376c0f3637",
    "rocket": "c0371bec1be51267",
}
# Different LIVE photos of look-alike scenes, among the most alike to the room model of all 330,078 pairs
# of the 813 photos (cosine 0.84, 0.84, 0.83; scripts/measure_duplicates.py): not duplicates.
LIVE_LOOKALIKES = (("178.webp", "21.webp"), ("856.jpg", "863.jpg"), ("834.jpg", "837.jpg"))
# The same scene shot twice from the same spot (the closest pairs of all, cosine 0.93 and 0.90): the
# duplicates a listing should not show twice.
LIVE_RETAKES = (("625.jpg", "626.jpg"), ("824.jpg", "825.jpg"))


TRANSFORMS = load_script("measure_duplicates").TRANSFORMS


@pytest.fixture(scope="module")
def room_model() -> RoomModel:
    return RoomModel()


def view_of(path: Path) -> PhotoView:
    return PhotoView(load_photo(path, min_size=(512, 512)))


def candidates(
    paths: list[Path], model: RoomModel, scores: list[float] | None = None
) -> list[DuplicateCandidate]:
    views = [view_of(p) for p in paths]
    embeddings = model.predict_images([v.photo.image for v in views]).embedding
    return [
        DuplicateCandidate.from_view(i, v, e, None if scores is None else scores[i])
        for i, (v, e) in enumerate(zip(views, embeddings, strict=True))
    ]


def copies_of(original: Path, folder: Path) -> dict[str, Path]:
    """The original's exact copy and each transformed copy, written as a host would upload them."""
    image = Image.open(original).convert("RGB")
    shutil.copyfile(original, folder / f"copy{original.suffix}")
    made = {"copy": folder / f"copy{original.suffix}"}
    for name, transform in TRANSFORMS.items():
        made[name] = folder / f"{name}.jpg"
        transform(image, random.Random(name)).save(made[name], quality=50 if name == "q50" else 92)
    return made


def test_perceptual_hash_is_imagehash_phash_on_the_examples() -> None:
    for name, expected in IMAGEHASH_PHASH.items():
        assert hash_to_hex(perceptual_hash(view_of(EXAMPLES / f"{name}.jpg"))) == expected


def test_hash_hex_round_trip_and_distance() -> None:
    hashes = [perceptual_hash(view_of(EXAMPLES / f"{name}.jpg")) for name in DISTINCT]
    for h in hashes:
        assert 0 <= h < 1 << 64
        assert hash_from_hex(hash_to_hex(h)) == h
        assert len(hash_to_hex(h)) == 16
    assert hash_distance(hashes[0], hashes[0]) == 0
    assert hash_distance(0, (1 << 64) - 1) == 64
    assert min(hash_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]) > 16


def test_pixel_digest_is_equal_for_the_same_pixels_only(tmp_path: Path) -> None:
    original = EXAMPLES / "rocket.jpg"
    shutil.copyfile(original, tmp_path / "copy.jpg")
    view = view_of(original)
    view.photo.image.save(tmp_path / "same-pixels.png")  # the decoded pixels, losslessly, in another format
    view.photo.image.save(tmp_path / "q95.jpg", quality=95)
    assert pixel_digest(view_of(tmp_path / "copy.jpg")) == pixel_digest(view)
    assert pixel_digest(view_of(tmp_path / "same-pixels.png")) == pixel_digest(view)
    assert pixel_digest(view_of(tmp_path / "q95.jpg")) != pixel_digest(view)
    assert pixel_digest(view_of(EXAMPLES / "coffee.jpg")) != pixel_digest(view)


@pytest.mark.parametrize("name", ["rocket", "chelsea"])
def test_every_copy_of_a_photo_is_grouped_with_the_original_kept(
    name: str, tmp_path: Path, room_model: RoomModel
) -> None:
    made = copies_of(EXAMPLES / f"{name}.jpg", tmp_path)
    others = [EXAMPLES / f"{n}.jpg" for n in DISTINCT if n != name]
    # The copies come first and score higher: the original still wins on size, then on being given
    # before its exact copy and the same-size copies whose scores equal its own.
    paths = [*made.values(), EXAMPLES / f"{name}.jpg", *others]
    scores = [6.0] * len(made) + [6.0] + [7.0] * len(others)
    scores[list(made).index("half")] = 9.0
    photos = candidates(paths, room_model, scores)
    groups = find_duplicates(photos)
    assert len(groups) == 1, [(g.keep, g.others) for g in groups]
    group = groups[0]
    assert group.keep == 0  # the exact copy: the original's pixels, given first
    assert sorted((group.keep, *group.others)) == list(range(len(made) + 1))
    exact = [p for p in group.pairs if p.kind == "exact"]
    assert [(p.first, p.second) for p in exact] == [(0, len(made))]
    assert not group.exact
    for pair in group.pairs:
        assert 0 <= pair.hash_distance <= 64
        assert -1.0 <= pair.similarity <= 1.0001


def test_the_copy_to_keep_is_the_larger_then_the_better_scored_then_the_first(
    tmp_path: Path, room_model: RoomModel
) -> None:
    image = Image.open(EXAMPLES / "astronaut.jpg")
    image.save(tmp_path / "full.jpg", quality=90)
    image.resize((256, 256), Image.Resampling.LANCZOS).save(tmp_path / "small.jpg", quality=90)
    image.save(tmp_path / "full-q80.jpg", quality=80)
    paths = [tmp_path / "small.jpg", tmp_path / "full-q80.jpg", tmp_path / "full.jpg"]

    def kept(scores: list[float | None]) -> int:
        (group,) = find_duplicates(candidates(paths, room_model, scores))
        return group.keep

    assert kept([9.0, 5.0, 6.0]) == 2  # the larger ones win over a better score
    assert kept([9.0, 6.5, 6.0]) == 1  # same size: the better score
    assert kept([9.0, 6.0, 6.0]) == 1  # same size and score: the one given first
    assert kept([9.0, None, 6.0]) == 2  # an unscored photo loses to a scored one


@pytest.mark.parametrize("transform", ["copy", *TRANSFORMS])
def test_each_kind_of_copy_of_a_live_photo_is_found(
    transform: str, livec_dir: Path, tmp_path: Path, room_model: RoomModel
) -> None:
    for image in sorted((livec_dir / "images").iterdir())[:3]:
        folder = tmp_path / image.stem
        folder.mkdir()
        made = copies_of(image, folder)
        groups = find_duplicates(candidates([image, made[transform]], room_model))
        assert [(g.keep, g.others) for g in groups] in ([(0, (1,))], [(1, (0,))]), f"{image.name} {transform}"


def test_distinct_photos_are_not_paired(room_model: RoomModel) -> None:
    assert find_duplicates(candidates([EXAMPLES / f"{n}.jpg" for n in DISTINCT], room_model)) == []


def test_live_photos_that_look_alike_are_not_paired(livec_dir: Path, room_model: RoomModel) -> None:
    for pair in LIVE_LOOKALIKES:
        assert find_duplicates(candidates([livec_dir / "images" / n for n in pair], room_model)) == [], pair
    photos = candidates(sorted((livec_dir / "images").iterdir())[:40], room_model)
    assert find_duplicates(photos) == []


def test_live_retakes_of_the_same_scene_are_paired(livec_dir: Path, room_model: RoomModel) -> None:
    for pair in LIVE_RETAKES:
        (group,) = find_duplicates(candidates([livec_dir / "images" / n for n in pair], room_model))
        assert (group.keep, group.others) == (0, (1,))  # same size, unscored: the first given


def test_no_photos_and_repeated_indices() -> None:
    assert find_duplicates([]) == []
    one = DuplicateCandidate(0, "d", 0, np.ones(4, dtype=np.float32) / 2, 100)
    with pytest.raises(ValueError, match="distinct indices"):
        find_duplicates([one, one])
