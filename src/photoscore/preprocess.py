"""How a decoded photo becomes a model input: resize policy and normalisation."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]
ResizePolicy = Literal["squash", "center_crop"]

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
    project did at prediction time. ``resize="center_crop"`` squashes to ``crop_from`` (the resolution the
    model was trained at, e.g. LIVE's 500x500 photos) and takes the centre ``input_size`` crop, so the
    network sees pixels at that resolution: fine detail (noise, focus) survives, unlike in a whole-photo
    downscale. ``reduced_jpeg_decode`` lets large JPEGs decode at a reduced scale
    (DCT scaling, several times faster, never below ``decode_size``); turn it off for models that must
    match a pipeline decoding at full size pixel for pixel (Keras ``load_img``).
    """

    model_config = ConfigDict(frozen=True)

    input_size: tuple[int, int] = Field(description="(height, width) of the network input")
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: Interpolation = "bicubic"
    resize: ResizePolicy = "squash"
    crop_from: tuple[int, int] | None = Field(
        None, description='(height, width) squashed to before the centre crop; only with resize="center_crop"'
    )
    reduced_jpeg_decode: bool = True

    @model_validator(mode="after")
    def _check_crop(self) -> Preprocessing:
        if (self.resize == "center_crop") != (self.crop_from is not None):
            raise ValueError('crop_from is required with resize="center_crop" and only allowed with it')
        if self.crop_from is not None and (
            self.crop_from[0] < self.input_size[0] or self.crop_from[1] < self.input_size[1]
        ):
            raise ValueError(f"crop_from {self.crop_from} is smaller than input_size {self.input_size}")
        return self

    @property
    def height(self) -> int:
        return self.input_size[0]

    @property
    def width(self) -> int:
        return self.input_size[1]

    @property
    def decode_size(self) -> tuple[int, int]:
        """The smallest (height, width) a reduced decode may give without losing what the model sees."""
        return self.crop_from or self.input_size

    def squash(self, image: Image.Image, size: tuple[int, int]) -> Image.Image:
        """Resize an RGB image to (height, width) ``size`` with this interpolation, ignoring aspect ratio."""
        height, width = size
        if image.size == (width, height):
            return image
        return image.resize((width, height), _RESAMPLING[self.interpolation])

    def resize_image(self, image: Image.Image) -> Image.Image:
        """Resize (and crop) an RGB image to the input size with this policy."""
        if self.crop_from is None:
            return self.squash(image, self.input_size)
        (big_height, big_width), (height, width) = self.crop_from, self.input_size
        top, left = (big_height - height) // 2, (big_width - width) // 2
        if image.size == (big_width, big_height):
            return image.crop((left, top, left + width, top + height))
        # Resize only the part of the photo the crop comes from (the crop's box mapped back onto the photo):
        # the same scale and sample positions as squashing the whole photo to crop_from and cropping, so the
        # same pixels up to rounding (scripts/measure_box_resize.py: at most 3/255 on 0.1% of the pixels,
        # scores within 0.03), at a fifth of the cost.
        sx, sy = image.width / big_width, image.height / big_height
        box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        return image.resize((width, height), _RESAMPLING[self.interpolation], box=box)

    def to_array(self, image: Image.Image) -> np.ndarray:
        """RGB image -> float32 array of shape (3, height, width), normalised."""
        pixels = np.asarray(self.resize_image(image), dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)
        scale = 1.0 / np.asarray(self.std, dtype=np.float32)
        return ((pixels - mean) * scale).transpose(2, 0, 1)
