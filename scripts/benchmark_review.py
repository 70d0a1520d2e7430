"""Benchmark `review` against `score` on the same photos: photos/s of each and their ratio, in one run.

Usage: python scripts/benchmark_review.py [--photos N] [--rounds R] [--listing-size K] [--large [WxH]]

Both use the bundled default model. Photos: LIVE In the Wild photos (../shared/data/livec, 500x500) in
listing folders of K photos; with --large each is first enlarged to 2000x1500 (or WxH, e.g. 4032x3024,
a 12 MP phone photo) and saved as a JPEG at quality 90, the size of the photos hosts upload, so the
reduced JPEG decode is measured too.
Rounds alternate the two; medians are reported, since this machine's speed drifts and only ratios
within one run are trustworthy. The review's target is at least 0.6 of score's photos/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from PIL import Image

from photoscore.review.reviewer import Reviewer
from photoscore.review.rooms import RoomModel
from photoscore.scoring.engine import Scorer
from photoscore.scoring.registry import default_model

REPO = Path(__file__).resolve().parents[1]
LIVEC = REPO.parent / "shared" / "data" / "livec" / "images"
BENCH_DIR = REPO / "build" / "bench"


def prepare_listings(count: int, listing_size: int, large: tuple[int, int] | None) -> list[Path]:
    """``count`` photos in folders of ``listing_size`` (one folder per listing), enlarged to ``large``."""
    root = BENCH_DIR / f"review-{count}-{listing_size}{f'-{large[0]}x{large[1]}' if large else ''}"
    sources = sorted(LIVEC.iterdir())
    files = []
    for i in range(count):
        folder = root / f"listing-{i // listing_size:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        source = sources[i % len(sources)]
        target = folder / (f"{i:05d}.jpg" if large else f"{i:05d}{source.suffix}")
        if not target.exists():
            if large:
                Image.open(source).convert("RGB").resize(large, Image.BICUBIC).save(target, quality=90)
            else:
                target.write_bytes(source.read_bytes())
        files.append(target)
    return files


def score_rate(scorer: Scorer, files: list[Path]) -> float:
    start = time.perf_counter()
    assert all(r.ok for r in scorer.score(files))
    return len(files) / (time.perf_counter() - start)


def review_rate(reviewer: Reviewer, files: list[Path]) -> float:
    start = time.perf_counter()
    reviewed = sum(len(listing.photos) for listing in reviewer.review(files))
    assert reviewed == len(files)
    return len(files) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--listing-size", type=int, default=20)
    parser.add_argument(
        "--large", nargs="?", const="2000x1500", help="enlarge the photos to WxH JPEGs [2000x1500]"
    )
    args = parser.parse_args()
    large = tuple(int(side) for side in args.large.split("x")) if args.large else None
    files = prepare_listings(args.photos, args.listing_size, large)  # type: ignore[arg-type]
    scorer = Scorer([default_model()])
    reviewer = Reviewer(scorer, rooms=RoomModel())
    rates: dict[str, list[float]] = {"score": [], "review": []}
    for _ in range(args.rounds):
        rates["score"].append(score_rate(scorer, files))
        rates["review"].append(review_rate(reviewer, files))
    median = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{len(files)} photos{f' ({args.large} JPEG)' if args.large else ''}, {args.rounds} rounds")
    for name, values in rates.items():
        print(
            f"  {name:6s} median {median[name]:6.1f} photos/s  (rounds: {', '.join(f'{v:.1f}' for v in values)})"
        )
    print(f"review / score = {median['review'] / median['score']:.2f}")


if __name__ == "__main__":
    main()
