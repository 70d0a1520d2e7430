"""A larger centre crop of the same 500x500 view (more of the photo seen at the same resolution, for
(size/224)^2 of the network's compute, one pass), and larger backbones for about the same compute.

    cd recipes/biq_technical && PYTHONPATH=../../src nice -n 5 python levers_size.py 3 OUT.json

Same selection photos, head, folds and seeds as levers_small.py (LIVE folds 1-3 by CV, the BIQ2021 Train
validation photos; the held-back sets are not read). Features of centre crops of the photo squashed to
500x500 are extracted here (all feature levels; global pooling takes any input size) and cached beside
levers.py's: Lite0 at 256, 288 and 320, EfficientNet-Lite1 at 240 and 272, Lite2 at 260 (offline
ImageNet weights). Cost: published multiply-adds against Lite0 at 224 (407M): Lite1 at 240 631M, Lite2
at 260 899M, scaled by area for other sizes."""

import logging
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")
import levers as L

from photoscore.training.nima import NimaNet

BACKBONES = {  # cache name: (backbone, centre crop sizes, multiply-adds at its own size / Lite0's at 224)
    "sizes": ("EfficientNetLite0", (256, 288, 320), 1.0, 224),
    "lite1": ("EfficientNetLite1", (240, 272), 631 / 407, 240),
    "lite2": ("EfficientNetLite2", (260,), 899 / 407, 260),
}


def size_features(backbone: str, sizes: tuple[int, ...]):
    """features_of for levers.cached_features: (n, len(sizes), F), ``backbone``'s features of the centre
    crops of each photo squashed to 500x500."""
    net = NimaNet.build(backbone, weights="offline", feature_levels="all").eval()
    net.to(memory_format=torch.channels_last)
    view = net.preprocessing.model_copy(update={"input_size": (L.VIEW, L.VIEW), "resize": "squash",
                                                "crop_from": None})  # fmt: skip

    def features_of(photos) -> np.ndarray:
        arrays, per_size = [view.to_array(photo) for photo in photos], []
        for size in sizes:
            top = (L.VIEW - size) // 2
            crops = np.stack([a[:, top : top + size, top : top + size] for a in arrays])
            with torch.inference_mode():
                inputs = torch.from_numpy(crops).contiguous(memory_format=torch.channels_last)
                per_size.append(net.features(inputs).numpy())
        return np.stack(per_size, axis=1)

    return features_of


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    seeds, out = int(sys.argv[1]), Path(sys.argv[2])
    data, f224 = L.cached_selection()
    variants = {"Lite0 centre224 (today)": (1.0, {p: f224[p][:, 0] for p in data})}
    for cache_name, (backbone, sizes, cost, native) in BACKBONES.items():
        sized = L.part_features(data, cache_name, partial(size_features, backbone, sizes))
        for i, size in enumerate(sizes):
            variants[f"{backbone[-5:]} centre{size}"] = (
                round(cost * (size / native) ** 2, 2),
                {p: sized[p][:, i] for p in data},
            )
    torch.set_num_threads(1)
    L.report_variants(variants, data, seeds, out)


if __name__ == "__main__":
    main()
