"""Benchmark `photoscore score`: end-to-end rate next to decode-only and model-only rates, in one run.

Usage: python scripts/benchmark_score.py [--photos N] [--rounds R] [--batch-size B] [--model FILE]

Photos are 500x500: LIVE In the Wild photos from ../shared/data/livec when present, else scikit-image
samples resized to 500x500. Without --model, an EfficientNet-Lite0 NIMA model is exported once to
build/bench/ (needs the train extra). Rounds interleave the three measurements; medians are reported,
since this machine's speed drifts over time and only ratios within one run are trustworthy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from photoscore.images import find_images, load_image
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel

REPO = Path(__file__).resolve().parents[1]
LIVEC = REPO.parent / "shared" / "data" / "livec" / "images"
BENCH_DIR = REPO / "build" / "bench"


def prepare_photos(count: int) -> Path:
    """A folder of `count` 500x500 photos."""
    folder = BENCH_DIR / f"photos-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(LIVEC.iterdir())[:count] if LIVEC.is_dir() else []
    if not sources:
        from skimage import data

        arrays = [getattr(data, n)() for n in ("chelsea", "coffee", "astronaut", "rocket")]
        base = [Image.fromarray(a).convert("RGB").resize((500, 500)) for a in arrays]
    for i in range(count):
        if sources:
            src = sources[i % len(sources)]
            (folder / f"{i:05d}{src.suffix}").write_bytes(src.read_bytes())
        else:
            base[i % len(base)].rotate(i % 360).save(folder / f"{i:05d}.jpg", quality=90)
    return folder


def default_model() -> Path:
    path = BENCH_DIR / "efficientnet-lite0.onnx"
    if not path.exists():
        from photoscore.training.export import build_and_export

        build_and_export(path, backbone="EfficientNetLite0", weights="offline", name="bench-lite0")
    return path


def decode_rate(files: list[Path], model: OnnxNimaModel, workers: int) -> float:
    """Photos/s of decoding + preprocessing alone, on the same thread pool size as the engine."""
    prep = model.card.preprocessing
    size = (max(prep.decode_size),) * 2

    def decode(path: Path) -> np.ndarray:
        return prep.to_array(load_image(path, min_size=size))

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(decode, files):
            pass
    return len(files) / (time.perf_counter() - start)


def model_rate(batches: list[np.ndarray], model: OnnxNimaModel) -> float:
    """Photos/s of ONNX Runtime alone on pre-decoded batches."""
    start = time.perf_counter()
    for batch in batches:
        model.predict(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def engine_rate(files: list[Path], model: OnnxNimaModel, batch_size: int, workers: int) -> float:
    """Photos/s of the Scorer, decoding overlapped with inference."""
    start = time.perf_counter()
    scored = sum(r.error is None for r in Scorer([model], batch_size, workers).score(files))
    assert scored == len(files)
    return len(files) / (time.perf_counter() - start)


def cli_rate(folder: Path, model_path: Path, count: int, batch_size: int) -> float:
    """Photos/s of the `photoscore score` command, process start and model load included."""
    start = time.perf_counter()
    out = BENCH_DIR / "cli-scores.json"
    cmd = [sys.executable, "-m", "photoscore", "score", str(folder), "-m", str(model_path)]
    cmd += ["--batch-size", str(batch_size), "-o", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()

    folder = prepare_photos(args.photos)
    files = list(find_images([folder]))
    model_path = args.model or default_model()
    model = OnnxNimaModel(model_path)
    prep = model.card.preprocessing
    arrays = [prep.to_array(load_image(f)) for f in files]
    batches = [np.stack(arrays[i : i + args.batch_size]) for i in range(0, len(arrays), args.batch_size)]
    model.predict(batches[0])  # warm-up

    rates: dict[str, list[float]] = {"decode": [], "model": [], "engine": [], "cli": []}
    for _ in range(args.rounds):
        rates["decode"].append(decode_rate(files, model, args.workers))
        rates["model"].append(model_rate(batches, model))
        rates["engine"].append(engine_rate(files, model, args.batch_size, args.workers))
        rates["cli"].append(cli_rate(folder, model_path, len(files), args.batch_size))
    median = {k: statistics.median(v) for k, v in rates.items()}
    bound = min(median["decode"], median["model"])
    print(f"{len(files)} photos from {folder}, model {model.name} {prep.input_size}, {args.rounds} rounds")
    for name, values in rates.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:7s} median {median[name]:7.1f} photos/s  (rounds: {shown})")
    print(f"engine / min(decode, model) = {median['engine'] / bound:.2f}")
    print(
        f"cli    / min(decode, model) = {median['cli'] / bound:.2f}  (includes process start and model load)"
    )


if __name__ == "__main__":
    main()
