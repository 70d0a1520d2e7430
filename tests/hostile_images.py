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
