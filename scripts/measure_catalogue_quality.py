"""Quality of the catalogue duplicate search on real photos: ``--originals`` distinct photos (LIVE, then
room photos) in listings of 10, ``--copies`` of them planted as edited copies (re-encoded, half size,
cropped 6% a side, brightened, a logo box) in another listing; ``photoscore batch --review --duplicates``
against the planted pairs (precision, recall), and imagededup's PHash (threshold 10) on the same files
when ``--imagededup PYTHON`` names a Python with imagededup. Nothing is written outside ``--work``.

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

from PIL import Image, ImageDraw, ImageEnhance

SOURCES = [
    Path("/work/shared/data/livec/images"),
    Path("/work/data/rooms/train"),
    Path("/work/data/rooms/eval"),
]
IMAGEDEDUP = """
import json, sys, time, resource
from imagededup.methods import PHash
started = time.monotonic()
found = PHash(verbose=False).find_duplicates(image_dir=sys.argv[1], max_distance_threshold=10, recursive=True)
print(json.dumps({"seconds": time.monotonic() - started,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "pairs": sorted({tuple(sorted((a, b))) for a, others in found.items() for b in others})}))
"""


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


def scored(found: set[frozenset[str]], planted: set[frozenset[str]]) -> dict[str, float]:
    hits = len(found & planted)
    return {
        "pairs": len(found),
        "planted_found": hits,
        "precision": hits / max(1, len(found)),
        "recall": hits / len(planted),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--originals", type=int, default=10_000)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--imagededup", help="a Python with imagededup installed")
    args = parser.parse_args()
    planted = build(args.work, args.originals, args.copies)
    out = args.work / "out"
    started = time.monotonic()
    command = [sys.executable, "-m", "photoscore", "batch", str(args.work / "photos"), "-r", "--out", str(out),
               "--review", "--duplicates"]  # fmt: skip
    run = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=os.environ)
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    import pyarrow.dataset as pads

    rows = (
        pads.dataset(out / "_duplicates", format="parquet")
        .to_table(columns=["photo", "other_photo"])
        .to_pylist()
    )
    report = {"photos": args.originals + args.copies, "planted": len(planted),
              "photoscore": {**scored({frozenset({r["photo"], r["other_photo"]}) for r in rows}, planted),
                             "seconds_review_and_search": round(seconds, 1),
                             "summary": [line for line in run.stderr.splitlines() if "This run" in line or "Maximum resident" in line]}}  # fmt: skip
    if args.imagededup:
        done = subprocess.run(
            [args.imagededup, "-c", IMAGEDEDUP, str(args.work / "photos")], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        photos = args.work / "photos"
        pairs = set()
        for a, b in result["pairs"]:
            pa_, pb = photos / a, photos / b
            if not pa_.exists():  # imagededup names files by their path relative to the folder, or by name
                pa_, pb = next(photos.rglob(a)), next(photos.rglob(b))
            if pa_.parent != pb.parent:
                pairs.add(frozenset({str(pa_), str(pb)}))
        report["imagededup_phash_10"] = {**scored(pairs, planted), "seconds": round(result["seconds"], 1),
                                         "peak_rss_mib": round(result["peak_rss_mib"])}  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
