"""Measure near-duplicate detection on pairs made from real photos, against imagededup on the same pairs.

Positive pairs: each original with its copy re-encoded at JPEG quality 50, resized to half, cropped 8%,
brightened and darkened 20%, rotated 2 degrees, and with a small logo pasted. Negative pairs (hard): every
pair of different originals inside one room class of the Places365 room photos, and inside the LIVE photos.

The thresholds are chosen on the *tune* split (Places365 train photos, ``--tune-per-room`` per room) and
reported on the *test* split (the Places365 eval photos and the LIVE photos), which they never saw.
imagededup (PHash at Hamming 10, CNN at cosine 0.9) runs on the test split in its own virtual environment
(``--dedup-python``; scripts/measure_duplicates_imagededup.py); it is never a dependency of photoscore.

    .venv/bin/python scripts/measure_duplicates.py --work /tmp/dupmeasure

Photos are written under ``--work`` (never into the repository: Places365 is research-only).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("bathroom", "bedroom", "dining_room", "entrance_hall", "kitchen", "living_room")
DECODE_SIDE = 512  # the review decodes JPEGs at a reduced scale that still covers this


def reencode_q50(image: Image.Image, rng: random.Random) -> Image.Image:
    """Re-encoded as JPEG at quality 50."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=50)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def half_size(image: Image.Image, rng: random.Random) -> Image.Image:
    """Resized to half its width and height."""
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.LANCZOS)


def crop_8(image: Image.Image, rng: random.Random) -> Image.Image:
    """8% of the width and of the height cut off, split between the two sides at random."""
    cut_w, cut_h = round(image.width * 0.08), round(image.height * 0.08)
    left, top = rng.randint(0, cut_w), rng.randint(0, cut_h)
    return image.crop((left, top, left + image.width - cut_w, top + image.height - cut_h))


def brighter(image: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness +20%."""
    return ImageEnhance.Brightness(image).enhance(1.2)


def darker(image: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness -20%."""
    return ImageEnhance.Brightness(image).enhance(0.8)


def rotate_2(image: Image.Image, rng: random.Random) -> Image.Image:
    """Rotated 2 degrees (either way, at random), cropped to the largest rectangle of the same aspect
    that holds no corner fill, as an editor's straighten tool does."""
    angle = rng.choice((-2.0, 2.0))
    w, h = image.size
    c, s = np.cos(np.radians(abs(angle))), np.sin(np.radians(abs(angle)))
    scale = min(w / (w * c + h * s), h / (w * s + h * c))
    cw, ch = int(w * scale), int(h * scale)
    rotated = image.rotate(angle, Image.Resampling.BICUBIC)
    left, top = (w - cw) // 2, (h - ch) // 2
    return rotated.crop((left, top, left + cw, top + ch))


def logo(image: Image.Image, rng: random.Random) -> Image.Image:
    """A small agency logo (a fifth of the width, a dark box with white text) pasted in a corner."""
    out = image.copy()
    box_w, box_h = max(8, image.width // 5), max(4, image.height // 14)
    x = 8 if rng.random() < 0.5 else image.width - box_w - 8
    y = image.height - box_h - 8
    draw = ImageDraw.Draw(out)
    draw.rectangle((x, y, x + box_w, y + box_h), fill=(20, 40, 90), outline=(255, 255, 255))
    font = ImageFont.load_default(size=max(6, box_h * 2 // 3))
    draw.text((x + box_w // 2, y + box_h // 2), "ACME Homes", fill=(255, 255, 255), font=font, anchor="mm")
    return out


TRANSFORMS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "q50": reencode_q50,
    "half": half_size,
    "crop8": crop_8,
    "bright+20": brighter,
    "bright-20": darker,
    "rotate2": rotate_2,
    "logo": logo,
}


def prepare(work: Path, live: Path, rooms: Path, tune_per_room: int) -> list[dict]:
    """Write the originals (PNG, lossless) and their copies (JPEG quality 95, q50 at 50) under ``work``."""
    manifest_path = work / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    sources: list[tuple[str, str, list[Path]]] = [("test", "live", sorted((live / "images").iterdir()))]
    for room in ROOMS:
        sources.append(("test", f"eval-{room}", sorted((rooms / "eval" / room).iterdir())))
        train = sorted((rooms / "train" / room).iterdir())
        sources.append(("tune", f"train-{room}", random.Random(room).sample(train, tune_per_room)))
    entries = []
    for split, group, files in sources:
        folder = work / "images" / group
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:
            rng = random.Random(f"{group}/{file.name}")
            original = Image.open(file).convert("RGB")
            stem = file.stem
            path = folder / f"{stem}.png"
            original.save(path)
            entries.append(dict(split=split, group=group, source=stem, transform="original", path=str(path)))
            for name, transform in TRANSFORMS.items():
                path = folder / f"{stem}~{name}.jpg"
                transform(original, rng).save(path, quality=50 if name == "q50" else 95)
                entries.append(dict(split=split, group=group, source=stem, transform=name, path=str(path)))
    manifest_path.write_text(json.dumps(entries))
    return entries


def encode_ours(work: Path) -> None:
    """Digest, pHash and room-model embedding of every file (run in its own process for peak memory)."""
    from photoscore.images import load_photo
    from photoscore.review.duplicates import hash_to_hex, perceptual_hash, pixel_digest
    from photoscore.review.photo import PhotoView
    from photoscore.review.rooms import RoomModel

    entries = json.loads((work / "manifest.json").read_text())
    model = RoomModel()
    hashes, digests, embeddings = [], [], []
    decode_s = phash_s = digest_s = embed_s = 0.0
    batch: list[np.ndarray] = []

    def flush() -> None:
        nonlocal embed_s
        start = time.perf_counter()
        embeddings.append(model.predict(np.stack(batch)).embedding.astype(np.float32))
        embed_s += time.perf_counter() - start
        batch.clear()

    for entry in entries:
        start = time.perf_counter()
        view = PhotoView(load_photo(entry["path"], min_size=(DECODE_SIDE, DECODE_SIDE)))
        decode_s += time.perf_counter() - start
        start = time.perf_counter()
        hashes.append(hash_to_hex(perceptual_hash(view)))  # includes making the view's grey copy
        phash_s += time.perf_counter() - start
        start = time.perf_counter()
        digests.append(pixel_digest(view))
        digest_s += time.perf_counter() - start
        batch.append(model.preprocessing.to_array(view.photo.image))
        if len(batch) == 32:
            flush()
    if batch:
        flush()
    peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024  # not inherited
    np.save(work / "ours-embeddings.npy", np.concatenate(embeddings))
    timing = dict(
        decode_s=decode_s,
        phash_s=phash_s,
        digest_s=digest_s,
        embed_s=embed_s,
        peak_mib=peak,
        photos=len(entries),
    )
    (work / "ours.json").write_text(json.dumps(dict(hashes=hashes, digests=digests, timing=timing)))


def popcount64(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x.astype(np.uint64)).astype(np.int64)


def pairs_of(entries: list[dict], split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(first, second, is_duplicate, transform name or "distinct") over the split's pairs."""
    rows = [(i, e) for i, e in enumerate(entries) if e["split"] == split]
    originals: dict[str, list[int]] = {}
    index_of = {}
    for i, e in rows:
        index_of[(e["group"], e["source"], e["transform"])] = i
        if e["transform"] == "original":
            originals.setdefault(e["group"], []).append(i)
    first, second, kinds = [], [], []
    for i, e in rows:
        if e["transform"] != "original":
            first.append(index_of[(e["group"], e["source"], "original")])
            second.append(i)
            kinds.append(e["transform"])
    for members in originals.values():
        a, b = np.triu_indices(len(members), k=1)
        first.extend(np.asarray(members)[a])
        second.extend(np.asarray(members)[b])
        kinds.extend(["distinct"] * len(a))
    kinds_arr = np.asarray(kinds)
    return np.asarray(first), np.asarray(second), kinds_arr != "distinct", list(kinds_arr)


def precision_recall(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, int, int]:
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / int(truth.sum()), tp, fp


def choose_rule(
    distance: np.ndarray, similarity: np.ndarray, truth: np.ndarray, min_recall: float
) -> tuple[float, float, int, float, float]:
    """The rule (T1, H, T2) of the widest margin on the tune pairs among those that pair no distinct photos
    and find at least ``min_recall`` of the copies; the margin is how far T1 sits above every distinct
    pair's cosine, and T2 above those of the distinct pairs within hash distance H. Ties: higher recall.

    Returns (margin, recall, T1, H, T2)."""
    distinct = similarity[~truth]
    best = None
    for h in range(0, 33, 2):
        within = similarity[~truth & (distance <= h)]
        top_within = within.max() if within.size else -1.0
        for t1 in np.round(np.arange(0.80, 0.99, 0.01), 2):
            for t2 in np.round(np.arange(0.50, t1 + 0.001, 0.01), 2):
                predicted = (similarity >= t1) | ((distance <= h) & (similarity >= t2))
                if np.any(predicted & ~truth):
                    continue
                recall = float(np.mean(predicted[truth]))
                margin = round(float(min(t1 - distinct.max(), t2 - top_within)), 3)
                if recall >= min_recall and (best is None or (margin, recall) > best[:2]):
                    best = (margin, recall, float(t1), h, float(t2))
    if best is None:
        raise SystemExit(f"no rule reaches recall {min_recall} without a false pair on the tune split")
    return best


def run_imagededup(work: Path, python: str, method: str) -> dict:
    helper = REPO / "scripts" / "measure_duplicates_imagededup.py"
    subprocess.run([python, str(helper), "--work", str(work), "--method", method], check=True)
    return json.loads((work / f"imagededup-{method}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", nargs="?", default="all", choices=("all", "encode"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dupmeasure"))
    parser.add_argument("--live", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--rooms", type=Path, default=Path("/work/data/rooms"))
    parser.add_argument("--tune-per-room", type=int, default=200)
    parser.add_argument(
        "--min-recall", type=float, default=0.99, help="recall the chosen rule must reach on the tune split"
    )
    parser.add_argument("--dedup-python", default="/tmp/venv-dedup/bin/python")
    parser.add_argument("--skip-imagededup", action="store_true")
    args = parser.parse_args()
    if args.step == "encode":
        encode_ours(args.work)
        return

    start = time.perf_counter()
    entries = prepare(args.work, args.live, args.rooms, args.tune_per_room)
    print(f"{len(entries)} files under {args.work} ({time.perf_counter() - start:.0f} s)")
    if not (args.work / "ours.json").is_file():
        subprocess.run([sys.executable, __file__, "encode", "--work", str(args.work)], check=True)
    ours = json.loads((args.work / "ours.json").read_text())
    hashes = np.array([int(h, 16) for h in ours["hashes"]], dtype=np.uint64)
    digests = np.asarray(ours["digests"])
    embeddings = np.load(args.work / "ours-embeddings.npy")

    from photoscore.review.duplicates import DEFAULT_RULE

    def features(split: str):
        a, b, truth, kinds = pairs_of(entries, split)
        distance = popcount64(hashes[a] ^ hashes[b])
        similarity = np.einsum("ij,ij->i", embeddings[a], embeddings[b])
        return a, b, truth, kinds, distance, similarity

    _, _, truth, _, distance, similarity = features("tune")
    print(f"tune: {truth.sum()} duplicate pairs, {(~truth).sum()} distinct pairs")
    margin, recall, t1, h, t2 = choose_rule(distance, similarity, truth, args.min_recall)
    print(f"chosen on tune (no false pair, recall >= {args.min_recall}, widest margin {margin}):")
    print(
        f"  NearDuplicateRule(similarity={t1}, hash_distance={h}, hash_similarity={t2}), tune recall {recall:.4f}"
    )
    rule = DEFAULT_RULE
    print(f"rule in photoscore: {rule}")

    a, b, truth, kinds, distance, similarity = features("test")
    names = [Path(e["path"]).name for e in entries]
    groups = [e["group"] for e in entries]
    print(f"test: {truth.sum()} duplicate pairs, {(~truth).sum()} distinct pairs")
    exact = digests[a] == digests[b]
    predictions = {
        "photoscore (rule)": exact
        | np.array([rule.matches(d, s) for d, s in zip(distance, similarity, strict=True)]),
        "photoscore cosine only (>= T1)": exact | (similarity >= rule.similarity),
        "photoscore pHash only (<= 10)": exact | (distance <= 10),
    }
    timings = {"photoscore (rule)": ours["timing"]}
    if not args.skip_imagededup:
        for method, label in (("phash", "imagededup PHash (<= 10)"), ("cnn", "imagededup CNN (>= 0.9)")):
            result = run_imagededup(args.work, args.dedup_python, method)
            found = {
                (g, n, d) for g, dups in result["duplicates"].items() for n, ds in dups.items() for d in ds
            }
            predictions[label] = np.array(
                [(groups[i], names[i], names[j]) in found for i, j in zip(a, b, strict=True)]
            )
            timings[label] = result["timing"]
        agreement = run_imagededup(args.work, args.dedup_python, "imagehash")
        theirs = agreement["hashes"]
        gap = [
            bin(int(ours["hashes"][i], 16) ^ int(theirs[e["path"]], 16)).count("1")
            for i, e in enumerate(entries)
            if e["path"] in theirs
        ]
        print(
            f"pHash agreement with imagehash.phash over {len(gap)} files: identical {np.mean(np.equal(gap, 0)):.3f},"
            f" <= 2 bits {np.mean(np.less_equal(gap, 2)):.3f}, mean {np.mean(gap):.2f} bits;"
            f" imagehash {agreement['timing']['per_photo_ms']:.2f} ms/photo (decoded image in memory)"
        )
    print(
        "\n| method | precision | recall | TP | FP | " + " | ".join(f"recall {t}" for t in TRANSFORMS) + " |"
    )
    print("|---" * (5 + len(TRANSFORMS)) + "|")
    kinds_arr = np.asarray(kinds)
    for label, predicted in predictions.items():
        precision, recall, tp, fp = precision_recall(predicted, truth)
        per = [f"{predicted[kinds_arr == t].mean():.3f}" for t in TRANSFORMS]
        print(f"| {label} | {precision:.4f} | {recall:.4f} | {tp} | {fp} | " + " | ".join(per) + " |")
    print("\ntimings (test split for imagededup; both splits for photoscore):")
    for label, timing in timings.items():
        print(f"  {label}: {json.dumps(timing)}")
    for label in ("photoscore (rule)",):
        predicted = predictions[label]
        wrong = np.flatnonzero(predicted & ~truth)[:10]
        for k in wrong:
            print(
                f"  false pair: {entries[a[k]]['path']} ~ {entries[b[k]]['path']}"
                f" distance {distance[k]} cosine {similarity[k]:.3f}"
            )
        missed = np.flatnonzero(~predicted & truth)
        print(
            f"  missed {len(missed)}; worst: "
            + ", ".join(
                f"{kinds[k]} d={distance[k]} c={similarity[k]:.3f}"
                for k in missed[np.argsort(similarity[missed])[:10]]
            )
        )


if __name__ == "__main__":
    main()
