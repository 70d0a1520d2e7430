"""Issue 24, technical model v3: a lever study on frozen features, in minutes instead of training runs.

    python recipes/biq_technical/levers.py --biq BIQ2021/ [--biq-photos 4000] [--cache ../data/tech3]

Selection data only: LIVE In the Wild folds 1-3 (the folds of reproduce.py; folds 4-5 are never read) and
BIQ2021 Train (the first ``--biq-photos`` by seeded hash; BIQ2021 Test is never read). Of those BIQ2021
photos, the first 20% by another seeded hash are a validation part that never trains.

1. Features, cached once (``--cache``): EfficientNet-Lite0 with offline ImageNet weights and
   ``feature_levels: all`` (every stage pooled + the pooled last layer, 1792 values), on five 224x224
   crops of the photo squashed to 500x500: the centre crop (what the model judges today) and the 4 corners.
2. Heads: the NIMA head of the recipe (standardised features -> dropout 0.5 -> linear -> softmax over
   1..10), 15 epochs of Adam 3e-4, batch 32, trained for each LIVE CV fold (train on the other two of
   folds 1-3 + BIQ2021 Train minus its validation part, test on the third), several seeds each.
3. Levers, each a change from the baseline (a) = EMD on the recipe's linear scale match, centre crop;
   see LEVERS. SRCC of each LIVE test fold and of the BIQ2021 validation part (mean over the 3 folds'
   models), per lever, averaged over the seeds. Results go to ``--out`` (JSON) and stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from reproduce import (
    BIQ_COLUMNS,
    LIVE_COLUMNS,
    LIVE_FOLDS,
    LIVE_SEED,
    TRAIN_CSV,
    biq_scale,
    clipped_csv,
)
from scipy.stats import spearmanr

from photoscore.data.mos import convert_mos_csv, parse_scale
from photoscore.images import load_image
from photoscore.labels import LabelEntry, hash_folds, image_path, split_key
from photoscore.training.losses import emd_loss
from photoscore.training.nima import NimaNet
from photoscore.training.runtime import keep_freed_memory

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SELECTION_FOLDS = (1, 2, 3)  # LIVE folds 4 and 5 are held back: never read here
BIQ_SEED, VAL_SEED, VAL_FRACTION = 3, 24, 0.2
CROP, VIEW = 224, 500
OFFSETS = [((VIEW - CROP) // 2,) * 2, (0, 0), (0, VIEW - CROP), (VIEW - CROP, 0), (VIEW - CROP,) * 2]
BUCKETS = torch.arange(1, 11, dtype=torch.float32)
# Where this checkout keeps the selection studies' data: the BIQ2021 clone, LIVE, the feature cache
SELECTION_BIQ, SELECTION_LIVEC = Path("/work/data/BIQ2021"), Path("/work/shared/data/livec")
SELECTION_CACHE = Path("/work/data/tech3")


@dataclass(frozen=True)
class Lever:
    """One head-training variant."""

    live_share: float | None = None  # None: batches as the data falls; 0.5: half of each batch LIVE
    fidelity: float = 0.0  # weight of the within-database fidelity loss next to EMD
    emd: float = 1.0  # weight of EMD
    crops: str = "centre"  # "centre", "mean5" (5 crops' features averaged), "views5" (train on each crop,
    # score the mean of the 5 crops' scores), "views5_score_centre" (train so, score the centre crop),
    # "mean:0,1,4" (those crops' features averaged; 0 = centre, 1-4 = corners tl, tr, bl, br)
    live_weight: float = 1.0  # EMD weight of a LIVE photo (a BIQ2021 photo weighs 1)
    biq: bool = True  # False: LIVE's two training folds alone (a reference, as livec-technical)


LEVERS = {  # the most telling first: on a busy machine a run may be cut short
    "a_baseline_emd": Lever(),
    "d_mean5_features": Lever(crops="mean5"),
    "b_balanced_batches": Lever(live_share=0.5),
    "c_emd+fidelity": Lever(fidelity=1.0),
    "b+c+d_balanced+fidelity+mean5": Lever(live_share=0.5, fidelity=1.0, crops="mean5"),
    "b+d_balanced+5views": Lever(live_share=0.5, crops="views5"),
    "ref_live_only": Lever(biq=False),
    "b_live_weight_x5": Lever(live_weight=5.0),
    "d_5views_train_score_mean": Lever(crops="views5"),
    "c_fidelity_only": Lever(fidelity=1.0, emd=0.0),
    # how many crops the gain of d needs (each crop is one more network pass per photo when scoring)
    "d_mean2_centre+tl": Lever(crops="mean:0,1"),
    "d_mean3_centre+tl+br": Lever(crops="mean:0,1,4"),
    "d_mean4_corners": Lever(crops="mean:1,2,3,4"),
    "d_train5views_score_centre": Lever(crops="views5_score_centre"),  # free at scoring time
    "b+d_balanced+mean5": Lever(live_share=0.5, crops="mean5"),
}


def selection_data(biq: Path, livec: Path, biq_photos: int, work: Path) -> dict[str, list[LabelEntry]]:
    """LIVE folds 1-3 and the BIQ2021 Train subsample split into train and validation, on 1..10 with the
    recipe's linear scale match (computed from the whole BIQ2021 Train CSV and LIVE folds 1-3, as the
    recipe does: only the MOS columns, no photo)."""
    live = convert_mos_csv(livec / "labels.csv", **LIVE_COLUMNS, scale=parse_scale("0-100")).entries
    folds = hash_folds(live, LIVE_FOLDS, LIVE_SEED)
    scale, summary = biq_scale(biq / TRAIN_CSV, [e for i in SELECTION_FOLDS for e in folds[i - 1]])
    work.mkdir(parents=True, exist_ok=True)
    entries = convert_mos_csv(
        clipped_csv(biq / TRAIN_CSV, scale, work / TRAIN_CSV, summary),
        **BIQ_COLUMNS,
        scale=scale,
        default_std=summary["biq_label_std"],
    ).entries
    entries = sorted(entries, key=lambda e: split_key(e.image_id, BIQ_SEED))[:biq_photos]
    entries = sorted(entries, key=lambda e: split_key(e.image_id, VAL_SEED))
    n_val = round(len(entries) * VAL_FRACTION)
    data = {f"live{i}": folds[i - 1] for i in SELECTION_FOLDS}
    return data | {"biq_val": entries[:n_val], "biq_train": entries[n_val:]}


def crops_of(view: np.ndarray) -> np.ndarray:
    """The five 224 crops (centre first) of a (3, 500, 500) array: (5, 3, 224, 224)."""
    return np.stack([view[:, t : t + CROP, s : s + CROP] for t, s in OFFSETS])


def extract(entries: list[LabelEntry], images: Path, target: Path, partial_ok: bool = False) -> np.ndarray:
    """(N, 5, F) float32 features of the five crops, cached in ``target`` (.npy) with the ids beside it.

    Every 320 photos the features so far are saved to ``<target>.part.npy`` and a rerun continues from
    there; with ``partial_ok`` the features of a part file are returned as they are (the first photos of
    ``entries``, in order) without extracting the rest."""
    ids_file = target.with_suffix(".ids.json")
    part, part_ids = target.with_suffix(".part.npy"), target.with_suffix(".part.ids.json")
    ids = [e.image_id for e in entries]
    if target.is_file() and json.loads(ids_file.read_text()) == ids:
        return np.load(target)
    chunks, first = [], 0
    if part.is_file() and ids[: len(json.loads(part_ids.read_text()))] == json.loads(part_ids.read_text()):
        chunks = [np.load(part)]
        first = len(chunks[0])
        if partial_ok:
            logging.info("%s: using the first %d of %d photos", target.name, first, len(ids))
            return chunks[0]
    net = NimaNet.build("EfficientNetLite0", weights="offline", feature_levels="all").eval()
    net.to(memory_format=torch.channels_last)  # FACTS §2: 1.5-2x on this CPU
    big = net.preprocessing.model_copy(
        update={"input_size": (VIEW, VIEW), "resize": "squash", "crop_from": None}
    )
    # the centre crop must be the pixels the shipped preprocessing judges (up to its box-resize rounding)
    shipped = net.preprocessing.model_copy(
        update={"input_size": (CROP, CROP), "resize": "center_crop", "crop_from": (VIEW, VIEW)}
    )
    start_time = time.monotonic()
    for start in range(first, len(entries), 16):
        photos = [
            load_image(image_path(images, e.image_id), min_size=(VIEW, VIEW))
            for e in entries[start : start + 16]
        ]
        if start == first:
            check = crops_of(big.to_array(photos[0]))[0]
            assert np.abs(check - shipped.to_array(photos[0])).max() < 4 / 128, "centre crop differs"
        batch = np.concatenate([crops_of(big.to_array(photo)) for photo in photos])
        with torch.inference_mode():
            inputs = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            features = net.features(inputs).numpy()
        chunks.append(features.reshape(len(photos), len(OFFSETS), -1))
        done = start + len(photos)
        if done % 320 == 0 or done == len(entries):
            rate = (done - first) / (time.monotonic() - start_time)
            logging.info(
                "%s: %d/%d photos, %.1f photos/s (5 crops each)", target.name, done, len(entries), rate
            )
            chunks = [np.concatenate(chunks).astype(np.float32)]
            np.save(part, chunks[0])
            part_ids.write_text(json.dumps(ids[:done]))
    features = np.concatenate(chunks).astype(np.float32)
    np.save(target, features)
    ids_file.write_text(json.dumps(ids))
    part.unlink(missing_ok=True)
    part_ids.unlink(missing_ok=True)
    return features


def cached_features(
    entries: list[LabelEntry],
    images: Path,
    target: Path,
    make_features_of: Callable[[], Callable[[list[Image.Image]], np.ndarray]],
) -> np.ndarray:
    """(N, V, F): ``make_features_of()`` applied to each batch of 16 decoded photos of ``entries``, cached
    in ``target`` (.npy) with the ids beside it (what levers_small.py and levers_size.py extract); the
    network is built only when the cache misses."""
    ids = [e.image_id for e in entries]
    ids_file = target.with_suffix(".ids.json")
    if target.is_file() and json.loads(ids_file.read_text()) == ids:
        return np.load(target)
    features_of, chunks, started = make_features_of(), [], time.monotonic()
    for start in range(0, len(entries), 16):
        batch = entries[start : start + 16]
        chunks.append(
            features_of([load_image(image_path(images, e.image_id), min_size=(VIEW, VIEW)) for e in batch])
        )
        if (start // 16) % 20 == 0:
            rate = (start + len(batch)) / (time.monotonic() - started)
            logging.info("%s: %d/%d, %.1f photos/s", target.name, start + len(batch), len(entries), rate)
    features = np.concatenate(chunks).astype(np.float32)
    np.save(target, features)
    ids_file.write_text(json.dumps(ids))
    return features


def head_cv(features: dict[str, np.ndarray], y: dict[str, np.ndarray], seeds: int) -> dict:
    """One variant's figures: for each seed and LIVE selection fold k, the head trained on the other two
    LIVE folds + the BIQ2021 training photos (``features`` per part: (N, F)), SRCC on fold k and on the
    BIQ2021 validation photos; LIVE as the mean over folds (with the folds and the seeds' sd)."""
    rows: dict[str, list[float]] = {f"live{k}": [] for k in SELECTION_FOLDS} | {"biq_val": []}
    for seed in range(seeds):
        for k in SELECTION_FOLDS:
            train = [f"live{i}" for i in SELECTION_FOLDS if i != k] + ["biq_train"]
            group = np.concatenate([np.full(len(y[p]), p.startswith("live"), np.int64) for p in train])
            x, labels = np.concatenate([features[p] for p in train]), np.concatenate([y[p] for p in train])
            predict = train_head(x, labels, group, Lever(crops="mean5"), seed, 15)
            for part in (f"live{k}", "biq_val"):
                rows[part].append(float(spearmanr(predict(features[part]), y[part] @ BUCKETS.numpy())[0]))
    live = [float(np.mean(rows[f"live{k}"])) for k in SELECTION_FOLDS]
    by_seed = np.mean([rows[f"live{k}"] for k in SELECTION_FOLDS], 0)
    return {
        "live_mean": round(float(np.mean(live)), 4),
        "live_folds": [round(v, 4) for v in live],
        "live_seed_sd": round(float(np.std(by_seed)), 4),
        "biq_val": round(float(np.mean(rows["biq_val"])), 4),
        "runs": rows,
    }


def part_features(
    data: dict[str, list[LabelEntry]],
    name: str,
    make_features_of: Callable[[], Callable[[list[Image.Image]], np.ndarray]],
) -> dict[str, np.ndarray]:
    """:func:`cached_features` of every selection part, cached as ``<part>_<name>.npy`` beside the others."""
    return {
        part: cached_features(
            entries,
            SELECTION_LIVEC / "images" if part.startswith("live") else SELECTION_BIQ / "Images",
            SELECTION_CACHE / f"{part}_{name}.npy",
            make_features_of,
        )
        for part, entries in data.items()
    }


def report_variants(
    variants: dict[str, tuple[float, dict[str, np.ndarray]]],
    data: dict[str, list[LabelEntry]],
    seeds: int,
    out: Path,
) -> None:
    """:func:`head_cv` of each variant (its cost in 224 passes, its features per part), printed and written
    to ``out`` after each variant."""
    y = {part: labels_of(entries) for part, entries in data.items()}
    results = {}
    for name, (cost, features) in variants.items():
        results[name] = {"passes": cost} | head_cv(features, y, seeds)
        figures = {k: v for k, v in results[name].items() if k != "runs"}
        print(f"{name:28s} {json.dumps(figures)}", flush=True)
        out.write_text(json.dumps({"meta": {"seeds": seeds}, "results": results}, indent=1) + "\n")


def cached_selection(
    cache: Path = SELECTION_CACHE, biq_photos: int = 2000
) -> tuple[dict[str, list[LabelEntry]], dict[str, np.ndarray]]:
    """The selection photos of a ``--biq-photos`` run and their features cached by an earlier
    ``levers.py --extract-only`` in ``cache`` (what levers_seq.py and levers_views.py study)."""
    data = selection_data(SELECTION_BIQ, SELECTION_LIVEC, biq_photos, cache / "labels")
    suffix = {part: str(biq_photos) if part.startswith("biq") else "folds123" for part in data}
    return data, {part: np.load(cache / f"{part}_{suffix[part]}.npy") for part in data}


def labels_of(entries: list[LabelEntry]) -> np.ndarray:
    label = np.asarray([e.label for e in entries], dtype=np.float32)
    return label / label.sum(1, keepdims=True)


def view(features: np.ndarray, crops: str) -> np.ndarray:
    """The features a lever trains and scores on: (N, F) or (N, 5, F) for views5."""
    if crops == "centre":
        return features[:, 0]
    if crops == "mean5":
        return features.mean(1)
    if crops in ("views5", "views5_score_centre"):
        return features
    if crops.startswith("mean:"):  # e.g. "mean:0,1,4": the centre and two opposite corners, averaged
        return features[:, [int(i) for i in crops[5:].split(",")]].mean(1)
    return features


def fidelity_loss(score: torch.Tensor, target: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Fidelity loss (as in UNIQUE/LIQE) over all pairs of the batch from the same database: the predicted
    P(i better than j) = Phi((s_i - s_j) / sqrt(2)) against the true one (0, 0.5 or 1 from the labels' means)."""
    diff = (score[:, None] - score[None, :]) / np.sqrt(2.0)
    p = 0.5 * (1 + torch.erf(diff / np.sqrt(2.0)))
    truth = 0.5 * (1 + torch.sign(target[:, None] - target[None, :]))
    same = (group[:, None] == group[None, :]) & ~torch.eye(len(score), dtype=torch.bool)
    loss = 1 - torch.sqrt(p * truth + 1e-8) - torch.sqrt((1 - p) * (1 - truth) + 1e-8)
    return loss[same].mean() if same.any() else score.sum() * 0


def train_head(x: np.ndarray, y: np.ndarray, group: np.ndarray, lever: Lever, seed: int, epochs: int):
    """The recipe's NIMA head trained on features x (N, F) or (N, V, F); returns predict(x) -> mean scores."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    flat = x.reshape(-1, x.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(x.shape[-1], 10))
    optimiser = torch.optim.Adam(head.parameters(), lr=3e-4)
    xt = torch.from_numpy((x - mean) / std)
    yt, target = torch.from_numpy(y), torch.from_numpy(y) @ BUCKETS
    gt = torch.from_numpy(group)
    weight = torch.where(gt == 1, lever.live_weight, 1.0)
    live, other = np.flatnonzero(group == 1), np.flatnonzero(group == 0)
    n, batch = len(y), 32
    for _ in range(epochs):
        if lever.live_share is None:
            order = rng.permutation(n)
        else:  # each batch: live_share LIVE photos (cycled), the rest BIQ2021; an epoch = one pass of BIQ2021
            per = round(batch * lever.live_share)
            steps = int(np.ceil(len(other) / (batch - per)))
            live_draw = np.resize(rng.permutation(live), steps * per).reshape(steps, per)
            other_draw = np.resize(rng.permutation(other), steps * (batch - per)).reshape(steps, -1)
            order = np.concatenate([live_draw, other_draw], 1).ravel()
        head.train()
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(order[start : start + batch])
            inputs = xt[idx]
            if inputs.ndim == 3:  # views5: one random crop of each photo
                inputs = inputs[torch.arange(len(idx)), torch.randint(0, inputs.shape[1], (len(idx),))]
            prob = torch.softmax(head(inputs), -1)
            loss = lever.emd * (emd_loss(yt[idx], prob, reduction="none") * weight[idx]).mean()
            if lever.fidelity:
                loss = loss + lever.fidelity * fidelity_loss(prob @ BUCKETS, target[idx], gt[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    head.eval()

    def predict(new: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            prob = torch.softmax(head(torch.from_numpy((new - mean) / std)), -1)
            score = (prob @ BUCKETS).numpy()
        return score.mean(1) if score.ndim == 2 else score

    return predict


def one_lever(name: str, lever: Lever, features: dict, data: dict, seeds: int, epochs: int) -> dict:
    """SRCC of one lever: each LIVE CV fold (1-3) and the BIQ2021 validation part, averaged over seeds."""
    torch.set_num_threads(1)
    start = time.monotonic()
    x = {part: view(f, lever.crops) for part, f in features.items()}
    y = {part: labels_of(entries) for part, entries in data.items()}
    rows: dict[str, list[float]] = {f"live{k}": [] for k in SELECTION_FOLDS} | {"biq_val": []}
    for seed in range(seeds):
        for k in SELECTION_FOLDS:
            train = [f"live{i}" for i in SELECTION_FOLDS if i != k] + ["biq_train"] * lever.biq
            group = np.concatenate([np.full(len(y[p]), p.startswith("live"), np.int64) for p in train])
            predict = train_head(
                np.concatenate([x[p] for p in train]),
                np.concatenate([y[p] for p in train]),
                group,
                lever,
                seed,
                epochs,
            )
            for part in (f"live{k}", "biq_val"):
                # views5_score_centre: trained on the 5 crops, scored on the centre crop alone
                test = x[part][:, 0] if lever.crops == "views5_score_centre" else x[part]
                rows[part].append(float(spearmanr(predict(test), y[part] @ BUCKETS.numpy())[0]))
    live = [float(np.mean(rows[f"live{k}"])) for k in SELECTION_FOLDS]
    per_seed = np.mean([rows[f"live{k}"] for k in SELECTION_FOLDS], 0)
    result = {
        **{f"live_fold{k}": round(v, 4) for k, v in zip(SELECTION_FOLDS, live, strict=True)},
        "live_mean": round(float(np.mean(live)), 4),
        "live_seed_sd": round(float(np.std(per_seed)), 4),
        "biq_val": round(float(np.mean(rows["biq_val"])), 4),
        "runs": rows,
        "lever": lever.__dict__,
    }
    figures = {k: v for k, v in result.items() if k not in ("lever", "runs")}
    logging.info("%-32s %s (%.0f s)", name, json.dumps(figures), time.monotonic() - start)
    return result


def study(features: dict, data: dict, levers: dict[str, Lever], seeds: int, epochs: int, jobs: int) -> dict:
    """Every lever, ``jobs`` at a time (one thread each)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {
            name: pool.submit(one_lever, name, lever, features, data, seeds, epochs)
            for name, lever in levers.items()
        }
        return {name: future.result() for name, future in futures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--biq", type=Path, required=True, help="git clone of BIQ2021 (Train is read, not Test)"
    )
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--cache", type=Path, default=REPO.parent / "data" / "tech3")
    parser.add_argument(
        "--biq-photos", type=int, default=3000, help="BIQ2021 Train photos used (by seeded hash)"
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--levers", nargs="*", default=list(LEVERS), help="names from LEVERS")
    parser.add_argument("--jobs", type=int, default=2, help="levers trained at once (one thread each)")
    parser.add_argument("--extract-only", action="store_true")
    parser.add_argument(
        "--partial-train",
        action="store_true",
        help="train on the BIQ2021 training photos extracted so far (a random subset: the order is hashed)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "record" / "levers.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(2)  # extraction; the heads run on one thread (small ops)
    keep_freed_memory()

    data = selection_data(args.biq, args.livec, args.biq_photos, args.cache)
    features = {
        part: extract(
            entries,
            args.livec / "images" if part.startswith("live") else args.biq / "Images",
            args.cache / f"{part}_{args.biq_photos if part.startswith('biq') else 'folds123'}.npy",
            partial_ok=args.partial_train and part == "biq_train",
        )
        for part, entries in data.items()
    }
    data["biq_train"] = data["biq_train"][: len(features["biq_train"])]
    if args.extract_only:
        return
    levers = {name: LEVERS[name] for name in args.levers}
    results = study(features, data, levers, args.seeds, args.epochs, args.jobs)
    meta = {
        "photos": {part: len(entries) for part, entries in data.items()},
        "biq_photos_drawn": args.biq_photos,
        "seeds": args.seeds,
        "epochs": args.epochs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"{'lever':34s} live1  live2  live3  mean   (seed sd)  biq_val")
    for name, r in results.items():
        print(
            f"{name:34s} {r['live_fold1']:.3f}  {r['live_fold2']:.3f}  {r['live_fold3']:.3f}  "
            f"{r['live_mean']:.3f}  ({r['live_seed_sd']:.3f})    {r['biq_val']:.3f}"
        )


if __name__ == "__main__":
    main()
