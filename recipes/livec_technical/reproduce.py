"""Reproduce photoscore's bundled default model from the LIVE In the Wild photos, end to end.

    python recipes/livec_technical/reproduce.py [--livec ../shared/data/livec] [--folds 5] [--work build/livec]

1. Mean opinion scores (0-100, with their std) become 10-bucket distributions (`photoscore data from-mos`).
2. k-fold cross-validation: `photoscore train` with config.json on k-1 folds, tested on the held-out fold.
3. The final model trains on all 813 photos with the same config and is exported with a card stating the
   data, the recipe, the cross-validated metrics and the limits; it is copied into the package.
The record of the run (cv.csv, the final metrics.csv and config) is written next to this script.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import statistics
from pathlib import Path

from photoscore.data.mos import convert_mos_csv, parse_scale
from photoscore.labels import LabelEntry, hash_folds, write_labels
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import load_config
from photoscore.training.export import replace_card
from photoscore.training.train import start_training

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODEL_NAME = "livec-technical"
FOLD_SEED = 2026  # the cross-validation folds (also those of recipes/biq_technical)
PACKAGE_MODEL = REPO / "src" / "photoscore" / "models" / f"{MODEL_NAME}.onnx"
RECORD = HERE / "record"
LIMITS = (
    "Technical quality only (exposure, focus, noise, blur, compression), not aesthetics or content. "
    "Trained on 813 photos from the LIVE In the Wild Challenge database: mostly phone photos, 500x500 "
    "pixels. Every photo is squashed to 500x500 and only its centre 224x224 is judged, at that resolution: "
    "flaws confined to the edges are not seen."
)
SCALE_NOTE = (
    "Scores map LIVE's 0-100 mean opinion scale linearly onto 1..10: score = 1 + 9 * MOS / 100, "
    "so MOS = (score - 1) * 100 / 9."
)


def cross_validate(entries: list[LabelEntry], config: Path, images: Path, work: Path, k: int) -> list[dict]:
    rows = []
    for index, test in enumerate(hash_folds(entries, k, seed=FOLD_SEED), start=1):
        held_out = {e.image_id for e in test}
        fold_dir = work / f"fold{index}"
        train_file, test_file = fold_dir / "train.json", fold_dir / "test.json"
        write_labels(train_file, [e for e in entries if e.image_id not in held_out])
        write_labels(test_file, test)
        job = start_training(
            load_config(config), train_file, images, fold_dir / "jobs", test_samples=test_file
        )
        metrics = json.loads((job.root / "test_metrics.json").read_text())
        rows.append({"fold": index, **{k: round(v, 4) for k, v in metrics.items()}})
        logging.info("fold %d: %s", index, rows[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=REPO / "build" / "livec")
    parser.add_argument("--config", type=Path, default=HERE / "config.json")
    parser.add_argument("--record", type=Path, default=RECORD, help="where the record of the run goes")
    parser.add_argument("--install", type=Path, default=PACKAGE_MODEL, help="where the model is copied")
    parser.add_argument("--skip-cv", action="store_true", help="reuse the record's cv.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    labels = args.work / "livec_labels.json"
    entries = convert_mos_csv(
        args.livec / "labels.csv", image_column="image", mos_column="mos", std_column="mos_std",
        scale=parse_scale("0-100"),
    ).entries  # fmt: skip
    write_labels(labels, entries)
    images, config = args.livec / "images", args.config
    args.record.mkdir(parents=True, exist_ok=True)
    cv_file = args.record / "cv.csv"
    if not args.skip_cv:
        rows = cross_validate(entries, config, images, args.work / "cv", args.folds)
        with cv_file.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    rows = list(csv.DictReader(cv_file.open()))
    cv = {
        f"cv_{m}": round(statistics.mean(float(r[m]) for r in rows), 4)
        for m in ("srcc", "plcc", "emd", "rmse")
    }
    cv["cv_srcc_std"] = round(statistics.stdev(float(r["srcc"]) for r in rows), 4)
    cv["cv_folds"] = len(rows)

    job = start_training(load_config(config), labels, images, args.work / "final")
    card = OnnxNimaModel(job.onnx_path).card
    card = card.model_copy(
        update={
            "name": MODEL_NAME,
            "description": f"Technical quality (NIMA, {card.backbone}) trained on LIVE In the Wild. {SCALE_NOTE}",
            "training_data": "LIVE In the Wild Challenge Database, 813 photos (c) 2015 The University of Texas "
            "at Austin, LIVE (http://live.ece.utexas.edu); mean opinion scores from about 175 raters each",
            "metrics": {**cv, **card.metrics},
            "source": "recipes/livec_technical/reproduce.py",
            "limits": LIMITS,
        }
    )
    replace_card(job.onnx_path, card)
    args.install.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(job.onnx_path, args.install)
    for name in ("metrics.csv", "config.json"):
        shutil.copyfile(job.root / name, args.record / f"final_{name}")
    (args.record / "card.json").write_text(card.model_dump_json(indent=2) + "\n")
    logging.info("cross-validation: %s; model written to %s", cv, args.install)


if __name__ == "__main__":
    main()
