"""Training speed: glibc allocator fix on/off, and phase 1 with cached features vs recomputing them.

Usage: python scripts/benchmark_training.py [--steps 6] [--epochs 10] [--photos-per-scene 4]

1. Allocator: all-layers training steps (EfficientNet-Lite0, batch 16, 224 px) in fresh processes with and
   without `keep_freed_memory()`, alternated, median step time of each.
2. Feature cache: phase 1 (head only) for --epochs epochs on a labelled blur set made from scikit-image
   photos, with `cache_features` on (no augmentation) and off (the backbone runs every epoch, with the
   original crop + flip augmentation): wall time of the phase and the best validation EMD / SRCC.
Figures are ratios within one run; this machine's speed drifts.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP_SCRIPT = """
import statistics, sys, time, torch
from photoscore.training.runtime import keep_freed_memory
if sys.argv[1] == "fix":
    keep_freed_memory()
from photoscore.training.losses import emd_loss
from photoscore.training.nima import NimaNet
net = NimaNet.build("EfficientNetLite0", weights="offline").train()
optimizer = torch.optim.Adam(net.parameters(), lr=3e-5)
images, labels = torch.randn(16, 3, 224, 224), torch.softmax(torch.randn(16, 10), 1)
times = []
for _ in range(int(sys.argv[2]) + 1):
    start = time.perf_counter()
    loss = emd_loss(labels, net.distribution(images))
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    times.append(time.perf_counter() - start)
print(statistics.median(times[1:]))
"""


def step_time(mode: str, steps: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", STEP_SCRIPT, mode, str(steps)], capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def phase_one(labels: Path, images: Path, jobs: Path, cache: bool, epochs: int) -> tuple[float, dict]:
    from photoscore.training.config import TrainConfig
    from photoscore.training.train import start_training

    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", batch_size=16, epochs_train_dense=epochs,
        epochs_train_all=0, cache_features=cache, img_format="jpg", validation_fraction=0.2, seed=7,
    )  # fmt: skip
    start = time.perf_counter()
    job = start_training(config, labels, images, jobs)
    seconds = time.perf_counter() - start
    rows = list(csv.DictReader((job.root / "metrics.csv").open()))
    best = min(rows, key=lambda r: float(r["val_emd"]))
    return seconds, {"val_emd": float(best["val_emd"]), "val_srcc": float(best["val_srcc"])}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--photos-per-scene", type=int, default=4)
    parser.add_argument("--skip-allocator", action="store_true")
    args = parser.parse_args()
    if not args.skip_allocator:
        allocator(args.steps)
    feature_cache(args.epochs, args.photos_per_scene)


def allocator(steps: int) -> None:
    times: dict[str, list[float]] = {"default": [], "fix": []}
    for _ in range(2):
        for mode in times:
            times[mode].append(step_time(mode, steps))
    default, fixed = (statistics.median(times[m]) for m in ("default", "fix"))
    print(f"all-layers step, batch 16: glibc default {default:.2f} s, allocator fix {fixed:.2f} s "
          f"-> {default / fixed:.2f}x  (runs: {json.dumps(times)})")  # fmt: skip


def feature_cache(epochs: int, photos_per_scene: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import make_blur_set

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenes = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field", "retina")
        labels = make_blur_set(root / "images", scenes, crops=photos_per_scene, seed=0)
        cached = phase_one(labels, root / "images", root / "jobs", True, epochs)
        recomputed = phase_one(labels, root / "images", root / "jobs", False, epochs)
    print(f"phase 1, {epochs} epochs: cached features {cached[0]:.1f} s {cached[1]}, "
          f"recomputed every epoch {recomputed[0]:.1f} s {recomputed[1]} -> {recomputed[0] / cached[0]:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
