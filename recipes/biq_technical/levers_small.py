"""Cheaper views for the crop lever: can the photo seen whole, or several smaller crops, buy part of the
5-crop gain (levers_views.py: +0.035 LIVE, +0.020 BIQ2021 val for 5 network passes) within the speed goal?

    cd recipes/biq_technical && PYTHONPATH=../../src nice -n 19 python levers_small.py 3 OUT.json

Same selection photos, head, folds and seeds as levers_views.py (LIVE folds 1-3 by CV, the BIQ2021 Train
validation photos; the held-back sets are not read). New views of each photo, extracted here and cached
beside levers.py's: the 500x500 view squashed to 224 (the whole photo), and the centre and four corner
160 crops of the photo squashed to 357x357 (each 160 crop sees the field of a 224 crop of the 500 view at
0.51 of its compute). Each variant is (views it trains on, views it scores), with its network cost in
224-pass units."""

import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")
import levers as L

from photoscore.training.nima import NimaNet

SMALL, SMALL_VIEW = 160, 357
SMALL_OFFSETS = [((SMALL_VIEW - SMALL) // 2,) * 2, (0, 0), (0, SMALL_VIEW - SMALL), (SMALL_VIEW - SMALL, 0),
                 (SMALL_VIEW - SMALL,) * 2]  # fmt: skip


def small_features():
    """features_of for levers.cached_features: (n, 6, F), the whole 500x500 view squashed to 224, then the
    five 160 crops (centre first) of the photo squashed to 357x357."""
    net = NimaNet.build("EfficientNetLite0", weights="offline", feature_levels="all").eval()
    net.to(memory_format=torch.channels_last)
    whole = net.preprocessing.model_copy(
        update={"input_size": (L.CROP, L.CROP), "resize": "squash", "crop_from": None}
    )
    view = net.preprocessing.model_copy(update={"input_size": (SMALL_VIEW, SMALL_VIEW), "resize": "squash",
                                                "crop_from": None})  # fmt: skip

    def features_of(photos) -> np.ndarray:
        with torch.inference_mode():
            big = torch.from_numpy(np.stack([whole.to_array(p) for p in photos]))
            f_whole = net.features(big.contiguous(memory_format=torch.channels_last)).numpy()
            small = np.stack([v[:, t : t + SMALL, s : s + SMALL] for p in photos
                              for v in [view.to_array(p)] for t, s in SMALL_OFFSETS])  # fmt: skip
            f_small = net.features(
                torch.from_numpy(small).contiguous(memory_format=torch.channels_last)
            ).numpy()
        return np.concatenate([f_whole[:, None], f_small.reshape(len(photos), 5, -1)], axis=1)

    return features_of


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    seeds, out = int(sys.argv[1]), Path(sys.argv[2])
    data, f224 = L.cached_selection()
    small = L.part_features(data, "small", small_features)
    torch.set_num_threads(1)
    # per photo: 224 crops 0-4 (centre, corners), whole-224 = 5, 160 crops 6-10 (centre, corners)
    f = {part: np.concatenate([f224[part], small[part]], axis=1) for part in data}

    variants = {  # name: (cost in 224 passes, the views whose features are averaged, trained and scored on)
        "centre224 (today)": (1.0, [0]),
        "whole224": (1.0, [5]),
        "centre224+whole224": (2.0, [0, 5]),
        "centre160": (0.51, [6]),
        "3x160 (centre, tl, br)": (1.53, [6, 7, 10]),
        "5x160": (2.55, [6, 7, 8, 9, 10]),
        "centre224+4x160 corners": (3.04, [0, 7, 8, 9, 10]),
        "5x224 (levers_views)": (5.0, [0, 1, 2, 3, 4]),
    }
    features = {
        name: (cost, {p: f[p][:, views].mean(1) for p in data}) for name, (cost, views) in variants.items()
    }
    L.report_variants(features, data, seeds, out)


if __name__ == "__main__":
    main()
