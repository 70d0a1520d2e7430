"""Labelled photos as torch datasets, with the original project's augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from photoscore.images import ImageError, load_image
from photoscore.preprocess import Preprocessing

Transform = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class Sample:
    """One labelled photo: its id, file and normalised 10-bucket distribution."""

    image_id: str
    path: Path
    label: tuple[float, ...]


@dataclass
class Batch:
    """A collated batch; ``failed`` lists (sample index, reason) of photos that could not be decoded."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    failed: list[tuple[int, str]]


class PhotoDataset(Dataset):
    """Decodes photos on demand; a photo that fails to decode yields its reason instead of a tensor."""

    def __init__(self, samples: Sequence[Sample], transform: Transform, decode_size: tuple[int, int]):
        self.samples = list(samples)
        self.transform = transform
        self.decode_size = decode_size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | str, torch.Tensor]:
        sample = self.samples[index]
        label = torch.tensor(sample.label, dtype=torch.float32)
        try:
            image = load_image(sample.path, min_size=self.decode_size)
        except ImageError as exc:
            return index, exc.reason, label
        return index, self.transform(image), label


def collate(items: list[tuple[int, torch.Tensor | str, torch.Tensor]]) -> Batch:
    """Stack the decoded photos; keep the failures aside."""
    good = [(i, x, y) for i, x, y in items if isinstance(x, torch.Tensor)]
    failed = [(i, x) for i, x, _ in items if isinstance(x, str)]
    if not good:
        return Batch(torch.empty(0), torch.empty(0, 10), torch.empty(0, dtype=torch.long), failed)
    indices, images, labels = zip(*good, strict=True)
    return Batch(torch.stack(images), torch.stack(labels), torch.tensor(indices), failed)


def eval_transform(prep: Preprocessing) -> Transform:
    """Squash to the input size and normalise (what scoring does)."""
    return lambda image: torch.from_numpy(prep.to_array(image))


def train_transform(prep: Preprocessing, augmentation: str, resize_ratio: float) -> Transform:
    """``crop_flip``: a random input-size crop and a random horizontal flip (the original recipe squashes to
    size*ratio first; a ``center_crop`` model crops anywhere in its ``crop_from`` squash); ``flip``: as
    evaluation, flipped half the time; ``none``: as evaluation."""
    if augmentation == "none":
        return eval_transform(prep)
    height, width = prep.input_size
    if augmentation == "flip":
        big = prep
    elif prep.crop_from is not None:
        big = prep.model_copy(update={"input_size": prep.crop_from, "resize": "squash", "crop_from": None})
    else:
        big = prep.model_copy(
            update={"input_size": (round(height * resize_ratio), round(width * resize_ratio))}
        )

    def transform(image: Image.Image) -> torch.Tensor:
        pixels = big.to_array(image)
        top = int(torch.randint(0, pixels.shape[1] - height + 1, ()))
        left = int(torch.randint(0, pixels.shape[2] - width + 1, ()))
        pixels = pixels[:, top : top + height, left : left + width]
        if torch.rand(()) < 0.5:
            pixels = pixels[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(pixels))

    return transform
