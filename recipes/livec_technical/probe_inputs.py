"""Rank input variants for the default model in a minute each: ridge regression on frozen features, k-fold CV.

    python recipes/livec_technical/probe_inputs.py --size 224 --crop-from 500     # the shipped input
    python recipes/livec_technical/probe_inputs.py --size 448                     # whole photo, squashed
    python recipes/livec_technical/probe_inputs.py --size 224 --interpolation nearest --full-decode
    python recipes/livec_technical/probe_inputs.py --labels build/biq/train.json --images build/biq/images \
        --limit 3000 --backbone EfficientNetLite1 --size 240 --crop-from 500   # any label file, any Lite

EfficientNet-Lite0 (or ``--backbone``; offline ImageNet weights) runs once per photo; the mean and standard deviation of every
stage's output plus the pooled last layer feed a ridge regression onto the MOS, its strength picked by an
inner 5-fold CV on each training part. Folds are those of reproduce.py (seeded hash of each id); with
``--limit N`` only the first N photos in that order are used. The figures rank inputs; the
shipped model's own figures come from reproduce.py (the NIMA head trained with EMD).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from reproduce import FOLD_SEED, REPO
from scipy.stats import pearsonr, spearmanr

from photoscore.data.mos import convert_mos_csv, parse_scale
from photoscore.distribution import mean_score
from photoscore.images import load_image
from photoscore.labels import hash_folds, image_path, read_labels, split_key
from photoscore.training.nima import NimaNet

RIDGE_STRENGTHS = [10.0**e for e in np.arange(0, 5.1, 0.5)]


def stage_features(net: NimaNet, batch: torch.Tensor) -> np.ndarray:
    """Per-stage channel means and standard deviations, then the pooled last layer."""
    with torch.no_grad():
        final, stages = net.backbone.forward_intermediates(batch)
        parts = [s.mean(dim=(2, 3)) for s in stages] + [s.std(dim=(2, 3)) for s in stages]
        return torch.cat([*parts, net.backbone.forward_head(final)], dim=1).numpy()


def ridge_path(x: np.ndarray, y: np.ndarray):
    """Ridge regression on standardised features, one SVD for every strength; returns strength -> predictor."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    u, s, vt = np.linalg.svd((x - mean) / scale, full_matrices=False)
    projected = u.T @ (y - y.mean())

    def predictor(strength: float):
        weights = vt.T @ ((s / (s**2 + strength)) * projected)
        return lambda new: ((new - mean) / scale) @ weights + y.mean()

    return predictor


def fit_with_inner_cv(x: np.ndarray, y: np.ndarray):
    """Ridge with the strength that gives the best SRCC in an inner 5-fold CV."""
    inner = np.array_split(np.random.default_rng(0).permutation(len(y)), 5)
    predicted = {strength: np.empty(len(y)) for strength in RIDGE_STRENGTHS}
    for test in inner:
        train = np.setdiff1d(np.arange(len(y)), test)
        path = ridge_path(x[train], y[train])
        for strength in RIDGE_STRENGTHS:
            predicted[strength][test] = path(strength)(x[test])
    best = max(RIDGE_STRENGTHS, key=lambda strength: spearmanr(predicted[strength], y)[0])
    return ridge_path(x, y)(best)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--labels", type=Path, help="a label file (JSON) instead of LIVE's labels.csv")
    parser.add_argument("--images", type=Path, help="the photos of --labels")
    parser.add_argument("--limit", type=int, help="use only this many photos (the first by seeded hash)")
    parser.add_argument("--backbone", default="EfficientNetLite0")
    parser.add_argument("--size", type=int, default=224, help="network input side")
    parser.add_argument("--crop-from", type=int, help="squash to this side, then take the centre crop")
    parser.add_argument("--interpolation", default="bicubic")
    parser.add_argument("--full-decode", action="store_true", help="no reduced-size JPEG decoding")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    if args.labels:
        entries, images = read_labels(args.labels), args.images
    else:
        entries = convert_mos_csv(
            args.livec / "labels.csv", image_column="image", mos_column="mos", std_column="mos_std",
            scale=parse_scale("0-100"),
        ).entries  # fmt: skip
        images = args.livec / "images"
    if args.limit:
        entries = sorted(entries, key=lambda e: split_key(e.image_id, FOLD_SEED))[: args.limit]
    net = NimaNet.build(args.backbone, weights="offline", feature_levels="all").eval()
    crop = {"resize": "center_crop", "crop_from": (args.crop_from,) * 2} if args.crop_from else {}
    prep = net.preprocessing.model_copy(
        update={"input_size": (args.size,) * 2, "interpolation": args.interpolation, **crop}
    )
    min_size = None if args.full_decode else prep.decode_size
    features = []
    for start in range(0, len(entries), 32):
        arrays = [
            prep.to_array(load_image(image_path(images, e.image_id), min_size=min_size))
            for e in entries[start : start + 32]
        ]
        features.append(stage_features(net, torch.from_numpy(np.stack(arrays))))
    x = np.concatenate(features)
    scores = mean_score([e.label for e in entries])
    row = {e.image_id: i for i, e in enumerate(entries)}

    srcc, plcc = [], []
    for fold in hash_folds(entries, args.folds, seed=FOLD_SEED):
        test = np.array([row[e.image_id] for e in fold])
        train = np.setdiff1d(np.arange(len(entries)), test)
        predicted = fit_with_inner_cv(x[train], scores[train])(x[test])
        srcc.append(spearmanr(predicted, scores[test])[0])
        plcc.append(pearsonr(predicted, scores[test])[0])
    print(
        f"{args.backbone}, {len(entries)} photos, size {args.size}, crop from {args.crop_from or '-'}, {args.interpolation}"
        f"{', full decode' if args.full_decode else ''}: SRCC {np.mean(srcc):.3f} ± {np.std(srcc):.3f}, "
        f"PLCC {np.mean(plcc):.3f}"
    )


if __name__ == "__main__":
    main()
