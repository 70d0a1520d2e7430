"""Measure the listing review's per-photo checks on real photos (issue 22).

    .venv/bin/python scripts/measure_review_checks.py [--livec DIR] [--rooms DIR] [--blur DIR] [--only PART]

Parts (all by default):
- tilt: upright photos (LIVE, Places365 rooms) rotated by known angles ±1..±10° and centre-cropped so no
  corner is blank: mean absolute error where a verdict is given, the share given one, and the share
  of the photos as taken that read as tilted (at several thresholds);
- blur: the 200 labelled photos of blur-detection-using-cnn: agreement of the focus measure and of the
  bundled technical model's score with the labels, over thresholds;
- exposure: the share of LIVE and room photos each check fails, and agreement with photos judged by eye;
- cost: milliseconds per photo of all checks together on a 500x500 and a 4000x3000 photo.

The Places365 and blur photos are for measurement only: never commit them.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from photoscore.images import Photo, find_images, load_photo, load_photo_bytes
from photoscore.review import checks, tilt
from photoscore.review.photo import CheckResult, PhotoView

REPO = Path(__file__).resolve().parents[1]
MIN_SIZE = (500, 500)
ANGLES = [a for step in range(1, 11) for a in (step, -step)]
ANGLES_PER_PHOTO = 4
TILT_THRESHOLDS = (2.0, 2.5, 3.0, 4.0)

# LIVE photos judged by eye among the 36 with the lowest 99th percentile of brightness and the 30 with
# the most clipped highlights (contact sheets looked at while choosing the thresholds): too dark /
# overexposed for a listing, and those that look well enough exposed.
EYE_DARK = {
    "213.webp", "133.webp", "116.webp", "38.webp", "598.jpg", "263.webp", "411.webp", "701.jpg", "200.webp",
    "815.jpg", "696.jpg", "100.webp", "207.webp", "540.jpg", "603.jpg", "597.jpg", "303.webp", "818.jpg",
    "378.webp", "134.webp",
}  # fmt: skip
EYE_NOT_DARK = {
    "82.webp", "176.webp", "636.jpg", "245.webp", "706.jpg", "834.jpg", "699.jpg", "84.webp", "619.jpg",
    "747.jpg", "557.jpg", "289.webp", "763.jpg", "470.webp", "856.jpg", "306.webp",
}  # fmt: skip
EYE_OVEREXPOSED = {"7.webp", "142.webp", "58.webp", "895.jpg", "246.webp", "961.jpg"}
EYE_NOT_OVEREXPOSED = {
    "76.webp", "347.webp", "68.webp", "429.webp", "271.webp", "1063.jpg", "998.jpg", "16.webp", "513.webp",
    "684.jpg", "658.jpg", "410.webp", "215.webp", "552.jpg", "206.webp", "64.webp", "331.webp", "853.jpg",
    "869.jpg", "205.webp", "828.jpg", "783.jpg", "1025.jpg", "219.webp",
}  # fmt: skip


def view_of(path: Path) -> PhotoView:
    return PhotoView(load_photo(path, MIN_SIZE))


def view_of_image(image: Image.Image, quality: int = 92) -> PhotoView:
    """The image as the review sees an uploaded JPEG of it."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return PhotoView(load_photo_bytes(buffer.getvalue(), "variant.jpg", MIN_SIZE))


def rotate_and_crop(image: Image.Image, angle: float) -> Image.Image:
    """``image`` turned ``angle`` degrees counter-clockwise, cropped to the largest centred rectangle of
    its aspect ratio with no blank corner."""
    width, height = image.size
    a = math.radians(abs(angle))
    scale = min(
        width / (width * math.cos(a) + height * math.sin(a)),
        height / (width * math.sin(a) + height * math.cos(a)),
    )
    crop_w, crop_h = int(width * scale), int(height * scale)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    turned = image.rotate(angle, resample=Image.Resampling.BICUBIC)
    return turned.crop((left, top, left + crop_w, top + crop_h))


def measure_tilt(sets: dict[str, list[Path]]) -> None:
    print("\n## Tilt (rotated by known angles, centre-cropped; JPEG q92)")
    print(f"threshold {tilt.MAX_TILT}°, {ANGLES_PER_PHOTO} angles per photo cycling over ±1..±10°")
    for name, paths in sets.items():
        upright, errors, relative, by_angle, given = [], [], [], {}, 0
        for index, path in enumerate(paths):
            view = view_of(path)
            original = tilt.estimate_tilt(view)
            upright.append(original)
            for k in range(ANGLES_PER_PHOTO):
                angle = ANGLES[(ANGLES_PER_PHOTO * index + k) % len(ANGLES)]
                estimate = tilt.estimate_tilt(view_of_image(rotate_and_crop(view.photo.image, angle)))
                by_angle.setdefault(abs(angle), []).append(estimate)
                if estimate is None:
                    continue
                given += 1
                errors.append(abs(estimate - angle))
                if original is not None:
                    relative.append(abs(estimate - original - angle))
        read = np.array([abs(u) for u in upright if u is not None])
        rotated = len(paths) * ANGLES_PER_PHOTO
        print(f"\n{name}: {len(paths)} photos, {rotated} rotated copies")
        print(f"  rotated: verdict on {given / rotated:.1%}; MAE vs the known angle {np.mean(errors):.2f}° "
              f"(median {np.median(errors):.2f}°, p90 {np.percentile(errors, 90):.2f}°); "
              f"MAE vs angle + the original's reading {np.mean(relative):.2f}°")  # fmt: skip
        shares = ", ".join(f">{t:g}°: {(read > t).sum() / len(paths):.1%}" for t in TILT_THRESHOLDS)
        print(f"  as taken: verdict on {len(read) / len(paths):.1%}; read as tilted {shares}")
        caught = [
            f"{a}°: {np.mean([abs(e) > tilt.MAX_TILT for e in est if e is not None]):.0%}"
            for a, est in sorted(by_angle.items())
        ]
        print(
            f"  rotated copies with a verdict called tilted (> {tilt.MAX_TILT}°), by |angle|: {', '.join(caught)}"
        )


def accuracy_table(values: np.ndarray, sharp: np.ndarray, thresholds: Iterable[float], unit: str) -> None:
    for t in thresholds:
        verdict = values >= t
        print(f"  {unit} >= {t:g}: agreement {np.mean(verdict == sharp):.1%}, "
              f"blurry caught {np.mean(~verdict[~sharp]):.0%}, sharp passed {np.mean(verdict[sharp]):.0%}")  # fmt: skip


def _auc(values: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive's value exceeds a negative's (ties count half)."""
    pos, neg = values[positive][:, None], values[~positive][None, :]
    return float(np.mean(pos > neg) + 0.5 * np.mean(pos == neg))


def technical_scores(paths: list[Path]) -> np.ndarray:
    from photoscore.scoring.engine import Scorer
    from photoscore.scoring.registry import default_model

    return np.array([r.mean_score_prediction for r in Scorer([default_model()]).score(paths)], dtype=float)


def measure_blur(blur_dir: Path, others: dict[str, list[Path]]) -> None:
    print("\n## Blur (blur-detection-using-cnn: 100 blurred, 100 sharp)")
    rows = list(csv.DictReader((blur_dir / "metadata.csv").open()))
    paths = [blur_dir / "Images" / r["filename"] for r in rows]
    sharp = np.array([r["label"] == "1" for r in rows])
    focus = np.array([checks.focus_measure(view_of(p)) for p in paths])
    print(f"focus measure: blurred max {focus[~sharp].max():.1f}, sharp min {focus[sharp].min():.1f} "
          f"(medians {np.median(focus[~sharp]):.1f} / {np.median(focus[sharp]):.1f})")  # fmt: skip
    accuracy_table(focus, sharp, (50, 100, 130, checks.MIN_FOCUS, 150, 200), "focus")
    scores = technical_scores(paths)
    print(f"technical model: blurred {np.median(scores[~sharp]):.2f} median (max {scores[~sharp].max():.2f}), "
          f"sharp {np.median(scores[sharp]):.2f} median (min {scores[sharp].min():.2f})")  # fmt: skip
    print(f"AUC: focus measure {_auc(focus, sharp):.3f}, technical score {_auc(scores, sharp):.3f}")
    accuracy_table(scores, sharp, np.arange(3.0, 6.5, 0.25), "score")
    either = (scores >= checks.MIN_TECHNICAL_SCORE) & (focus >= checks.MIN_FOCUS)
    print(f"  either blurry (score < {checks.MIN_TECHNICAL_SCORE:g} or focus < {checks.MIN_FOCUS:g}): "
          f"agreement {np.mean(either == sharp):.1%}")  # fmt: skip
    for name, group in others.items():
        focus = np.array([checks.focus_measure(view_of(p)) for p in group])
        scores = technical_scores(group)
        low, blurry = scores < checks.MIN_TECHNICAL_SCORE, focus < checks.MIN_FOCUS
        print(f"{name}: failing sharpness: by the score < {checks.MIN_TECHNICAL_SCORE:g} {np.mean(low):.1%} "
              f"(median score {np.median(scores):.2f}), by the focus measure < {checks.MIN_FOCUS:g} "
              f"{np.mean(blurry):.1%}, by either {np.mean(low | blurry):.1%}")  # fmt: skip


PIXEL_CHECKS: dict[str, Callable[[PhotoView], CheckResult]] = {
    "dark": checks.check_dark,
    "overexposed": checks.check_overexposed,
    "contrast": checks.check_contrast,
    "low_information": checks.check_low_information,
    "black_and_white": checks.check_black_and_white,
    "borders": checks.check_borders,
    "tilt": tilt.check_tilt,
}


def measure_exposure(sets: dict[str, list[Path]]) -> None:
    print("\n## Pixel checks: share of photos failing each")
    for name, paths in sets.items():
        results = {p.name: {k: check(view_of(p)) for k, check in PIXEL_CHECKS.items()} for p in paths}
        shares = ", ".join(
            f"{k} {np.mean([r[k].failed for r in results.values()]):.1%}" for k in PIXEL_CHECKS
        )
        print(f"{name} ({len(paths)} photos): {shares}")
        if name == "LIVE":
            agreement(results, "dark", EYE_DARK, EYE_NOT_DARK)
            agreement(results, "overexposed", EYE_OVEREXPOSED, EYE_NOT_OVEREXPOSED)


def agreement(results: dict[str, dict[str, CheckResult]], check: str, yes: set[str], no: set[str]) -> None:
    failed = {name for name, r in results.items() if r[check].failed}
    others = failed - yes - no
    print(f"  {check} vs eye: {len(failed & yes)}/{len(yes)} judged {check} fail, {len(failed & no)}/{len(no)} "
          f"judged fine fail; {len(others)} other LIVE photos fail ({', '.join(sorted(others)) or 'none'})")  # fmt: skip


def all_checks(view: PhotoView) -> list[CheckResult]:
    return [
        checks.check_size(view),
        checks.check_orientation(view),
        checks.check_aspect(view),
        checks.check_sharpness(checks.focus_measure(view), 6.0),
        *(check(view) for check in PIXEL_CHECKS.values()),
    ]


def measure_cost(photo: Path, photos: list[Path], repeats: int = 30) -> None:
    print("\n## Cost per photo (one thread; decode with min_size 500x500 as the review does)")
    start = time.perf_counter()
    scored = len(technical_scores(photos))
    print(f"reference, plain scoring with the bundled model (all threads): {scored / (time.perf_counter() - start):.0f} "
          f"photos/s on {scored} LIVE photos")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "4000x3000.jpg"
        Image.open(photo).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(big, quality=90)
        for path, label in ((photo, "500x500"), (big, "4000x3000")):
            decode = _best_ms(lambda path=path: load_photo(path, MIN_SIZE), repeats)
            loaded = load_photo(path, MIN_SIZE)
            total = _best_ms(lambda loaded=loaded: all_checks(PhotoView(loaded)), repeats)
            split = ", ".join(f"{k} {ms:.2f}" for k, ms in _cost_per_check(loaded, repeats).items())
            print(f"{label} (decoded at {loaded.image.size[0]}x{loaded.image.size[1]}): all checks {total:.1f} ms "
                  f"(decode {decode:.1f} ms); per check: {split} (the checks on analysis copies already made)")  # fmt: skip


def _cost_per_check(photo: Photo, repeats: int) -> dict[str, float]:
    """Milliseconds of making the analysis copies, then of each check on them once made."""
    view = PhotoView(photo)
    view.luma  # noqa: B018  (made once, as the review's first check makes them)
    parts: dict[str, Callable[[], object]] = {"analysis copies": lambda: PhotoView(photo).luma}
    parts.update({k: (lambda c=c: c(view)) for k, c in PIXEL_CHECKS.items()})
    parts["sharpness"] = lambda: checks.check_sharpness(checks.focus_measure(view), 6.0)
    return {k: _best_ms(work, repeats) for k, work in parts.items()}


def _best_ms(work: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` timings, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec" / "images")
    parser.add_argument("--rooms", type=Path, default=Path("/work/data/rooms/eval"))
    parser.add_argument("--blur", type=Path, default=Path("/work/data/blur"))
    parser.add_argument("--only", choices=("tilt", "blur", "exposure", "cost"))
    args = parser.parse_args()
    sets = {
        "LIVE": sorted(find_images([args.livec])),
        "rooms": sorted(find_images([args.rooms], recursive=True)),
    }
    print(f"photos: LIVE {len(sets['LIVE'])}, Places365 rooms {len(sets['rooms'])}")
    if args.only in (None, "cost"):
        measure_cost(sets["LIVE"][0], sets["LIVE"][:64])
    if args.only in (None, "exposure"):
        measure_exposure(sets)
    if args.only in (None, "blur"):
        measure_blur(args.blur, sets)
    if args.only in (None, "tilt"):
        measure_tilt(sets)


if __name__ == "__main__":
    main()
