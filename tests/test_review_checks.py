"""The listing review's per-photo checks, each both ways on real photos and variants made from them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps

from photoscore.images import load_photo, load_photo_bytes
from photoscore.review import checks
from photoscore.review.photo import PhotoView

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def view_of(source: str | Path | Image.Image, fmt: str = "JPEG") -> PhotoView:
    """A file, or an image saved as the review would receive it, as the checks see it."""
    if isinstance(source, Image.Image):
        buffer = io.BytesIO()
        source.save(buffer, fmt, quality=92)
        return PhotoView(load_photo_bytes(buffer.getvalue(), f"variant.{fmt.lower()}", (500, 500)))
    return PhotoView(load_photo(source, (500, 500)))


def example(name: str) -> Image.Image:
    return Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")


def live(livec_dir: Path, name: str) -> Path:
    return livec_dir / "images" / name


# Size, orientation, aspect: the original's size from the header.


def test_size_passes_large_enough_photos_held_either_way() -> None:
    landscape = example("rocket").resize((1100, 733))
    for image in (landscape, landscape.transpose(Image.Transpose.ROTATE_90)):
        result = checks.check_size(view_of(image), min_size=(1024, 683))
        assert result.verdict == "pass" and result.value in (1100, 733)


def test_size_fails_a_downscaled_photo_and_names_both_sizes() -> None:
    result = checks.check_size(view_of(example("rocket").resize((900, 600))), min_size=(1024, 683))
    assert result.verdict == "fail" and result.unit == "px"
    assert (result.value, result.threshold) in ((900, 1024), (600, 683))
    assert "900x600" in result.reason and "1024x683" in result.reason


def test_size_reads_the_original_not_the_reduced_decode() -> None:
    view = view_of(example("rocket").resize((3000, 2000)))
    assert max(view.photo.image.size) < 3000  # decoded at a reduced JPEG scale
    assert checks.check_size(view, min_size=None, min_long_edge=2880).verdict == "pass"
    small = checks.check_size(view_of(example("rocket").resize((1500, 1000))), min_long_edge=2880)
    assert small.verdict == "fail" and (small.value, small.threshold) == (1500, 2880)
    assert "2880 px long edge" in small.reason


def test_size_with_no_minimum_passes(livec_dir: Path) -> None:
    result = checks.check_size(view_of(live(livec_dir, "1001.jpg")), min_size=None, min_long_edge=None)
    assert result.verdict == "pass" and result.value == 500 and result.threshold is None


def test_orientation() -> None:
    landscape = view_of(EXAMPLES / "rocket.jpg")
    portrait = view_of(example("rocket").transpose(Image.Transpose.ROTATE_90))
    assert checks.check_orientation(landscape).verdict == "pass"
    failed = checks.check_orientation(portrait, orientation="landscape")
    assert failed.verdict == "fail" and failed.value == pytest.approx(427 / 640, abs=1e-3)
    assert "portrait" in failed.reason
    assert checks.check_orientation(portrait, orientation="any").verdict == "pass"


def test_aspect_passes_ordinary_photos_and_squares_by_default() -> None:
    assert checks.check_aspect(view_of(EXAMPLES / "rocket.jpg")).verdict == "pass"
    square = view_of(EXAMPLES / "astronaut.jpg")
    assert checks.check_aspect(square).verdict == "pass"
    refused = checks.check_aspect(square, allow_square=False)
    assert refused.verdict == "fail" and refused.value == 1.0


def test_aspect_fails_a_panorama_and_a_strip() -> None:
    rocket = example("rocket")
    panorama = checks.check_aspect(view_of(rocket.crop((0, 113, 640, 313))))  # 640x200: 3.2:1
    assert (
        panorama.verdict == "fail" and panorama.value == pytest.approx(3.2) and "panorama" in panorama.reason
    )
    strip = checks.check_aspect(view_of(rocket.crop((200, 0, 400, 427))))  # 200x427
    assert strip.verdict == "fail" and strip.value == pytest.approx(200 / 427, abs=1e-3)


# Exposure, from the luminance histogram.


def test_dark(livec_dir: Path) -> None:
    lit = checks.check_dark(view_of(EXAMPLES / "coffee.jpg"))
    assert lit.verdict == "pass" and lit.value > 0.9
    for dark in (view_of(EXAMPLES / "coffee-dark.jpg"), view_of(live(livec_dir, "213.webp"))):
        result = checks.check_dark(dark)
        assert result.verdict == "fail" and 0.05 < result.value < checks.MIN_BRIGHTEST
        assert f"{result.value:.0%} brightness" in result.reason
    darkened = ImageEnhance.Brightness(Image.open(live(livec_dir, "306.webp"))).enhance(0.3)
    assert checks.check_dark(view_of(live(livec_dir, "306.webp"))).verdict == "pass"
    assert checks.check_dark(view_of(darkened)).verdict == "fail"


def test_overexposed(livec_dir: Path) -> None:
    assert checks.check_overexposed(view_of(EXAMPLES / "coffee.jpg")).verdict == "pass"
    washed_out = checks.check_overexposed(view_of(live(livec_dir, "7.webp")))
    assert washed_out.verdict == "fail" and 0.3 < washed_out.value < 0.6
    blown = checks.check_overexposed(view_of(ImageEnhance.Brightness(example("chelsea")).enhance(2.5)))
    assert blown.verdict == "fail" and "burnt out" in blown.reason


def test_contrast(livec_dir: Path) -> None:
    normal = checks.check_contrast(view_of(EXAMPLES / "coffee.jpg"))
    assert normal.verdict == "pass" and 0.5 < normal.value <= 1
    flat = checks.check_contrast(view_of(ImageEnhance.Contrast(example("coffee")).enhance(0.15)))
    assert flat.verdict == "fail" and 0.05 < flat.value < checks.MIN_CONTRAST
    assert (
        checks.check_contrast(view_of(live(livec_dir, "701.jpg"))).verdict == "fail"
    )  # grey coins, dim light


def test_low_information(livec_dir: Path) -> None:
    rich = checks.check_low_information(view_of(EXAMPLES / "chelsea.jpg"))
    assert rich.verdict == "pass" and rich.value > 6
    tunnel = checks.check_low_information(view_of(live(livec_dir, "540.jpg")))  # black but a small arch
    assert tunnel.verdict == "fail" and tunnel.value < checks.MIN_ENTROPY and tunnel.unit == "bits"
    blank = ImageEnhance.Contrast(example("coffee")).enhance(0.01)  # a near-uniform grey
    assert checks.check_low_information(view_of(blank)).verdict == "fail"


# Sharpness: the technical score judges; the focus measure explains.


def test_focus_measure_tells_sharp_from_blurred() -> None:
    sharp, blurred = (
        checks.focus_measure(view_of(EXAMPLES / f"{n}.jpg")) for n in ("coffee", "coffee-blurred")
    )
    assert sharp > checks.MIN_FOCUS > blurred > 0


def test_the_focus_check_fails_a_blurred_photo_with_its_measure() -> None:
    assert checks.check_focus(checks.focus_measure(view_of(EXAMPLES / "coffee.jpg"))).verdict == "pass"
    blurry = checks.check_focus(checks.focus_measure(view_of(EXAMPLES / "coffee-blurred.jpg")))
    assert blurry.verdict == "fail" and blurry.threshold == checks.MIN_FOCUS
    assert blurry.reason.startswith(f"blurry: focus measure {blurry.value:.0f} where")


def test_sharpness_lets_the_technical_score_judge_and_the_focus_measure_explain() -> None:
    sharp, blurred = (
        checks.focus_measure(view_of(EXAMPLES / f"{n}.jpg")) for n in ("coffee", "coffee-blurred")
    )
    low = checks.check_sharpness(blurred, technical_score=3.2)
    assert low.verdict == "fail" and (low.value, low.threshold, low.unit) == (
        3.2,
        checks.MIN_TECHNICAL_SCORE,
        "score",
    )
    assert "out of focus" in low.reason
    assert checks.check_sharpness(sharp, technical_score=7.5).verdict == "pass"
    assert checks.check_sharpness(blurred, technical_score=7.5).verdict == "pass"
    noisy = checks.check_sharpness(sharp, technical_score=2.0)
    assert noisy.verdict == "fail" and "though in focus" in noisy.reason
    assert checks.check_sharpness(sharp, None).verdict == "unknown"


# Black and white, whatever the file's mode.


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_black_and_white_caught_whatever_the_mode(mode: str) -> None:
    grey = ImageOps.grayscale(example("chelsea")).convert(mode)
    result = checks.check_black_and_white(view_of(grey))
    assert result.verdict == "fail" and result.value <= 0.01
    assert "colour original" in result.reason


def test_colour_photos_are_not_black_and_white(livec_dir: Path) -> None:
    assert checks.check_black_and_white(view_of(EXAMPLES / "coffee.jpg")).verdict == "pass"
    warm = ImageEnhance.Color(example("chelsea")).enhance(0.3)  # a warm, washed-out colour photo
    assert checks.check_black_and_white(view_of(warm)).verdict == "pass"
    nearly_grey = checks.check_black_and_white(view_of(live(livec_dir, "976.jpg")))  # a white sculpture
    assert nearly_grey.verdict == "pass" and nearly_grey.value < 0.05


# Borders and letterbox bands.


def with_bands(
    image: Image.Image, top: int, bottom: int, left: int, colour: tuple[int, int, int]
) -> Image.Image:
    out = Image.new("RGB", (image.width + left, image.height + top + bottom), colour)
    out.paste(image, (left, top))
    return out


def test_borders(livec_dir: Path) -> None:
    for path in (EXAMPLES / "coffee.jpg", live(livec_dir, "210.webp")):
        result = checks.check_borders(view_of(path))
        assert result.verdict == "pass" and result.value <= checks.MAX_BORDER
    letterbox = with_bands(example("coffee"), 40, 40, 0, (0, 0, 0))  # 40 of 480 rows each side
    result = checks.check_borders(view_of(letterbox))
    assert result.verdict == "fail" and result.value == pytest.approx(40 / 480, abs=0.01)
    assert "crop it off" in result.reason
    framed = with_bands(Image.open(live(livec_dir, "306.webp")).convert("RGB"), 0, 0, 60, (255, 255, 255))
    assert checks.check_borders(view_of(framed)).value == pytest.approx(60 / 560, abs=0.01)
