"""How a decoded photo becomes a model input: resize policy and normalisation."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]
ResizePolicy = Literal["squash"]

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


class Preprocessing(BaseModel):
    """Resize and normalise an RGB photo: ``input = (pixel - mean) / std`` with pixels in 0..255.

    ``resize="squash"`` resizes to ``input_size`` ignoring the aspect ratio, as the original NIMA
    project did at prediction time. ``reduced_jpeg_decode`` lets large JPEGs decode at a reduced scale
    (DCT scaling, several times faster, never below the input size); turn it off for models that must
    match a pipeline decoding at full size pixel for pixel (Keras ``load_img``).
    """

    model_config = ConfigDict(frozen=True)

    input_size: tuple[int, int] = Field(description="(height, width) of the network input")
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: Interpolation = "bicubic"
    resize: ResizePolicy = "squash"
    reduced_jpeg_decode: bool = True

    @property
    def height(self) -> int:
        return self.input_size[0]

    @property
    def width(self) -> int:
        return self.input_size[1]

    def resize_image(self, image: Image.Image) -> Image.Image:
        """Resize an RGB image to the input size with this policy."""
        size = (self.width, self.height)
        if image.size == size:
            return image
        return image.resize(size, _RESAMPLING[self.interpolation])

    def to_array(self, image: Image.Image) -> np.ndarray:
        """RGB image -> float32 array of shape (3, height, width), normalised."""
        pixels = np.asarray(self.resize_image(image), dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)
        scale = 1.0 / np.asarray(self.std, dtype=np.float32)
        return ((pixels - mean) * scale).transpose(2, 0, 1)
