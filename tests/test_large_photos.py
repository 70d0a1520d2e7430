"""The default model's resize policy does not punish large photos (listing photos are 1024-4000 px wide,
the training photos 500-512 px): every photo is judged as squashed to 500x500, so a large sharp photo and
the same photo at 512 px score alike, and flaws visible at that size still lower the score.

The large photos are the example photos Lanczos-upscaled to 4000 px wide and saved as JPEG (the reduced
JPEG decode path of large files): as sharp, at 500 px, as the originals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import default_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LARGE_WIDTH, SMALL_WIDTH = 4000, 512


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer([OnnxNimaModel(default_model())])


def _resized(image: Image.Image, width: int) -> Image.Image:
    return image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)


def _grain(image: Image.Image, grain_px: int, std: float, seed: int) -> Image.Image:
    """Sensor-like noise whose grains are ``grain_px`` wide (visible once the photo is shown smaller)."""
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    coarse = np.random.default_rng(seed).normal(0, std, (height // grain_px, width // grain_px, 3))
    noise = np.stack(
        [
            np.asarray(Image.fromarray(coarse[..., c].astype(np.float32)).resize((width, height)))
            for c in range(3)
        ],
        axis=-1,
    )
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["coffee", "rocket", "astronaut"])
def test_large_photos_score_like_their_512_px_copy_and_flaws_still_count(name, scorer, tmp_path):
    large = _resized(Image.open(EXAMPLES / f"{name}.jpg").convert("RGB"), LARGE_WIDTH)
    photos = {
        "large": large,
        "small": _resized(large, SMALL_WIDTH),
        "blurred": large.filter(ImageFilter.GaussianBlur(LARGE_WIDTH / 250)),
        "noisy": _grain(large, grain_px=6, std=50, seed=7),
    }
    paths = []
    for kind, image in photos.items():
        paths.append(tmp_path / f"{name}-{kind}.jpg")
        image.save(paths[-1], quality=92)
    results = list(scorer.score(paths))
    assert all(r.ok for r in results), [r.error for r in results]
    score = {kind: r.mean_score_prediction for kind, r in zip(photos, results, strict=True)}
    assert abs(score["large"] - score["small"]) < 0.25, score
    assert score["blurred"] < score["large"] - 1.0, score
    assert score["noisy"] < score["large"] - 1.0, score
