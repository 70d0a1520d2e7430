"""Tests for photoscore.images: finding files and decoding real photos and bad files safely."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hostile_images import deep_grey_png, noise_png, scan_bomb_jpeg
from PIL import Image
from skimage import data

from photoscore import images
from photoscore.images import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    ImageError,
    find_images,
    image_id_for,
    is_supported,
    load_image,
    load_image_bytes,
    plan_decode_bytes,
)

CHELSEA = data.chelsea()  # 300 x 451 RGB photo of a cat
WHITE = (255, 255, 255)


def _save(img: Image.Image, path: Path, **params: object) -> Path:
    img.save(path, **params)
    return path


def _pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(np.int16)


def _mean_diff(img: Image.Image, reference: np.ndarray) -> float:
    return float(np.abs(_pixels(img) - reference).mean())


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG file written by hand, for what Pillow cannot write (16-bit RGB, a lying header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF0) claiming another size."""
    pos = 2
    while jpeg[pos + 1] != 0xC0:
        pos += 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
    return jpeg[: pos + 5] + struct.pack(">HH", height, width) + jpeg[pos + 9 :]


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(CHELSEA).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_2mp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1800x1200 (2.2 MP) JPEG of the astronaut photo."""
    path = tmp_path_factory.mktemp("big") / "astronaut.jpg"
    return _save(Image.fromarray(data.astronaut()).resize((1800, 1200), Image.BICUBIC), path, quality=90)


# --- names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.b.c.jpg", "a.b.c"),
        ("Ünïcode photo.JPG", "Ünïcode photo"),
        ("/photos/2024/IMG_0001.heic", "IMG_0001"),
        ("42039.jpg", "42039"),
        ("no_extension", "no_extension"),
    ],
)
def test_image_id_for_drops_only_the_last_extension(name: str, expected: str) -> None:
    assert image_id_for(name) == expected
    assert image_id_for(Path(name)) == expected


def test_is_supported_ignores_letter_case() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif"} == set(
        SUPPORTED_EXTENSIONS
    )
    for name in ["a.JPG", "a.PnG", "a.b.Jpeg", "x.HEIC", "x.tiff"]:
        assert is_supported(Path(name)), name
    for name in ["a.txt", "a.jpg.txt", "jpg", "a.json", "a"]:
        assert not is_supported(Path(name)), name


# --- finding files -----------------------------------------------------------------------------------


@pytest.fixture
def photo_tree(tmp_path: Path) -> Path:
    for name in [
        "b.jpg",
        "A.PnG",
        "c.webp",
        "notes.txt",
        "labels.json",
        ".hidden.jpg",
        "._b.jpg",
        "sub/d.JPEG",
        "sub/deeper/e.tif",
        "sub/.cache/f.jpg",
        ".thumbnails/g.jpg",
        "z.heic",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.jpg").mkdir()  # a folder with an image-like name is not a file
    return tmp_path


def test_find_images_in_a_folder_sorted_and_not_recursive(photo_tree: Path) -> None:
    found = list(find_images([photo_tree]))
    assert [p.relative_to(photo_tree).as_posix() for p in found] == ["A.PnG", "b.jpg", "c.webp", "z.heic"]


def test_find_images_recursive_enters_sub_folders_in_order(photo_tree: Path) -> None:
    found = list(find_images([str(photo_tree)], recursive=True))
    assert [p.relative_to(photo_tree).as_posix() for p in found] == [
        "A.PnG",
        "b.jpg",
        "c.webp",
        "sub/d.JPEG",
        "sub/deeper/e.tif",
        "z.heic",
    ]


def test_find_images_yields_named_files_as_given(photo_tree: Path) -> None:
    named = [photo_tree / "notes.txt", photo_tree / ".hidden.jpg", photo_tree / "sub"]
    assert list(find_images(named)) == [
        photo_tree / "notes.txt",
        photo_tree / ".hidden.jpg",
        photo_tree / "sub/d.JPEG",
    ]


def test_find_images_survives_a_folder_link_loop(photo_tree: Path) -> None:
    (photo_tree / "sub" / "loop").symlink_to(photo_tree, target_is_directory=True)
    assert list(find_images([photo_tree], recursive=True)) == list(find_images([photo_tree], recursive=True))
    found = [p.relative_to(photo_tree).as_posix() for p in find_images([photo_tree], recursive=True)]
    assert found == ["A.PnG", "b.jpg", "c.webp", "sub/d.JPEG", "sub/deeper/e.tif", "z.heic"]


def test_find_images_missing_path_names_it(photo_tree: Path) -> None:
    missing = photo_tree / "no such folder"
    with pytest.raises(FileNotFoundError, match="no such folder") as info:
        list(find_images([photo_tree / "b.jpg", missing]))
    assert info.value.filename == str(missing)


def test_find_images_keeps_names_that_cannot_be_followed(photo_tree: Path) -> None:
    loop_a, loop_b, dangling = photo_tree / "loop-a.jpg", photo_tree / "loop-b.jpg", photo_tree / "gone.jpg"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    dangling.symlink_to(photo_tree / "never-there.jpg")
    named = [loop_a, photo_tree / "b.jpg", dangling]
    assert list(find_images(named)) == named
    with pytest.raises(ImageError, match=r"loop-a\.jpg: cannot read: Too many levels of symbolic links"):
        load_image(loop_a)
    with pytest.raises(ImageError, match=r"gone\.jpg: file not found"):
        load_image(dangling)
    with pytest.raises(FileNotFoundError, match=r"b\.jpg/x\.jpg"):
        list(find_images([photo_tree / "b.jpg" / "x.jpg"]))


# --- decoding real photos in every format ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "tolerance"),
    [
        ("photo.jpg", {"quality": 95}, 2.0),
        ("photo.JPG", {"quality": 95}, 2.0),
        ("photo.jpeg", {"quality": 95}, 2.0),
        ("photo.png", {}, 0.0),
        ("photo.PnG", {}, 0.0),
        ("photo.webp", {"lossless": True}, 0.0),
        ("photo.WEBP", {"quality": 90}, 4.0),
        ("photo.bmp", {}, 0.0),
        ("photo.tif", {}, 0.0),
        ("photo.TIFF", {"compression": "tiff_lzw"}, 0.0),
        ("photo.heic", {"quality": 90}, 2.0),
        ("Ünïcode photo.v2.final.HEIF", {"quality": 90}, 2.0),
    ],
)
def test_load_image_formats(tmp_path: Path, name: str, params: dict[str, object], tolerance: float) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / name, **params)
    img = load_image(path)
    assert img.mode == "RGB"
    assert img.size == (451, 300)
    assert _mean_diff(img, CHELSEA) <= tolerance


def test_grayscale_jpeg_becomes_gray_rgb(tmp_path: Path) -> None:
    gray = Image.fromarray(CHELSEA).convert("L")
    img = load_image(_save(gray, tmp_path / "gray.jpg", quality=95))
    pixels = _pixels(img)
    assert (pixels[..., 0] == pixels[..., 1]).all()
    assert (pixels[..., 1] == pixels[..., 2]).all()
    assert np.abs(pixels[..., 0] - np.asarray(gray, dtype=np.int16)).mean() < 2


def test_one_bit_png_is_black_and_white(tmp_path: Path) -> None:
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(bool)
    img = load_image(_save(Image.fromarray(checker), tmp_path / "bits.png"))
    assert img.getpixel((0, 0)) == (0, 0, 0)
    assert img.getpixel((1, 0)) == WHITE


def test_cmyk_jpeg_colours_are_right(tmp_path: Path) -> None:
    """Pillow writes Adobe (inverted) CMYK JPEGs as Photoshop does; a missed inversion gives a negative."""
    path = _save(Image.fromarray(CHELSEA).convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    assert _mean_diff(load_image(path), CHELSEA) < 4


@pytest.mark.parametrize("mode", ["CMYK", "YCbCr", "LAB"])
def test_other_colour_spaces_in_tiff(mode: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(CHELSEA).convert(mode).save(buffer, "TIFF")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == mode
    assert _mean_diff(load_image_bytes(buffer.getvalue(), f"{mode}.tif"), CHELSEA) < 2


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535, 1000]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    img = load_image(path)
    assert _pixels(img)[0, :, 0].tolist() == [0, 1, 128, 255, 4]
    assert img.getpixel((3, 0)) == WHITE


def test_16_bit_rgb_png_is_scaled(tmp_path: Path) -> None:
    samples = np.array([[[65535, 32768, 0], [0, 65535, 257]]], dtype=">u2")
    rows = b"\x00" + samples.tobytes()
    path = tmp_path / "deep_rgb.png"
    path.write_bytes(_png(2, 1, 16, 2, rows))
    img = load_image(path)
    assert img.getpixel((0, 0)) == (255, 128, 0)
    assert img.getpixel((1, 0)) == (0, 255, 1)


def test_32_bit_integer_and_float_tiff() -> None:
    ints = np.array([[0, 257, 32768, 65535, 70000, -5]], dtype=np.int32)
    buffer = io.BytesIO()
    Image.fromarray(ints, "I").save(buffer, "TIFF")
    assert _pixels(load_image_bytes(buffer.getvalue(), "int.tif"))[0, :, 0].tolist() == [
        0,
        1,
        128,
        255,
        255,
        0,
    ]

    floats = np.array([[0.0, 0.5, 1.0, 1.5, -0.2]], dtype=np.float32)
    buffer = io.BytesIO()
    Image.fromarray(floats, "F").save(buffer, "TIFF")
    assert _pixels(load_image_bytes(buffer.getvalue(), "float.tif"))[0, :, 0].tolist() == [
        0,
        128,
        255,
        255,
        0,
    ]


def test_png_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 30, 10)
    rgba[:, :2, 3] = 0  # transparent
    rgba[:, 2:4, 3] = 128  # half
    rgba[:, 4:, 3] = 255  # opaque
    img = load_image(_save(Image.fromarray(rgba), tmp_path / "alpha.png"))
    assert img.getpixel((0, 0)) == WHITE
    half = img.getpixel((2, 0))
    assert all(abs(got - want) <= 1 for got, want in zip(half, (228, 142, 132), strict=True))
    assert img.getpixel((5, 3)) == (200, 30, 10)


@pytest.mark.parametrize("mode", ["LA", "PA", "P"])
def test_other_transparent_modes_on_white(tmp_path: Path, mode: str) -> None:
    if mode == "LA":
        source = Image.fromarray(
            np.dstack([np.full((2, 2), 50, np.uint8), np.array([[0, 255], [255, 255]], np.uint8)])
        )
        path = _save(source, tmp_path / "la.png")
        expected = (50, 50, 50)
    else:
        source = Image.new("P", (2, 2), 1)
        source.putpalette([0, 0, 0, 20, 120, 40] + [0] * 762)
        source.putpixel((0, 0), 0)
        if mode == "PA":
            source = source.convert("PA")
            source.putpixel((0, 0), (0, 0))
            path = _save(source, tmp_path / "pa.tif")
        else:
            path = _save(source, tmp_path / "p.gif", transparency=0)
        expected = (20, 120, 40)
    with Image.open(path) as raw:
        assert raw.mode == mode
    img = load_image(path)
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((1, 1)) == expected


def test_tiff_with_premultiplied_alpha() -> None:
    gray_alpha = np.array([[[0, 0], [40, 255]], [[40, 128], [40, 255]]], dtype=np.uint8)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, gray_alpha, photometric="minisblack", extrasamples=["assocalpha"])
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "La"
    img = load_image_bytes(buffer.getvalue(), "premultiplied.tif")
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((1, 0)) == (40, 40, 40)
    assert all(abs(value - 167) <= 1 for value in img.getpixel((0, 1)))  # 40 + 255 * (1 - 128/255)


def test_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    first = Image.fromarray(CHELSEA).quantize(256)
    second = Image.fromarray(CHELSEA[::-1]).quantize(256)
    path = _save(first, tmp_path / "anim.GIF", save_all=True, append_images=[second], duration=100, loop=0)
    with Image.open(path) as raw:
        assert raw.n_frames == 2
    img = load_image(path)
    assert _mean_diff(img, CHELSEA) < 8
    assert _mean_diff(img, CHELSEA[::-1]) > 20


# --- EXIF orientation and fast JPEG decoding ---------------------------------------------------------


@pytest.mark.parametrize(("orientation", "quarter_turns"), [(6, -1), (8, 1), (3, 2)])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, quarter_turns: int) -> None:
    """Same JPEG data with and without the tag: the tagged one must be the untagged one turned."""
    photo = Image.fromarray(CHELSEA)
    exif = Image.Exif()
    exif[0x0112] = orientation
    plain = _pixels(load_image(_save(photo, tmp_path / "plain.jpg", quality=95)))
    turned = load_image(_save(photo, tmp_path / "turned.jpg", quality=95, exif=exif))
    assert turned.size == ((300, 451) if quarter_turns in (1, -1) else (451, 300))
    np.testing.assert_array_equal(_pixels(turned), np.rot90(plain, quarter_turns))  # k=-1: clockwise


def test_corrupt_exif_keeps_the_pixels_as_stored(tmp_path: Path) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / "odd_exif.png", exif=b"not a TIFF structure")
    assert _mean_diff(load_image(path), CHELSEA) == 0


def test_draft_decodes_a_large_jpeg_smaller_but_close(photo_2mp: Path) -> None:
    full = load_image(photo_2mp)
    assert full.size == (1800, 1200)
    fast = load_image(photo_2mp, min_size=(224, 224))
    assert fast.mode == "RGB"
    assert fast.size == (450, 300)  # 1/4 scale: the smallest DCT scale keeping both sides >= 224
    reference = np.asarray(full.resize(fast.size, Image.BOX), dtype=np.int16)
    assert _mean_diff(fast, reference) < 3


@pytest.mark.parametrize(
    "min_size", [(224, 224), (299, 299), (300, 200), (800, 100), (100, 800), (2000, 2000)]
)
def test_draft_result_covers_min_size_after_rotation(
    tmp_path: Path, photo_2mp: Path, min_size: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(photo_2mp) as photo:
        path = _save(photo, tmp_path / "portrait.jpg", quality=90, exif=exif)
    width, height = load_image(path, min_size=min_size).size
    assert width < height  # turned upright
    assert width >= min(min_size[0], 1200)
    assert height >= min(min_size[1], 1800)


def test_draft_is_ignored_for_other_formats(tmp_path: Path) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / "photo.png")
    assert load_image(path, min_size=(50, 50)).size == (451, 300)


# --- bad files ---------------------------------------------------------------------------------------


def _error(path: Path | str, **kwargs: object) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)
    assert info.value.path == Path(path)
    message = str(info.value)
    assert message == f"{path}: {info.value.reason}"
    return info.value.reason


def test_truncated_jpeg_is_an_error(tmp_path: Path) -> None:
    whole = _save(Image.fromarray(CHELSEA), tmp_path / "whole.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 2])
    assert "truncated" in _error(path)
    assert "truncated" in _error(path, min_size=(100, 100))


def test_truncated_png_is_an_error(tmp_path: Path) -> None:
    whole = _save(Image.fromarray(CHELSEA), tmp_path / "whole.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(whole[: len(whole) // 2])
    assert "truncated or corrupt" in _error(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert _error(path) == "empty file (0 bytes)"


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo\n")
    assert _error(path).startswith("not an image")


def test_image_in_a_format_not_offered(tmp_path: Path) -> None:
    """Pillow reads PPM, but only photo formats' decoders see user files."""
    path = _save(Image.fromarray(CHELSEA), tmp_path / "photo.ppm")
    assert _error(path).startswith("not an image")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert _error(tmp_path / "gone.jpg") == "file not found"
    assert "folder" in _error(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / "locked.jpg")
    path.chmod(0)
    assert _error(path) == "permission denied"


def test_permission_error_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user without read access sees (simulated, since tests may run as root)."""

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open_regular_file", denied)
    assert _error(tmp_path / "locked.jpg") == "permission denied"


def test_header_claiming_30000x30000_png_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(30000, 30000, 8, 2, b"\x00" * 100))
    assert path.stat().st_size < 200
    start = time.perf_counter()
    reason = _error(path)
    assert time.perf_counter() - start < 1
    assert reason == (
        f"too many pixels: 30000x30000 = 900,000,000, more than photoscore's limit of {DEFAULT_MAX_PIXELS:,}"
    )


def test_header_claiming_30000x30000_jpeg_fails_fast(tmp_path: Path) -> None:
    small = _save(Image.fromarray(CHELSEA), tmp_path / "small.jpg").read_bytes()
    path = tmp_path / "bomb.jpg"
    path.write_bytes(_jpeg_with_size(small, 30000, 30000))
    start = time.perf_counter()
    reason = _error(path, min_size=(224, 224))
    assert time.perf_counter() - start < 1
    assert reason.startswith("too many pixels")


def test_over_the_limit_names_photoscores_limit_and_pillow_stays_quiet(tmp_path: Path) -> None:
    """Between Pillow's warning (89 MP) and error (179 MP) thresholds, and above both: only photoscore's
    limit is named, and Pillow's DecompressionBombWarning is not printed."""
    for side in (10000, 12000, 20000):
        path = tmp_path / f"big{side}.png"
        path.write_bytes(_png(side, side, 8, 2, b"\x00" * 100))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reason = _error(path)
        assert reason == (
            f"too many pixels: {side}x{side} = {side * side:,}, more than photoscore's limit of "
            f"{DEFAULT_MAX_PIXELS:,}"
        )


def test_max_pixels_limit_names_size_and_limit(tmp_path: Path) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / "photo.jpg")
    assert _error(path, max_pixels=100_000) == (
        "too many pixels: 451x300 = 135,300, more than photoscore's limit of 100,000"
    )
    assert load_image(path, max_pixels=451 * 300).size == (451, 300)


_DECODE_PEAK = """
import json, resource, sys
from photoscore.images import ImageError, load_image, plan_decode_bytes
deep, good = sys.argv[1:3]
rows = {"good": load_image(good, min_size=(224, 224)).size}
try:
    load_image(deep)
except ImageError as exc:
    rows["refused"] = exc.reason
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = load_image(deep, max_pixels=100_000_000)
rows["peak_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
rows["plan_mb"] = plan_decode_bytes(open(deep, "rb").read(), "deep.png").memory / 2**20
rows["size"], rows["row"] = image.size, [image.getpixel((x, 7))[0] for x in (0, 1, 255, 256, 9999)]
print(json.dumps(rows))
"""


def test_16_bit_greyscale_100_mp_png_decodes_in_bounded_memory(tmp_path: Path, photo_dir: Path) -> None:
    """A 200 KB 16-bit greyscale PNG of 10000x9999: over the default limit it is refused unread, naming
    photoscore's limit without Pillow's warning; let through, it decodes (right pixels) with about 5 bytes
    a pixel at the peak, where 12 (1.15 GB) were needed before."""
    deep = tmp_path / "deep.png"
    deep.write_bytes(deep_grey_png())
    assert deep.stat().st_size < 300_000
    good = photo_dir / "chelsea.jpg"
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_PEAK, str(deep), str(good)], capture_output=True, text=True, check=True
    )
    assert done.stderr == ""  # no DecompressionBombWarning
    rows = json.loads(done.stdout)
    assert rows["good"] == list(Image.open(good).size)
    assert rows["refused"] == (
        f"too many pixels: 10000x9999 = 99,990,000, more than photoscore's limit of {DEFAULT_MAX_PIXELS:,}"
    )
    assert rows["size"] == [10000, 9999]
    assert rows["row"] == [1, 2, 0, 1, 16]  # the ramp, scaled from 16 to 8 bits
    assert rows["peak_mb"] < 600, rows  # 1,146 MB before
    assert rows["peak_mb"] < 1.2 * rows["plan_mb"], rows  # the estimate the server budgets with holds


def test_decode_plan_reads_the_header_and_the_reduced_jpeg_size(photo_2mp: Path, tmp_path: Path) -> None:
    jpeg = plan_decode_bytes(photo_2mp.read_bytes(), "a.jpg", min_size=(224, 224))
    assert (jpeg.format, jpeg.mode, jpeg.size, jpeg.pixels) == ("JPEG", "RGB", (1800, 1200), 2_160_000)
    assert jpeg.decoded_size == load_image(photo_2mp, min_size=(224, 224)).size == (450, 300)
    assert jpeg.memory == 450 * 300 * 7  # decoded to RGB (3 bytes a pixel), then copied into Pillow (4)
    png = plan_decode_bytes(deep_grey_png(2000, 1000), "deep.png", min_size=(224, 224))
    assert (png.mode, png.size, png.decoded_size, png.memory) == ("I;16", (2000, 1000), (2000, 1000), 10**7)
    for payload, reason in ((b"", "empty file"), (b"<html>", "not an image")):
        with pytest.raises(ImageError, match=f"^x.jpg: {reason}"):
            plan_decode_bytes(payload, "x.jpg")


def test_min_size_must_be_positive(tmp_path: Path) -> None:
    path = _save(Image.fromarray(CHELSEA), tmp_path / "photo.jpg")
    with pytest.raises(ValueError, match="min_size"):
        load_image(path, min_size=(0, 0))


# --- in-memory uploads and the error type ------------------------------------------------------------


def test_load_image_bytes_matches_load_image(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    path = _save(Image.fromarray(CHELSEA), tmp_path / "upload.jpg", exif=exif)
    from_bytes = load_image_bytes(path.read_bytes(), "upload.jpg", min_size=(100, 100))
    np.testing.assert_array_equal(_pixels(from_bytes), _pixels(load_image(path, min_size=(100, 100))))
    assert from_bytes.size == (150, 226)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty file"),
        (_jpeg_bytes()[:3000], "truncated"),
        (b"GIF89a", "not an image"),
        (b"<html>", "not an image"),
    ],
)
def test_load_image_bytes_errors_name_the_upload(payload: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=f"^my photo.jpg: {reason}") as info:
        load_image_bytes(payload, "my photo.jpg")
    assert info.value.path == Path("my photo.jpg")


def test_image_error_survives_pickling() -> None:
    """Errors cross process boundaries when decoding runs in worker processes."""
    error = pickle.loads(pickle.dumps(ImageError(Path("a/b.jpg"), "empty file (0 bytes)")))
    assert isinstance(error, ImageError)
    assert (error.path, error.reason, str(error)) == (
        Path("a/b.jpg"),
        "empty file (0 bytes)",
        "a/b.jpg: empty file (0 bytes)",
    )


# --- inputs that would take minutes or hang ----------------------------------------------------------


def test_a_progressive_jpeg_scan_bomb_is_refused_from_its_markers(tmp_path: Path) -> None:
    """A 2000x2000 JPEG repeating one AC scan 3,000 times (90 KB) takes seconds to decode (minutes at
    8000x8000 with 10,000 copies); it is refused from the marker count, without decoding."""
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(scan_bomb_jpeg(2000, 2000, 3000))
    start = time.monotonic()
    with pytest.raises(ImageError) as caught:
        load_image(bomb, min_size=(224, 224))
    assert time.monotonic() - start < 0.5
    assert caught.value.reason == (
        f"a JPEG of 3,010 scans, more than photoscore's limit of {images.MAX_JPEG_SCANS} (photos have "
        "about 10; so many make decoding take minutes)"
    )
    with pytest.raises(ImageError, match="3,010 scans"):
        load_image_bytes(bomb.read_bytes(), "bomb.jpg", (224, 224))


def test_scans_are_counted_from_the_markers_not_from_a_thumbnail(tmp_path: Path) -> None:
    """A progressive photo has its 10 scans; an EXIF thumbnail's scan markers, inside a header segment,
    are skipped; a baseline JPEG has one."""
    thumb = io.BytesIO()
    Image.fromarray(CHELSEA[:64, :64]).save(thumb, "JPEG", progressive=True)
    exif = Image.Exif()
    exif[0x010F] = "camera"
    photo = io.BytesIO()
    Image.fromarray(CHELSEA).save(photo, "JPEG", progressive=True, exif=exif.tobytes() + thumb.getvalue())
    assert images.count_jpeg_scans(io.BytesIO(photo.getvalue())) == 10
    baseline = io.BytesIO()
    Image.fromarray(CHELSEA).save(baseline, "JPEG")
    assert images.count_jpeg_scans(io.BytesIO(baseline.getvalue())) == 1
    assert images.count_jpeg_scans(io.BytesIO(scan_bomb_jpeg(64, 64, 95))) == 105
    path = tmp_path / "p.jpg"
    path.write_bytes(photo.getvalue())
    assert load_image(path).size == (451, 300)


def test_setting_stop_ends_a_decode_at_its_next_read() -> None:
    """A 36 MB PNG of noise takes a few tenths of a second to decode; with ``stop`` set 0.05 s in,
    decoding ends with DecodeStopped at its next read."""
    data_ = noise_png(4000, 3000)
    start = time.monotonic()
    load_image_bytes(data_, "noise.png", (224, 224))
    full = time.monotonic() - start
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    start = time.monotonic()
    with pytest.raises(images.DecodeStopped, match=r"noise\.png: decoding stopped"):
        load_image_bytes(data_, "noise.png", (224, 224), stop=stop)
    assert time.monotonic() - start < 0.05 + full / 3


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes; it is refused from its kind instead."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ImageError) as caught:
        load_image(fifo)
    assert time.monotonic() - start < 1
    assert caught.value.reason == "not a regular file (a named pipe (FIFO)); refused"
    with pytest.raises(ImageError, match="not a regular file \\(a character device\\)"):
        load_image("/dev/zero")


def test_the_plan_of_a_progressive_jpeg_counts_its_coefficients(tmp_path: Path) -> None:
    """A progressive JPEG's decoder keeps every DCT coefficient of the image, whatever the scaling: a
    3000x3000 4:4:4 photo takes about 54 MB to decode to 224 px, where the plan said 0.6 MB."""
    ramp = np.linspace(0, 255, 3000, dtype=np.uint8)
    pixels = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((3000, 3000), 90, np.uint8)], -1)
    for progressive in (True, False):
        path = tmp_path / f"p{progressive}.jpg"
        Image.fromarray(pixels).save(path, progressive=progressive, subsampling=0, quality=90)
        plan = plan_decode_bytes(path.read_bytes(), path.name, (224, 224))
        code = (
            "def hwm(): return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
            "from photoscore.images import load_image\n"
            f"before = hwm(); load_image({str(path)!r}, (224, 224)); print((hwm() - before) * 1024)"
        )
        grown = int(subprocess.check_output([sys.executable, "-c", code]))
        if progressive:
            assert plan.coefficient_bytes == 375 * 375 * 3 * 128
            assert 0.9 * grown <= plan.memory <= 1.3 * grown, (plan.memory, grown)
        else:
            assert plan.coefficient_bytes == 0 and grown < 16 * 2**20


def test_a_jpeg_cut_short_with_an_end_marker_is_an_error(tmp_path: Path) -> None:
    """Cut to 30% with FFD9 appended, a JPEG used to decode with its lower part grey (and score); a tiny
    file whose header says 1000x60000 too. libjpeg's corrupt-data warnings are errors now."""
    photo = io.BytesIO()
    Image.fromarray(data.coffee()).save(photo, "JPEG", quality=90)
    whole = photo.getvalue()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 3 // 10] + b"\xff\xd9")
    with pytest.raises(ImageError) as caught:
        load_image(cut, (224, 224))
    assert caught.value.reason == (
        "truncated or corrupt image data (ValueError: Corrupt JPEG data: premature end of data segment)"
    )
    tall = io.BytesIO()
    Image.new("RGB", (1000, 16), (90, 120, 200)).save(tall, "JPEG")
    header = bytearray(tall.getvalue())
    sof = header.index(b"\xff\xc0")
    header[sof + 5 : sof + 7] = (60000).to_bytes(2, "big")  # the height in the frame header
    with pytest.raises(ImageError, match="premature end of data segment"):
        load_image_bytes(bytes(header), "tall.jpg")
    assert np.asarray(load_image_bytes(whole, "whole.jpg")).shape == (400, 600, 3)


def test_jpegs_decode_to_the_same_pixels_as_pillows_decoder() -> None:
    """The strict decoder uses the DCT scaling Pillow's draft picks: identical pixels, scores unchanged."""
    source = Image.fromarray(data.coffee()).resize((1801, 1203))
    for options in ({}, {"subsampling": 0}, {"progressive": True}):
        for mode in ("RGB", "L"):
            buffer = io.BytesIO()
            source.convert(mode).save(buffer, "JPEG", quality=85, **options)
            for size in ((224, 224), None):
                reference = Image.open(io.BytesIO(buffer.getvalue()))
                if size:
                    reference.draft("RGB", size)
                expected = np.asarray(reference.convert("RGB"))
                assert np.array_equal(
                    np.asarray(load_image_bytes(buffer.getvalue(), "p.jpg", size)), expected
                )
