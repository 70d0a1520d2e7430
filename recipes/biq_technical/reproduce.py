"""Reproduce photoscore's bundled default model from BIQ2021 Train + LIVE In the Wild, end to end.

    python recipes/biq_technical/reproduce.py --biq BIQ2021/ [--livec ../shared/data/livec] [--work build/biq]

``--biq`` is a ``git clone https://github.com/nisarahmedrana/BIQ2021`` (Images/ and the two CSVs).

1. Labels. LIVE's 0-100 MOS (with std) as for livec-technical: score = 1 + 9 * MOS / 100. BIQ2021's MOS
   was min-max rescaled to 0..1 over its own photos (its worst photo is 0, its best 1), so the anchors of
   its 1..5 rating scale are lost; it is put on LIVE's scale by matching the mean and std of the two
   training sets (BIQ2021 Train, the LIVE training folds), a linear map, so the order within BIQ2021 is
   kept; the 15 Train photos (4 Test) rated below what that puts on 1..10 get score 1. BIQ2021 has no
   per-photo std: its labels get the median std of the LIVE training photos.
2. LIVE's 813 photos fall into 5 folds by the seeded hash of livec_technical; folds 4 and 5 (324 photos)
   are held back from all training (on them the earlier 5-fold CV of livec-technical scored 0.798,
   against 0.806 over all folds, so the comparison is neither flattered nor penalised).
3. ``photoscore train`` with config.json on BIQ2021 Train + LIVE folds 1-3; validation is 5% of that.
4. ``photoscore evaluate`` once, at the end: BIQ2021's official Test split (2,000 photos) and the
   held-back LIVE photos (each fold and both together); livec-technical on the Test split too.
5. The model gets its card (data, terms and credits of both databases, figures, limits) and is copied
   into the package. The record (labels summary, config, metrics.csv, metrics.json files) goes to
   record/ next to this script. Steps whose output exists are skipped, so a rerun continues.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from photoscore.data.mos import Scale, convert_mos_csv, parse_scale
from photoscore.distribution import std_score
from photoscore.labels import LabelEntry, hash_folds, write_labels
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import load_config
from photoscore.training.export import replace_card
from photoscore.training.train import continue_or_start_training

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODEL_NAME = "biq-livec-technical"
PACKAGE_MODEL = REPO / "src" / "photoscore" / "models" / f"{MODEL_NAME}.onnx"
OLD_MODEL = REPO / "src" / "photoscore" / "models" / "livec-technical.onnx"
LIVE_FOLDS, LIVE_SEED, HELD_BACK = 5, 2026, (4, 5)
TRAIN_CSV, TEST_CSV = "Train (Images and MOS).csv", "Test (Images and MOS).csv"
BIQ_COLUMNS = {"image_column": "Image Name", "mos_column": "MOS", "std_column": None}
LIVE_COLUMNS = {"image_column": "image", "mos_column": "mos", "std_column": "mos_std"}
TRAINING_DATA = (
    "BIQ2021 Train split, 10,000 photos (Ahmed & Asif, 'BIQ2021: a large-scale blind image quality "
    "assessment database', J. Electronic Imaging 31(5), 2022; images and MOS freely available for use and "
    "benchmarking; subset ss03 from Unsplash under the Unsplash licence; ss01/ss02 state no licence) + "
    "LIVE In the Wild Challenge Database, 489 of its 813 photos (c) 2015 The University of Texas at Austin, "
    "LIVE (http://live.ece.utexas.edu), D. Ghadiyaram and A.C. Bovik, IEEE TIP 2016"
)
LIMITS = (
    "Technical quality only (exposure, focus, noise, blur, compression), not aesthetics or content. "
    "Every photo is squashed to 500x500 (the training photos' own size, 500-512 px) and only its centre "
    "224x224 is judged: flaws confined to the edges are not seen, and a flaw finer than a pixel of the "
    "500x500 view (slight blur or noise of a 4000 px photo) is not seen either, as on a screen."
)


def biq_scale(biq_train: Path, live_train: list[LabelEntry]) -> tuple[Scale, dict]:
    """BIQ2021's 0..1 MOS range that maps onto 1..10 so that its Train mean and std match LIVE's training
    photos on LIVE's scale (both as scores 1..10)."""
    biq = convert_mos_csv(biq_train, **BIQ_COLUMNS, scale=parse_scale("0,1")).entries
    biq_mean, biq_std = statistics.mean(e.mean for e in biq), statistics.stdev(e.mean for e in biq)
    live_mean = statistics.mean(e.mean for e in live_train)
    live_std = statistics.stdev(e.mean for e in live_train)
    # score = 1 + 9 * mos on 0..1; matched: score' = live_mean + live_std * (score - biq_mean) / biq_std
    factor = live_std / biq_std
    low = (1 - live_mean) / factor + biq_mean  # the score (on 0..1 -> 1..10) that maps to 1
    high = (10 - live_mean) / factor + biq_mean
    scale = Scale((low - 1) / 9, (high - 1) / 9)
    summary = {
        "biq_train_score_mean_std_before": [round(biq_mean, 4), round(biq_std, 4)],
        "live_train_score_mean_std": [round(live_mean, 4), round(live_std, 4)],
        "biq_mos_range_mapped_to_1_10": [round(scale.low, 4), round(scale.high, 4)],
        "biq_label_std": round(statistics.median(float(std_score(e.label)) for e in live_train), 4),
    }
    return scale, summary


def clipped_csv(source: Path, scale: Scale, target: Path, summary: dict) -> Path:
    """A copy of a BIQ2021 CSV with each MOS clipped into ``scale``: the few photos rated below what
    1..10 allows get score 1 (their count goes into ``summary``)."""
    with source.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    clipped = 0
    for row in rows:
        mos = float(row["MOS"])
        row["MOS"] = repr(min(max(mos, scale.low), scale.high))
        clipped += not scale.low <= mos <= scale.high
    summary[f"clipped_to_scale ({source.name})"] = clipped
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def merged_images(work: Path, folders: list[Path]) -> Path:
    """One folder of links to the photos of both databases (their names do not clash)."""
    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for photo in folder.iterdir():
            link = images / photo.name
            if not link.exists():
                link.symlink_to(photo.resolve())
    return images


def evaluate(model: Path, samples: Path, images: Path, report: Path, record_name: Path) -> dict:
    """``photoscore evaluate`` (the command users run); its metrics.json is copied into the record."""
    if not (report / "metrics.json").is_file():
        command = [sys.executable, "-m", "photoscore", "evaluate", "--samples", str(samples)]
        command += ["--image-dir", str(images), "--report", str(report), "-m", str(model)]
        subprocess.run(command, check=True)
    shutil.copyfile(report / "metrics.json", record_name)
    return json.loads(record_name.read_text())


def labelled_samples(biq_dir: Path, livec: Path, work: Path) -> tuple[dict[str, list[LabelEntry]], dict]:
    """Steps 1-2: the label sets (train, biq_test, live_fold4/5, live_held_back), also written to
    ``work/<name>.json``, and the summary of the label maps."""
    live = convert_mos_csv(livec / "labels.csv", **LIVE_COLUMNS, scale=parse_scale("0-100")).entries
    folds = hash_folds(live, LIVE_FOLDS, LIVE_SEED)  # the folds of livec_technical's cross-validation
    live_train = [e for i, fold in enumerate(folds, start=1) if i not in HELD_BACK for e in fold]
    scale, summary = biq_scale(biq_dir / TRAIN_CSV, live_train)
    biq = {
        part: convert_mos_csv(
            clipped_csv(biq_dir / csv_name, scale, work / csv_name, summary),
            **BIQ_COLUMNS,
            scale=scale,
            default_std=summary["biq_label_std"],
        ).entries
        for part, csv_name in (("train", TRAIN_CSV), ("test", TEST_CSV))
    }
    samples = {
        "train": biq["train"] + live_train,
        "biq_test": biq["test"],
        **{f"live_fold{i}": folds[i - 1] for i in HELD_BACK},
        "live_held_back": [e for i in HELD_BACK for e in folds[i - 1]],
    }
    for name, entries in samples.items():
        write_labels(work / f"{name}.json", entries)
    summary["photos"] = {name: len(entries) for name, entries in samples.items()}
    return samples, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--biq", type=Path, required=True, help="git clone of BIQ2021")
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "biq")
    parser.add_argument("--config", type=Path, default=HERE / "config.json")
    parser.add_argument("--record", type=Path, default=HERE / "record")
    parser.add_argument("--install", type=Path, default=PACKAGE_MODEL, help="where the model is copied")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    work, record = args.work, args.record
    work.mkdir(parents=True, exist_ok=True)
    record.mkdir(parents=True, exist_ok=True)

    _, summary = labelled_samples(args.biq, args.livec, work)
    (record / "labels.json").write_text(json.dumps(summary, indent=2) + "\n")
    images = merged_images(work, [args.biq / "Images", args.livec / "images"])

    model = work / f"{MODEL_NAME}.onnx"
    if not model.is_file():
        # a killed run continues from its last finished epoch
        job = continue_or_start_training(load_config(args.config), work / "train.json", images, work / "jobs")
        for part in ("metrics.csv", "config.json"):
            shutil.copyfile(job.root / part, record / f"train_{part}")
        shutil.copyfile(job.onnx_path, model)

    metrics: dict[str, dict] = {}
    parts = {"new": ("biq_test", *(f"live_fold{i}" for i in HELD_BACK), "live_held_back")}
    parts["livec-technical"] = ("biq_test",)  # it trained on all LIVE photos: its LIVE figures are its CV's
    for label, onnx in (("new", model), ("livec-technical", OLD_MODEL)):
        for part in parts[label]:
            result = evaluate(
                onnx, work / f"{part}.json", images, work / "reports" / f"{label}_{part}",
                record / f"{label}_{part}_metrics.json",
            )  # fmt: skip
            (figures,) = result["models"].values()
            metrics[f"{label}/{part}"] = {k: round(figures[k], 4) for k in ("n", "srcc", "plcc", "emd")}
    (record / "summary.json").write_text(json.dumps(metrics, indent=2) + "\n")
    logging.info("%s", json.dumps(metrics, indent=2))

    card = OnnxNimaModel(model).card
    card = card.model_copy(
        update={
            "name": MODEL_NAME,
            "description": f"Technical quality (NIMA, {card.backbone}) trained on BIQ2021 + LIVE In the Wild. "
            "Scores are on LIVE's scale: MOS = (score - 1) * 100 / 9.",
            "training_data": TRAINING_DATA,
            "license": "Model: Apache-2.0, as photoscore. Data: BIQ2021 (free for use and benchmarking; credit "
            "the paper), LIVE In the Wild (credit UT Austin LIVE)",
            "metrics": {
                **card.metrics,
                "biq2021_test_srcc": metrics["new/biq_test"]["srcc"],
                "biq2021_test_plcc": metrics["new/biq_test"]["plcc"],
                "livec_held_back_srcc": metrics["new/live_held_back"]["srcc"],
                "livec_held_back_plcc": metrics["new/live_held_back"]["plcc"],
            },
            "source": "recipes/biq_technical/reproduce.py",
            "limits": LIMITS,
        }
    )
    replace_card(model, card)
    args.install.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, args.install)
    (record / "card.json").write_text(card.model_dump_json(indent=2) + "\n")
    logging.info("model written to %s", args.install)


if __name__ == "__main__":
    main()
