"""Find photo files and decode them safely to upright 8-bit RGB images.

Every decoding problem becomes an :class:`ImageError` naming the file and the reason, so a batch can
report a bad file and carry on.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import struct
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
import simplejpeg
from PIL import (
    BmpImagePlugin,  # noqa: F401  (imported to register the photo formats' openers)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

pillow_heif.register_heif_opener()

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif"}
)
# 65 MP takes in the photos of 48, 50 and 64 MP phone cameras (9248x6936). Decoding holds at most about
# 8 bytes per pixel (RGBA or CMYK photos; 4-5 for RGB, greyscale and 16-bit; far less for JPEGs, which
# decode at a reduced scale), so four decoding threads stay under about 2 GB in the worst case (1 GB for
# RGB). It is under Pillow's own limit (89,478,485 pixels) too.
DEFAULT_MAX_PIXELS: int = 65_000_000

# Real photos hold one scan (baseline JPEGs) or about ten (progressive ones: libjpeg's default script has
# 10 for colour, 6 for grey). Each scan makes the decoder pass over every coefficient of the image again,
# so a small file that repeats one scan 10,000 times takes minutes; more scans than this are refused from
# the markers, before any decoding. At photoscore's pixel limit, 100 scans decode in a few seconds.
MAX_JPEG_SCANS = 100

# Pillow decoders allowed to run: the photo formats above (the JPEG one also opens cameras' multi-picture
# MPO files). Other Pillow plugins (EPS runs Ghostscript; many rarely used decoders) never see untrusted input.
_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "HEIF")
# Deep (16/32-bit, float) and transparent images are converted in strips of about this many pixels, so
# a conversion needs little memory beyond the decoded image and its converted copy.
_STRIP_PIXELS = 1 << 20
# Peak bytes per decoded pixel while decoding and converting to RGB, measured with ru_maxrss: the
# decoded image and its RGB copy (Pillow keeps RGB, RGBA, CMYK and LA in 4 bytes a pixel). Other modes
# (RGBA, LA, CMYK, YCbCr ...) take 8. Turning a photo upright by its EXIF orientation needs one more copy.
_PEAK_BYTES_PER_PIXEL = {"RGB": 4, "1": 5, "L": 5, "P": 5, "I;16": 5, "I;16B": 5, "I;16L": 5, "I": 5, "F": 5}
_WORST_BYTES_PER_PIXEL = 8
# Colour and grey JPEGs decode (strictly, through simplejpeg) to an RGB array of 3 bytes a pixel, which
# Pillow copies into its 4: 7 at the scale they decode at (6.7 measured for a 36 MP photo).
_STRICT_JPEG_BYTES_PER_PIXEL = 7
# Transparent pixels are composited onto white: transparent areas of photos, product shots and logos
# are meant to be seen on a light page, and black (what dropping alpha often leaves) would darken them.
_BACKGROUND = (255, 255, 255)


class ImageError(Exception):
    """A file that cannot be used as a photo; ``str()`` is ``f"{path}: {reason}"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class DecodeStopped(ImageError):
    """Decoding was abandoned because its ``stop`` event was set (an interrupted run, a timed-out request)."""

    def __init__(
        self, path: str | Path, reason: str = "decoding stopped before the end (interrupted or timed out)"
    ) -> None:
        super().__init__(path, reason)


class NotRegularFileError(OSError):
    """A name that is not a regular file (a FIFO, a device, a socket): never opened, since reading one can
    block forever or never end."""


_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def open_regular_file(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (symbolic links followed).

    Raises IsADirectoryError for a folder and NotRegularFileError for anything else that is not a
    regular file, both before opening it; the kind is checked again on the open file (opened without
    blocking), so a name swapped for a FIFO in between cannot hang the caller.
    """
    _check_regular(os.stat(path).st_mode, path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check_regular(os.fstat(fd).st_mode, path)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(mode: int, path: str | Path) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not an image file", str(path))
    if not stat.S_ISREG(mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise NotRegularFileError(errno.EINVAL, f"not a regular file ({kind}); refused", str(path))


class _StoppableReader:
    """A binary stream whose reads raise DecodeStopped once ``stop`` is set: decoders read their input in
    chunks, so a decode running on a thread that nobody waits for any more ends at its next chunk."""

    def __init__(self, fp: BinaryIO, stop: threading.Event, path: Path) -> None:
        self._fp = fp
        self._stop = stop
        self._path = path

    def read(self, size: int = -1) -> bytes:
        if self._stop.is_set():
            raise DecodeStopped(self._path)
        return self._fp.read(size)

    def __getattr__(self, name: str) -> object:
        return getattr(self._fp, name)


def image_id_for(path: str | Path) -> str:
    """The file name without its last extension: ``"a.b.c.jpg"`` -> ``"a.b.c"``."""
    return Path(path).stem


def is_supported(path: str | Path) -> bool:
    """Whether the extension (any letter case) is one of :data:`SUPPORTED_EXTENSIONS`."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def find_images(
    paths: Iterable[str | Path],
    recursive: bool = False,
    on_unreadable: Callable[[Path, OSError], None] | None = None,
) -> Iterator[Path]:
    """Yield the image files named by ``paths``.

    Files are yielded as given, whatever their extension, and so are names that cannot be followed (a
    symbolic link loop, a dangling link, a file in a folder that cannot be entered): decoding then says
    why they cannot be read. Folders yield their supported image files sorted by name, skipping
    dot-files; sub-folders (not hidden ones) are entered, at their place in that order, only when
    ``recursive``. A folder that cannot be listed is passed to ``on_unreadable`` with the error and
    skipped (default: a :class:`UnreadableFolderWarning`). Every path is checked first: one that does
    not exist at all raises FileNotFoundError naming it.
    """
    given = [Path(p) for p in paths]
    for path in given:
        if not _names_something(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(path))
    report = on_unreadable or _warn_unreadable
    for path in given:
        if os.path.isdir(path):
            yield from _walk(path, recursive, frozenset(), report)
        else:
            yield path


class UnreadableFolderWarning(UserWarning):
    """A folder that could not be listed was skipped."""


def _warn_unreadable(folder: Path, exc: OSError) -> None:
    warnings.warn(
        f"{folder}: cannot list the folder ({exc.strerror or exc}); skipped",
        UnreadableFolderWarning,
        stacklevel=4,
    )


def _names_something(path: Path) -> bool:
    """Whether ``path`` names an entry, even one that cannot be followed or looked at."""
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:  # permission denied, a name too long ...: its row will say so
        pass
    return True


def _walk(
    folder: Path, recursive: bool, ancestors: frozenset[Path], on_unreadable: Callable[[Path, OSError], None]
) -> Iterator[Path]:
    real = folder.resolve()
    if real in ancestors:  # a symbolic link back up the tree: stop the loop
        return
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        on_unreadable(folder, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        if _entry_is(entry.is_dir):
            if recursive:
                yield from _walk(path, recursive, ancestors | {real}, on_unreadable)
        elif is_supported(path) and _entry_is(entry.is_file):
            yield path


def _entry_is(test: Callable[[], bool]) -> bool:
    """``DirEntry.is_dir`` / ``is_file``, False where the entry cannot be looked at."""
    try:
        return test()
    except OSError:
        return False


@dataclass(frozen=True)
class DecodePlan:
    """What decoding an image will take, read from its header before any pixel is decoded."""

    format: str
    mode: str
    size: tuple[int, int]
    decoded_size: tuple[int, int]  # smaller than ``size`` for JPEGs decoded at a reduced scale
    coefficient_bytes: int = 0  # what a progressive JPEG's decoder holds for the whole image at full size

    @property
    def pixels(self) -> int:
        """``width * height`` as the header states it."""
        return self.size[0] * self.size[1]

    @property
    def memory(self) -> int:
        """About the most bytes decoding and converting the image to RGB holds at once."""
        if self.format in ("JPEG", "MPO") and self.mode in ("RGB", "L"):
            per_pixel = _STRICT_JPEG_BYTES_PER_PIXEL
        else:
            per_pixel = _PEAK_BYTES_PER_PIXEL.get(self.mode, _WORST_BYTES_PER_PIXEL)
        return self.decoded_size[0] * self.decoded_size[1] * per_pixel + self.coefficient_bytes


def progressive_coefficient_bytes(img: Image.Image) -> int:
    """The DCT coefficients a progressive JPEG's decoder keeps while it reads the scans: every block of
    every component at full size, 64 coefficients of 2 bytes each, whatever the DCT scaling (baseline
    JPEGs and other formats: 0). An 8060x8060 4:4:4 photo holds 390 MB of them."""
    if img.format not in ("JPEG", "MPO") or not img.info.get("progressive"):
        return 0
    layers = getattr(img, "layer", [])
    if not layers:
        return 0
    width, height = img.size
    h_max, v_max = max(layer[1] for layer in layers), max(layer[2] for layer in layers)
    mcu_w, mcu_h = -(-width // (8 * h_max)), -(-height // (8 * v_max))  # MCUs across and down
    return sum(mcu_w * layer[1] * mcu_h * layer[2] * 128 for layer in layers)


def plan_decode_bytes(data: bytes, name: str, min_size: tuple[int, int] | None = None) -> DecodePlan:
    """The :class:`DecodePlan` of an image in memory, from its header only (``min_size`` as in
    :func:`load_image`); raises ImageError when the header cannot be read."""
    if not data:
        raise ImageError(name, "empty file (0 bytes)")
    try:
        img = _open(io.BytesIO(data))
        size = img.size
        coefficients = progressive_coefficient_bytes(img)
        _draft(img, min_size)
    except Exception as exc:
        raise ImageError(name, _reason(exc)) from None
    return DecodePlan(img.format or "", img.mode, size, img.size, coefficients)


@dataclass(frozen=True)
class Photo:
    """A decoded photo and what its header said about the original."""

    image: Image.Image  # upright 8-bit RGB; a JPEG may be decoded at a reduced scale (see load_image)
    size: tuple[int, int]  # (width, height) of the original file, upright, from its header
    format: str  # the file's format as Pillow names it: JPEG, PNG, WEBP ...
    mode: str  # the colour mode as stored: RGB, L, P, RGBA, CMYK, I;16 ...


def load_image(
    path: str | Path,
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stop: threading.Event | None = None,
) -> Image.Image:
    """Decode one file to an upright 8-bit RGB image (:func:`load_photo` without the header facts).

    ``min_size=(w, h)`` is the smallest size the caller will resize to: JPEGs then decode at a reduced
    scale (DCT scaling, several times faster) while both sides stay at least ``max(w, h)``, so the result
    covers ``min_size`` whatever the EXIF orientation. Images are never enlarged.

    ``max_pixels`` limits ``width * height`` as read from the header, before any pixel is decoded;
    Pillow's own limit (``PIL.Image.MAX_IMAGE_PIXELS``) is left to its other callers.

    Only regular files are opened (a FIFO or a device could block or never end). Once ``stop`` is set,
    decoding ends at its next read of the input with DecodeStopped.

    Raises ImageError for anything that is not a usable image (missing, empty, unreadable, not a regular
    file, not an image, truncated or corrupt, too many pixels, too many JPEG scans).
    """
    return load_photo(path, min_size, max_pixels, stop).image


def load_photo(
    path: str | Path,
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stop: threading.Event | None = None,
) -> Photo:
    """Decode one file as :func:`load_image` does, keeping the original's size, format and mode."""
    try:
        with open_regular_file(path) as fp:
            return _decode(fp, Path(path), min_size, max_pixels, stop)
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not an image file") from None
    except NotRegularFileError as exc:
        raise ImageError(path, exc.strerror) from None
    except OSError as exc:
        raise ImageError(path, f"cannot read: {exc.strerror or exc}") from None


def load_image_bytes(
    data: bytes,
    name: str,
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stop: threading.Event | None = None,
) -> Image.Image:
    """Like :func:`load_image` for an image held in memory (an upload); ``name`` is used in errors."""
    return load_photo_bytes(data, name, min_size, max_pixels, stop).image


def load_photo_bytes(
    data: bytes,
    name: str,
    min_size: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stop: threading.Event | None = None,
) -> Photo:
    """Like :func:`load_photo` for an image held in memory (an upload); ``name`` is used in errors."""
    return _decode(io.BytesIO(data), Path(name), min_size, max_pixels, stop)


def _decode(
    fp: BinaryIO,
    path: Path,
    min_size: tuple[int, int] | None,
    max_pixels: int,
    stop: threading.Event | None = None,
) -> Photo:
    if min_size is not None and min(min_size) < 1:
        raise ValueError(f"min_size must be positive, got {min_size}")
    if stop is not None:
        fp = _StoppableReader(fp, stop, path)  # type: ignore[assignment]
    if not fp.read(1):
        raise ImageError(path, "empty file (0 bytes)")
    fp.seek(0)
    try:
        img = _open(fp)
    except Exception as exc:
        raise ImageError(path, _reason(exc)) from None
    width, height = img.size
    file_format, mode = img.format or "", img.mode
    if width * height > max_pixels:
        raise ImageError(
            path,
            f"too many pixels: {width}x{height} = {width * height:,}, more than photoscore's limit of {max_pixels:,}",
        )
    _check_scans(img, fp, path)
    try:
        _draft(img, min_size)
        if _strict_jpeg(img):
            img = _decode_jpeg(img, fp)
        else:
            img.load()  # the full decode happens here, so truncated or corrupt data fails here
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(path, _reason(exc)) from None
    stored = img.size
    # Corrupt EXIF leaves the orientation unknown, not the pixels unusable: keep them as stored.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(img, in_place=True)
    upright = (height, width) if img.size != stored and img.size == stored[::-1] else (width, height)
    try:  # each step replaces ``img``, so the larger image before it can be freed
        img = _to_8_bits(img)
        return Photo(_to_rgb(img), upright, file_format, mode)
    except ValueError as exc:  # a colour mode Pillow cannot convert
        raise ImageError(path, f"unsupported colour mode {mode}: {exc}") from None


def _open(fp: BinaryIO) -> ImageFile.ImageFile:
    """``Image.open(fp, formats=_FORMATS)`` without Pillow's decompression-bomb check.

    Only the header is read. The caller checks photoscore's own pixel limit next, so a refusal names
    that limit, never Pillow's, and no DecompressionBombWarning is printed for photos within it.
    """
    prefix = fp.read(16)
    for name in _FORMATS:
        factory, accept = Image.OPEN[name]
        accepted = accept(prefix) if accept else True
        if accepted and not isinstance(accepted, str):  # a string: a reason it cannot be opened here
            fp.seek(0)
            try:
                return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # Image.open's rule: not this format after all
    raise UnidentifiedImageError("cannot identify image file")


def _check_scans(img: ImageFile.ImageFile, fp: BinaryIO, path: Path) -> None:
    """Refuse a JPEG with more than MAX_JPEG_SCANS scans, counted from its markers (``fp`` is left where
    it was)."""
    if img.format not in ("JPEG", "MPO"):
        return
    where = fp.tell()
    try:
        fp.seek(0)
        scans = count_jpeg_scans(fp)
    finally:
        fp.seek(where)
    if scans > MAX_JPEG_SCANS:
        raise ImageError(
            path,
            f"a JPEG of {scans:,} scans, more than photoscore's limit of {MAX_JPEG_SCANS} (photos have about "
            "10; so many make decoding take minutes)",
        )


def count_jpeg_scans(fp: BinaryIO, chunk: int = 1 << 20) -> int:
    """The scans (SOS markers) of the JPEG read from ``fp``, without decoding anything.

    The segments before the first scan are skipped by their lengths, so markers inside them (an EXIF
    thumbnail's) do not count; after it, every ``FF DA`` is a scan, since entropy-coded data never
    holds one (a data byte FF is always followed by 00). Stops early at a damaged header.
    """
    if fp.read(2) != b"\xff\xd8":
        return 0
    while True:
        marker = fp.read(2)
        while marker[:1] == b"\xff" and marker[1:] == b"\xff":  # fill bytes before a marker
            marker = marker[1:] + fp.read(1)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] == 0xD9:
            return 0
        length = fp.read(2)
        if len(length) < 2:
            return 0
        if marker[1] == 0xDA:
            break
        fp.seek(struct.unpack(">H", length)[0] - 2, os.SEEK_CUR)
    scans, tail = 1, b""
    while block := fp.read(chunk):
        scans += (tail + block).count(b"\xff\xda")
        tail = block[-1:]
    return scans


def _strict_jpeg(img: Image.Image) -> bool:
    """Whether the image is a JPEG that :func:`_decode_jpeg` decodes (colour or grey; CMYK ones are left
    to Pillow, which knows Adobe's inverted CMYK)."""
    return img.format in ("JPEG", "MPO") and img.mode in ("RGB", "L")


def _decode_jpeg(img: ImageFile.ImageFile, fp: BinaryIO) -> Image.Image:
    """The JPEG in ``fp`` decoded by libjpeg-turbo through simplejpeg in strict mode, at the size Pillow's
    draft chose (the same DCT scaling and the same pixels as Pillow's own decoder, about 20% faster).

    Strict: libjpeg's corrupt-data warnings are errors. Pillow ignores them, so a JPEG cut short with an
    end marker appended decoded with its missing part grey. Only "extraneous bytes before marker", which
    some cameras write into photos that decode whole, is let through.
    """
    fp.seek(0)
    data = fp.read()
    width, height = img.size
    try:
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_width=width, min_height=height, strict=True)
    except ValueError as exc:
        if "extraneous bytes" not in str(exc):
            raise
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_width=width, min_height=height, strict=False)
    decoded = Image.fromarray(pixels, "RGB")
    for key in ("exif", "xmp"):  # the orientation travels with them
        if key in img.info:
            decoded.info[key] = img.info[key]
    return decoded


def _draft(img: Image.Image, min_size: tuple[int, int] | None) -> None:
    """Let a JPEG decode at a reduced scale (DCT scaling) that still covers ``min_size`` in any orientation."""
    if min_size is not None and img.format in ("JPEG", "MPO"):
        side = max(min_size)
        img.draft("RGB", (side, side))


def _reason(exc: Exception) -> str:
    """A human reason for an exception raised while opening or decoding untrusted data."""
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or not in a supported format (JPEG, PNG, WebP, BMP, TIFF, GIF, HEIC/HEIF)"
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return f"too many pixels: {exc}"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode it"
    return f"truncated or corrupt image data ({type(exc).__name__}: {exc})"


def _to_8_bits(img: Image.Image) -> Image.Image:
    """A deep (16/32-bit integer, float) single-channel image as 8-bit ``L``, converted in strips of
    rows; other images as they are."""
    if img.mode not in ("I", "F") and not img.mode.startswith("I;16"):
        return img
    width, height = img.size
    out = np.empty((height, width), dtype=np.uint8)
    for top, strip in _strips(img):
        out[top : top + strip.height] = _deep_to_uint8(np.asarray(strip), img.mode)
    return Image.fromarray(out, "L")


def _strips(img: Image.Image) -> Iterator[tuple[int, Image.Image]]:
    """The image as strips of whole rows of about ``_STRIP_PIXELS`` pixels, each with its top row."""
    width, height = img.size
    rows = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows):
        yield top, img.crop((0, top, width, min(height, top + rows)))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any 8-bit Pillow mode -> RGB; alpha and transparency are composited onto white, in strips of rows
    so that only the image and its RGB copy are held whole."""
    if img.mode == "RGB":
        return img
    if not img.has_transparency_data:
        return img.convert("RGB")
    out = Image.new("RGB", img.size, _BACKGROUND)
    for top, strip in _strips(img):
        if strip.mode == "La":  # premultiplied alpha (TIFF); Pillow converts it to RGBA only through LA
            strip = strip.convert("LA")
        rgba = strip if strip.mode == "RGBA" else strip.convert("RGBA")
        out.paste(rgba, (0, top), mask=rgba)  # an RGBA mask is its alpha band
    return out


def _deep_to_uint8(data: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16/32-bit integer or float samples to 0..255 (rounded, not clipped).

    Integer modes are read as 16-bit samples (0..65535; Pillow gives 16-bit PNG and TIFF as ``I;16``
    or ``I``): 65535 -> 255, 32768 -> 128. Float images are taken as 0.0..1.0, the usual convention of
    float TIFFs; values outside are clipped.
    """
    if mode == "F":
        return (np.clip(np.nan_to_num(data), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    scaled = (np.clip(data, 0, 65535).astype(np.uint32) * 255 + 32767) // 65535
    return scaled.astype(np.uint8)
