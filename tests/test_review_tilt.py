"""Tilt from vertical lines: real photos level, turned by known angles, and with no lines to read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from photoscore.images import load_photo, load_photo_bytes
from photoscore.review import tilt
from photoscore.review.photo import PhotoView

from conftest import load_script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# LIVE photos of buildings, a window, a wardrobe and a corridor, level as taken.
LEVEL = ("210.webp", "298.webp", "306.webp", "337.webp")


def view_of(image: Image.Image) -> PhotoView:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return PhotoView(load_photo_bytes(buffer.getvalue(), "variant.jpg", (500, 500)))


turned = load_script("measure_review_checks").rotate_and_crop


@pytest.fixture
def level(livec_dir: Path) -> list[Image.Image]:
    return [Image.open(livec_dir / "images" / name).convert("RGB") for name in LEVEL]


def test_level_photos_pass(level: list[Image.Image]) -> None:
    for image in level:
        result = tilt.check_tilt(view_of(image))
        assert result.verdict == "pass" and abs(result.value) < 1.0 and result.unit == "°"
        assert result.reason is None


@pytest.mark.parametrize("angle", [5.0, -4.0, 8.0])
def test_turned_photos_read_their_angle_and_fail(level: list[Image.Image], angle: float) -> None:
    for image in level:
        result = tilt.check_tilt(view_of(turned(image, angle)))
        assert result.verdict == "fail" and result.value == pytest.approx(angle, abs=1.0)
        assert result.reason.startswith(f"tilted {abs(result.value):.1f}°: straighten it")
        assert ("turn it" in result.reason) and ("counter-clockwise" in result.reason) == (angle < 0)


def test_a_small_tilt_passes_under_the_threshold(level: list[Image.Image]) -> None:
    result = tilt.check_tilt(view_of(turned(level[0], 1.5)))
    assert result.verdict == "pass" and result.value == pytest.approx(1.5, abs=0.7)
    assert tilt.check_tilt(view_of(turned(level[0], 1.5)), max_tilt=1.0).verdict == "fail"


@pytest.mark.parametrize("name", ["coffee.jpg", "chelsea.jpg"])
def test_no_verdict_without_vertical_lines(name: str) -> None:
    result = tilt.check_tilt(PhotoView(load_photo(EXAMPLES / name, (500, 500))))
    assert (result.verdict, result.value, result.reason) == ("unknown", None, None)
    assert result.threshold == tilt.MAX_TILT


def test_sky_has_no_verdict(livec_dir: Path) -> None:
    kite = PhotoView(load_photo(livec_dir / "images" / "314.webp", (500, 500)))  # a kite in a clear sky
    assert tilt.estimate_tilt(kite) is None
