"""A larger centre crop of the same 500x500 view (more of the photo seen at the same resolution, for
(size/224)^2 of the network's compute, one pass), and larger backbones for about the same compute.

    cd recipes/biq_technical && PYTHONPATH=../../src nice -n 5 python levers_size.py 3 OUT.json

Same selection photos, head, folds and seeds as levers_small.py (LIVE folds 1-3 by CV, the BIQ2021 Train
validation photos; the held-back sets are not read). Features of centre crops of the photo squashed to
500x500 are extracted here (all feature levels; global pooling takes any input size) and cached beside
levers.py's: Lite0 at 256, 288 and 320, EfficientNet-Lite1 at 240 and 272, Lite2 at 260 (offline
ImageNet weights). Cost: published multiply-adds against Lite0 at 224 (407M): Lite1 at 240 631M, Lite2
at 260 899M, scaled by area for other sizes."""

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, ".")
import levers as L

from photoscore.images import load_image
from photoscore.labels import image_path
from photoscore.training.nima import NimaNet

BACKBONES = {  # cache name: (backbone, centre crop sizes, multiply-adds at its own size / Lite0's at 224)
    "sizes": ("EfficientNetLite0", (256, 288, 320), 1.0, 224),
    "lite1": ("EfficientNetLite1", (240, 272), 631 / 407, 240),
    "lite2": ("EfficientNetLite2", (260,), 899 / 407, 260),
}
IMAGES = {"live": Path("/work/shared/data/livec/images"), "biq": Path("/work/data/BIQ2021/Images")}


def extract_sizes(entries, images: Path, target: Path, backbone: str, sizes: tuple[int, ...]) -> np.ndarray:
    """(N, len(sizes), F): ``backbone``'s features of the centre crops of the 500x500 view; cached in
    ``target``."""
    ids = [e.image_id for e in entries]
    ids_file = target.with_suffix(".ids.json")
    if target.is_file() and json.loads(ids_file.read_text()) == ids:
        return np.load(target)
    net = NimaNet.build(backbone, weights="offline", feature_levels="all").eval()
    net.to(memory_format=torch.channels_last)
    view = net.preprocessing.model_copy(update={"input_size": (L.VIEW, L.VIEW), "resize": "squash",
                                                "crop_from": None})  # fmt: skip
    chunks, started = [], time.monotonic()
    for start in range(0, len(entries), 16):
        photos = [view.to_array(load_image(image_path(images, e.image_id), min_size=(L.VIEW, L.VIEW)))
                  for e in entries[start : start + 16]]  # fmt: skip
        per_size = []
        for size in sizes:
            top = (L.VIEW - size) // 2
            crops = np.stack([p[:, top : top + size, top : top + size] for p in photos])
            with torch.inference_mode():
                per_size.append(
                    net.features(
                        torch.from_numpy(crops).contiguous(memory_format=torch.channels_last)
                    ).numpy()
                )
        chunks.append(np.stack(per_size, axis=1))
        if (start // 16) % 20 == 0:
            logging.info("%s: %d/%d, %.1f photos/s", target.name, start + len(photos), len(entries),
                         (start + len(photos)) / (time.monotonic() - started))  # fmt: skip
    features = np.concatenate(chunks).astype(np.float32)
    np.save(target, features)
    ids_file.write_text(json.dumps(ids))
    return features


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    seeds, out = int(sys.argv[1]), Path(sys.argv[2])
    data, f224 = L.cached_selection()
    cache = Path("/work/data/tech3")
    variants = {"Lite0 centre224 (today)": (1.0, {p: f224[p][:, 0] for p in data})}
    for cache_name, (backbone, sizes, cost, native) in BACKBONES.items():
        sized = {part: extract_sizes(entries, IMAGES["live" if part.startswith("live") else "biq"],
                                     cache / f"{part}_{cache_name}.npy", backbone, sizes)
                 for part, entries in data.items()}  # fmt: skip
        for i, size in enumerate(sizes):
            variants[f"{backbone[-5:]} centre{size}"] = (
                round(cost * (size / native) ** 2, 2),
                {p: sized[p][:, i] for p in data},
            )
    torch.set_num_threads(1)
    y = {p: L.labels_of(e) for p, e in data.items()}
    buckets = L.BUCKETS.numpy()
    results = {}
    for name, (cost, f) in variants.items():
        rows = {f"live{k}": [] for k in (1, 2, 3)} | {"biq_val": []}
        for seed in range(seeds):
            for k in (1, 2, 3):
                train = [f"live{i}" for i in (1, 2, 3) if i != k] + ["biq_train"]
                group = np.concatenate([np.full(len(y[p]), p.startswith("live"), np.int64) for p in train])
                predict = L.train_head(np.concatenate([f[p] for p in train]),
                                       np.concatenate([y[p] for p in train]), group, L.Lever(crops="mean5"), seed, 15)  # fmt: skip
                for part in (f"live{k}", "biq_val"):
                    rows[part].append(float(spearmanr(predict(f[part]), y[part] @ buckets)[0]))
        live = [float(np.mean(rows[f"live{k}"])) for k in (1, 2, 3)]
        results[name] = {"passes": cost, "live_mean": round(float(np.mean(live)), 4),
                         "live_folds": [round(v, 4) for v in live],
                         "live_seed_sd": round(float(np.std(np.mean([rows[f"live{k}"] for k in (1, 2, 3)], 0))), 4),
                         "biq_val": round(float(np.mean(rows["biq_val"])), 4), "runs": rows}  # fmt: skip
        print(
            f"{name:24s} " + json.dumps({k: v for k, v in results[name].items() if k != "runs"}), flush=True
        )
        out.write_text(json.dumps({"meta": {"seeds": seeds}, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
