"""What every check looks at: one decoded photo with its header facts, and the result shape of a check."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from photoscore.images import Photo

# Checks that look at pixels work on a copy whose longest side is this many pixels (never enlarged), so
# their values do not depend on the file's resolution and their cost is bounded.
ANALYSIS_SIDE = 512

Verdict = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class CheckResult:
    """One check of one photo: what was measured, against what, the verdict, and what a host can do.

    ``verdict`` is ``"unknown"`` when the check cannot judge (e.g. too few lines to measure a tilt);
    ``reason`` is one sentence a host can act on, set when the verdict is ``"fail"``.
    """

    name: str
    value: float | None
    threshold: float | None
    verdict: Verdict
    reason: str | None = None
    unit: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict == "fail"


class PhotoView:
    """A decoded photo as the checks see it: the header facts and analysis copies made once, on demand."""

    def __init__(self, photo: Photo):
        self.photo = photo

    @property
    def width(self) -> int:
        """Width of the original file (upright), from its header."""
        return self.photo.size[0]

    @property
    def height(self) -> int:
        """Height of the original file (upright), from its header."""
        return self.photo.size[1]

    @cached_property
    def image(self) -> Image.Image:
        """The analysis copy: the decoded photo with its longest side at most :data:`ANALYSIS_SIDE`, aspect
        ratio kept (the photo itself when smaller)."""
        image = self.photo.image
        scale = ANALYSIS_SIDE / max(image.size)
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        return image

    @cached_property
    def rgb(self) -> np.ndarray:
        """uint8 (H, W, 3) pixels of :attr:`image`."""
        return np.asarray(self.image)

    @cached_property
    def grey(self) -> np.ndarray:
        """uint8 (H, W) luminance of :attr:`rgb` (Rec. 601 weights, rounded to the nearest level)."""
        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)

    @cached_property
    def luma(self) -> np.ndarray:
        """float32 (H, W) perceived brightness 0..1 of :attr:`grey`."""
        return self.grey.astype(np.float32) * np.float32(1 / 255)

    @cached_property
    def luma_counts(self) -> np.ndarray:
        """Counts of the 256 luminance levels of :attr:`grey` (one histogram for every check that needs it)."""
        return cv2.calcHist([self.grey], [0], None, [256], [0, 256]).ravel().astype(np.int64)
