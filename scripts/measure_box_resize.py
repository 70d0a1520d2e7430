"""Issue 24: resize only the source box the 224 crop needs, instead of squashing the whole photo to 500x500.

    PYTHONPATH=src python scripts/measure_box_resize.py [--livec ../shared/data/livec] [--biq BIQ2021/]
        [--rounds 5]

Today's default model (``resize="center_crop"``, ``crop_from=(500, 500)``) squashes the decoded photo to
500x500 with bicubic and keeps the centre 224x224. Pillow can resize just the part of the photo that
crop comes from: ``image.resize((224, 224), BICUBIC, box=(x0, y0, x1, y1))`` with the box = the crop's
rectangle mapped back onto the photo (float coordinates). The filter then sees the same scale and the
same sample positions, so the pixels should match today's up to rounding.

For each set of photos (LIVE 500x500, BIQ2021 512x512 and the example photos enlarged to 2000x1500 and
4000x3000, decoded the way the scorer decodes them: reduced JPEG decode to at least 500 px) it prints the
largest and mean absolute pixel difference (0..255), the share of pixels that differ, and the time per
photo of both paths (medians over rounds, the two paths interleaved; decode not included), and how far the
default model's score (1..10) moves between the two paths (largest and mean absolute change).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photoscore.images import load_image_bytes
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import default_model

REPO = Path(__file__).resolve().parents[1]
VIEW, CROP = (500, 500), (224, 224)
BICUBIC = Image.Resampling.BICUBIC


def today(image: Image.Image) -> Image.Image:
    """The shipped path (Preprocessing.resize_image with crop_from=(500, 500), input 224)."""
    (big_h, big_w), (h, w) = VIEW, CROP
    top, left = (big_h - h) // 2, (big_w - w) // 2
    if image.size != (big_w, big_h):
        image = image.resize((big_w, big_h), BICUBIC)
    return image.crop((left, top, left + w, top + h))


def box_path(image: Image.Image, top: int | None = None, left: int | None = None) -> Image.Image:
    """The crop at (top, left) of the 500x500 view (centre by default), resizing only its source box."""
    (big_h, big_w), (h, w) = VIEW, CROP
    top = (big_h - h) // 2 if top is None else top
    left = (big_w - w) // 2 if left is None else left
    if image.size == (big_w, big_h):
        return image.crop((left, top, left + w, top + h))
    sx, sy = image.width / big_w, image.height / big_h
    return image.resize((w, h), BICUBIC, box=(left * sx, top * sy, (left + w) * sx, (top + h) * sy))


def photo_sets(livec: Path, biq: Path | None, n: int) -> dict[str, list[Image.Image]]:
    sets: dict[str, list[Image.Image]] = {}
    sets["LIVE 500x500"] = [
        load_image_bytes(p.read_bytes(), p.name, min_size=VIEW)
        for p in sorted((livec / "images").iterdir())[:n]
    ]
    if biq is not None:
        files = sorted((biq / "Images").iterdir())[:n]
        sets["BIQ2021 512x512"] = [load_image_bytes(p.read_bytes(), p.name, min_size=VIEW) for p in files]
    examples = [Image.open(p).convert("RGB") for p in sorted((REPO / "examples").glob("*.jpg"))]
    for size in ((2000, 1500), (4000, 3000)):
        photos = []
        for image in examples:
            buffer = io.BytesIO()
            image.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
            photos.append(load_image_bytes(buffer.getvalue(), "x.jpg", min_size=VIEW))
        sets[f"examples {size[0]}x{size[1]} (decoded at {photos[0].width}x{photos[0].height})"] = photos
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--biq", type=Path, default=None)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    report = {}
    model = OnnxNimaModel(default_model(), threads=2)
    for name, photos in photo_sets(args.livec, args.biq, args.photos).items():
        diffs = []
        for image in photos:
            a = np.asarray(today(image), dtype=np.int16)
            b = np.asarray(box_path(image), dtype=np.int16)
            diffs.append(np.abs(a - b))
        diff = np.stack(diffs)
        prep = model.card.preprocessing
        mean, std = np.asarray(prep.mean, np.float32), np.asarray(prep.std, np.float32)
        scores = [
            model.predict(
                np.stack(
                    [
                        ((np.asarray(fn(image), np.float32) - mean) / std).transpose(2, 0, 1)
                        for image in photos
                    ]
                )
            )
            @ np.arange(1, 11)
            for fn in (today, box_path)
        ]
        moved = np.abs(scores[0] - scores[1])
        times: dict[str, list[float]] = {"today": [], "box": []}
        for _ in range(args.rounds):
            for label, fn in (("today", today), ("box", box_path)):
                start = time.perf_counter()
                for image in photos:
                    fn(image)
                times[label].append((time.perf_counter() - start) / len(photos) * 1000)
        row = {
            "photos": len(photos),
            "max_abs_diff": int(diff.max()),
            "mean_abs_diff": round(float(diff.mean()), 4),
            "share_differing": round(float((diff > 0).mean()), 4),
            "score_max_change": round(float(moved.max()), 5),
            "score_mean_change": round(float(moved.mean()), 6),
            "ms_today": round(float(np.median(times["today"])), 3),
            "ms_box": round(float(np.median(times["box"])), 3),
        }
        row["speedup"] = round(row["ms_today"] / row["ms_box"], 2)
        report[name] = row
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
