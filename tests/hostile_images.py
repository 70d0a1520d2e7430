"""Hostile photos made on the fly: small files that decode to huge images (made once per test session)."""

from __future__ import annotations

import functools
import struct
import zlib


def ramp_png(width: int, height: int, bit_depth: int, color_type: int, step: bytes) -> bytes:
    """A PNG whose rows are ramps: every row stores ``step`` per pixel under PNG filter 1 (Sub, each byte
    added to the one a pixel to its left), so 100 MP compress to a few hundred KB."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    assert len(step) == channels * bit_depth // 8

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    line = b"\x01" + step * width
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(line * 64) for _ in range(height // 64)]
    parts += [compressor.compress(line * (height % 64)), compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


@functools.cache
def deep_grey_png(width: int = 10000, height: int = 9999) -> bytes:
    """A 16-bit greyscale PNG of 10000x9999 (about 100 MP) in a file of about 200 KB."""
    return ramp_png(width, height, 16, 0, b"\x01\x01")


@functools.cache
def rgb_png(width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of colour ramps, ``width * height`` pixels from a small file."""
    return ramp_png(width, height, 8, 2, b"\x01\x02\xff")


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's marker segments up to its first scan, then each scan (SOS header + entropy-coded data)
    and each table between scans, as ``(marker, bytes)``; the EOI marker last."""
    segments, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            segments.append((marker, data[pos : pos + 2]))
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed byte or RST
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, data[pos:end]))
        pos = end
    return segments


def scan_bomb_jpeg(width: int, height: int, repeats: int) -> bytes:
    """A progressive JPEG whose last AC scan (with the Huffman table before it) is repeated ``repeats``
    times: a small file that makes libjpeg pass over every coefficient once per copy."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 140, 160)).save(buffer, "JPEG", progressive=True, quality=80)
    segments = jpeg_segments(buffer.getvalue())
    last = max(i for i, (marker, _) in enumerate(segments) if marker == 0xDA)
    table = segments[last - 1][1] if segments[last - 1][0] == 0xC4 else b""
    scan = table + segments[last][1]
    head = b"".join(s for _, s in segments[:-1])
    return b"\xff\xd8" + head + scan * repeats + b"\xff\xd9"


@functools.cache
def noise_png(width: int, height: int) -> bytes:
    """An RGB PNG of random noise: a file as large as its pixels, decoded in many reads."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
