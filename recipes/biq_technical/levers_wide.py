"""The trained model judging a larger centre crop of the same 500x500 view: same weights, more of the photo
at the same resolution (levers.md, section 5).

    PYTHONPATH=src python recipes/biq_technical/levers_wide.py --biq BIQ2021/ [--held-back 288]

1. Selection: the model's own validation photos (the 5% of BIQ2021 Train + LIVE folds 1-3 its training
   run set aside, by the seed and fraction of record/train_config.json; it never trained on them), scored
   by ``photoscore``'s engine with the centre 224 (as trained) to 500 crop.
2. ``--held-back SIZE``: the one read of the held-back sets (BIQ2021 Test, LIVE folds 4-5) for the size
   chosen in step 1, with ``photoscore evaluate``, as reproduce.py measures the model itself.

Results go to record/levers_wide.json."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from reproduce import (
    HELD_BACK,
    HERE,
    MODEL_NAME,
    PACKAGE_MODEL,
    REPO,
    evaluate,
    labelled_samples,
    merged_images,
)
from scipy.stats import pearsonr, spearmanr

from photoscore.labels import image_path, split_labels
from photoscore.scoring.engine import Scorer
from photoscore.training.export import with_input_size

SIZES = (224, 256, 288, 320, 384, 500)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--biq", type=Path, required=True, help="git clone of BIQ2021")
    parser.add_argument("--livec", type=Path, default=REPO.parent / "shared" / "data" / "livec")
    parser.add_argument("--model", type=Path, default=PACKAGE_MODEL, help="the model reproduce.py trained")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "biq-wide")
    parser.add_argument("--held-back", type=int, help="the crop size chosen on the validation photos")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.work.mkdir(parents=True, exist_ok=True)
    record = HERE / "record" / "levers_wide.json"
    results = json.loads(record.read_text()) if record.is_file() else {}

    samples, _ = labelled_samples(args.biq, args.livec, args.work)
    images = merged_images(args.work, [args.biq / "Images", args.livec / "images"])
    config = json.loads((HERE / "record" / "train_config.json").read_text())
    _, val = split_labels(samples["train"], config["validation_fraction"], seed=config["seed"])
    held_back_ids = {e.image_id for e in samples["live_held_back"] + samples["biq_test"]}
    assert not held_back_ids & {e.image_id for e in val}, "a held-back photo among the validation photos"
    truth = np.array([e.mean for e in val])
    paths = [image_path(images, e.image_id) for e in val]
    live_names = {photo.name for photo in (args.livec / "images").iterdir()}
    is_live = np.array([path.name in live_names for path in paths])
    selection = {}
    for size in SIZES:
        model = with_input_size(args.model, (size, size), args.work / f"crop{size}.onnx", f"crop{size}")
        scores = np.array([r.mean_score_prediction for r in Scorer([model]).score(paths)])
        selection[size] = {
            "srcc": round(float(spearmanr(scores, truth)[0]), 4),
            "plcc": round(float(pearsonr(scores, truth)[0]), 4),
            "srcc_biq2021": round(float(spearmanr(scores[~is_live], truth[~is_live])[0]), 4),
            "srcc_live": round(float(spearmanr(scores[is_live], truth[is_live])[0]), 4),
        }
        logging.info("validation, centre %d: %s", size, selection[size])
    results["validation"] = {"photos": len(val), "live_photos": int(is_live.sum()), "by_crop": selection}

    if args.held_back:
        size = args.held_back
        model = with_input_size(
            args.model, (size, size), args.work / f"{MODEL_NAME}-{size}.onnx", f"{MODEL_NAME}-{size}"
        )
        held = {}
        for part in ("biq_test", *(f"live_fold{i}" for i in HELD_BACK), "live_held_back"):
            report = args.work / "reports" / f"crop{size}_{part}"
            result = evaluate(model, args.work / f"{part}.json", images, report, report.with_suffix(".json"))
            (figures,) = result["models"].values()
            held[part] = {k: round(figures[k], 4) for k in ("n", "srcc", "plcc", "emd")}
        results["held_back"] = {"crop": size, "figures": held}
        logging.info("held back, centre %d: %s", size, held)
    record.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
