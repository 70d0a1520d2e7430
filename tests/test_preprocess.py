"""Preprocessing policies: squash, and the centre crop at a reference resolution."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from photoscore.preprocess import Preprocessing
from photoscore.scoring.engine import Scorer

from conftest import write_colour_model

UNIT = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def crop_prep() -> Preprocessing:
    """224 px centre crops of photos squashed to 500x500, pixels unnormalised."""
    return Preprocessing(input_size=(224, 224), resize="center_crop", crop_from=(500, 500), **UNIT)


def coordinate_photo(side: int = 500) -> Image.Image:
    """Each pixel encodes its own position: R = x // 2, G = y // 2, B = 100 * (x % 2) + 50 * (y % 2)."""
    y, x = np.mgrid[0:side, 0:side]
    pixels = np.stack([x // 2, y // 2, 100 * (x % 2) + 50 * (y % 2)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


def position(pixel: np.ndarray) -> tuple[int, int]:
    """(x, y) of a coordinate_photo pixel given as its three channel values."""
    red, green, blue = (round(float(v)) for v in pixel)
    return 2 * red + blue // 100, 2 * green + (blue % 100) // 50


def test_center_crop_keeps_the_middle_pixels_untouched():
    photo = coordinate_photo(500)
    array = crop_prep().to_array(photo)
    assert array.shape == (3, 224, 224)
    expected = np.asarray(photo, dtype=np.float32)[138:362, 138:362].transpose(2, 0, 1)
    np.testing.assert_array_equal(array, expected)


def test_center_crop_squashes_other_sizes_to_the_reference_first():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (750, 1000, 3), dtype=np.uint8))
    prep = crop_prep()
    squashed = photo.resize((500, 500), Image.Resampling.BICUBIC)
    expected = np.asarray(squashed, dtype=np.float32)[138:362, 138:362].transpose(2, 0, 1)
    np.testing.assert_array_equal(prep.to_array(photo), expected)


def test_decode_size_is_the_reference_for_crops_and_the_input_for_squash():
    assert crop_prep().decode_size == (500, 500)
    assert Preprocessing(input_size=(224, 224), **UNIT).decode_size == (224, 224)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resize": "center_crop"}, "crop_from is required"),
        ({"crop_from": (500, 500)}, "only allowed with it"),
        ({"resize": "center_crop", "crop_from": (200, 500)}, "smaller than input_size"),
    ],
)
def test_inconsistent_crop_settings_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        Preprocessing(input_size=(224, 224), **UNIT, **fields)


def test_training_crops_are_native_windows_anywhere_and_sometimes_mirrored():
    pytest.importorskip("torch")
    from photoscore.training.data import train_transform

    photo = coordinate_photo(500)
    transform = train_transform(crop_prep(), augmentation="crop_flip", resize_ratio=256 / 224)
    corners, mirrored = set(), 0
    for _ in range(40):
        window = transform(photo).numpy().transpose(1, 2, 0)
        (x0, y0), (x1, _) = position(window[0, 0]), position(window[0, -1])
        flipped = x1 < x0
        mirrored += flipped
        left = x1 if flipped else x0
        assert 0 <= left <= 276 and 0 <= y0 <= 276
        expected = np.asarray(photo, dtype=np.float32)[y0 : y0 + 224, left : left + 224]
        np.testing.assert_array_equal(window, expected[:, ::-1] if flipped else expected)
        corners.add((left, y0))
    assert len(corners) > 30
    assert 5 < mirrored < 35


def test_the_engine_scores_the_centre_crop_a_card_asks_for(tmp_path):
    """A white centre on a black frame: the crop model sees only white, a squash model sees the mix."""
    pixels = np.zeros((1000, 1000, 3), dtype=np.uint8)
    pixels[300:700, 300:700] = 255
    photo = tmp_path / "framed.jpg"
    Image.fromarray(pixels).save(photo, quality=95)
    white = tmp_path / "white.png"
    Image.new("RGB", (64, 64), "white").save(white)
    mid = dict(mean=(127.5,) * 3, std=(127.5,) * 3)
    crop = Preprocessing(input_size=(64, 64), resize="center_crop", crop_from=(200, 200), **mid)
    squash = Preprocessing(input_size=(64, 64), **mid)
    crop_model = write_colour_model(tmp_path / "crop.onnx", "crop", preprocessing=crop)
    squash_model = write_colour_model(tmp_path / "squash.onnx", "squash", preprocessing=squash)

    framed_crop, white_crop = Scorer([crop_model]).score([photo, white])
    framed_squash, white_squash = Scorer([squash_model]).score([photo, white])
    np.testing.assert_allclose(framed_crop.distribution, white_crop.distribution, atol=2e-3)
    assert abs(framed_squash.mean_score_prediction - white_squash.mean_score_prediction) > 0.05
