"""Train aesthetic NIMA models on PARA and measure them on its official GIAA test split.

    python recipes/para_aesthetic/reproduce.py --para PARA/ [--work build/para] [--models all listing ...]

1. ``photoscore data para``: train = every photo not in PARA-GiaaTest.csv (means → labels), test = the
   official test split (real votes) with scenes; the listing-like slice = its indoor + building photos.
2. ``all``: NIMA trained on every train photo (validation: 5% of train); ``all-layers``: the same, then
   all layers fine-tuned (config_all_layers.json).
3. ``listing``: the same recipe on the train photos an ImageNet classifier calls rooms or buildings
   (listing_like.py), as the original project trained its second model on AVA's interiors. How the
   rule agrees with the test split's scenes is recorded afterwards (listing_rule_on_test.json), never used.
4. ``photoscore evaluate`` of each model and of the pair (distributions averaged) on the test split and
   on its listing-like slice: the test split is read once per reported model. Then the listing method
   itself: each PARA session (of the test split, and of the slice) as one "listing", MinMax per group by
   ``Scorer.rank``, and the SRCC within each group of 3 or more (what a listing's ranking depends on),
   averaged over groups.

PARA's terms allow research and learning only: the models stay in the work folder with those terms in
their cards; nothing here goes into the package. The record (configs, metrics.csv, metrics.json) is
written next to this script. Steps whose output exists are skipped, so a rerun continues.
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
from collections import Counter
from pathlib import Path

from listing_like import LISTING_CLASSES, THRESHOLD, listing_probability
from scipy.stats import spearmanr

from photoscore.data.para import IMAGES_DIR, TERMS, TEST_CSV, TEST_FILE, TRAIN_FILE, convert_para
from photoscore.labels import image_path, read_labels, write_labels
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import load_config
from photoscore.training.export import export_onnx, replace_card
from photoscore.training.job import JobFolder
from photoscore.training.nima import NimaNet
from photoscore.training.train import start_training

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LISTING_SCENES = ("indoor", "building")
MODELS = ("all", "all-layers", "listing")
CREDIT = (
    "PARA (Yang et al., 'Personalized Image Aesthetics Assessment with Rich Attributes', CVPR 2022), "
    "official GIAA train split as described in recipes/para_aesthetic"
)


def train_model(name: str, config: Path, samples: Path, images: Path, work: Path, record: Path) -> Path:
    """Train (or reuse) one model; its card carries PARA's terms; its record goes next to the recipe."""
    model = work / f"{name}.onnx"
    if model.is_file():
        return model
    job = start_training(
        load_config(config).model_copy(update={"name": f"para-{name}"}), samples, images, work / name
    )
    card = OnnxNimaModel(job.onnx_path).card
    card = card.model_copy(
        update={
            "description": f"Aesthetic NIMA ({card.backbone}) trained on PARA ({name} photos of the train split).",
            "training_data": f"{CREDIT}: {samples.name}",
            "license": TERMS,
            "source": "recipes/para_aesthetic/reproduce.py",
            "limits": "Research and learning use only (PARA's terms). Photos squashed to 224x224 by this copy.",
        }
    )
    replace_card(job.onnx_path, card)
    shutil.copyfile(job.onnx_path, model)
    for part in ("metrics.csv", "config.json"):
        shutil.copyfile(job.root / part, record / f"{name}_{part}")
    return model


def last_epoch_model(jobs: Path, best: Path, out: Path) -> Path:
    """The newest job's last-epoch weights as a model: on PARA's made-up train distributions the
    validation EMD kept the head-only epoch, while the validation SRCC (the figure reported) rose in
    both all-layer epochs."""
    if out.is_file():
        return out
    job = JobFolder(sorted(path.parent for path in jobs.glob("*/state.json"))[-1])
    config = job.read_config()
    net = NimaNet.build(
        config.base_model_name,
        weights="none",
        dropout=config.dropout_rate,
        feature_levels=config.feature_levels,
    )
    net.load_state_dict(job.load_weights("last"))
    card = OnnxNimaModel(best).card
    net.preprocessing = card.preprocessing
    last = job.load_state().rows[-1]
    card = card.model_copy(
        update={
            "description": f"{card.description} Weights of the last epoch (chosen by validation SRCC).",
            "metrics": {k: last[k] for k in ("val_emd", "val_srcc", "val_plcc")},
        }
    )
    export_onnx(net.eval(), card, out)
    return out


def evaluate(models: list[Path], samples: Path, images: Path, report: Path, record_name: Path) -> None:
    """``photoscore evaluate`` (the command users run), its metrics.json copied into the record."""
    if not (report / "metrics.json").is_file():
        command = [sys.executable, "-m", "photoscore", "evaluate", "--samples", str(samples)]
        command += ["--image-dir", str(images), "--report", str(report)]
        for model in models:
            command += ["-m", str(model)]
        subprocess.run(command, check=True)
    shutil.copyfile(report / "metrics.json", record_name)


def within_groups(models: list[Path], samples: Path, images: Path, sessions: dict[str, str]) -> dict:
    """The listing method on the slice: each session a group, MinMax per group, SRCC within groups."""
    entries = read_labels(samples)
    truth = {e.image_id: e.mean for e in entries}
    paths = [image_path(images, e.image_id) for e in entries]
    rankings = Scorer(models).rank(paths, group_by=[sessions[e.image_id] for e in entries])
    per_group = []
    for ranking in rankings:
        scored = [r for r in ranking.results if r.ok]
        if len(scored) >= 3 and len({truth[r.image_id] for r in scored}) > 1:
            rho = spearmanr(
                [r.normalized_score for r in scored], [truth[r.image_id] for r in scored]
            ).statistic
            per_group.append(float(rho))
    mean = round(statistics.mean(per_group), 4) if per_group else None
    return {"groups": len(per_group), "mean_within_group_srcc": mean}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--para", type=Path, required=True, help="PARA folder: annotation/ and imgs/")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "para")
    parser.add_argument("--config", type=Path, default=HERE / "config.json")
    parser.add_argument("--all-layers-config", type=Path, default=HERE / "config_all_layers.json")
    parser.add_argument("--record", type=Path, default=HERE / "record")
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=list(MODELS), help="which models to train and measure"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    work, record = args.work, args.record
    record.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.config, record / "config.json")

    labels = work / "labels"
    if not (labels / TEST_FILE).is_file():
        convert_para(args.para, labels)
    images, train_file, test_file = labels / IMAGES_DIR, labels / TRAIN_FILE, labels / TEST_FILE
    test = read_labels(test_file)
    slice_file = labels / "test_listing.json"
    write_labels(slice_file, [e for e in test if e.scene in LISTING_SCENES])

    def measure(name: str, chosen: list[Path], parts: tuple[str, ...] = ("test", "test_listing")) -> None:
        for part in parts:
            samples = test_file if part == "test" else slice_file
            report = work / "reports" / f"{name}_{part}"
            evaluate(chosen, samples, images, report, record / f"{name}_{part}_metrics.json")

    models: dict[str, Path] = {}
    if "all" in args.models:
        models["all"] = train_model("all", args.config, train_file, images, work / "jobs", record)
        measure("all", [models["all"]])
    if "all-layers" in args.models:
        shutil.copyfile(args.all_layers_config, record / "config_all_layers.json")
        models["all-layers"] = train_model(
            "all-layers", args.all_layers_config, train_file, images, work / "jobs", record
        )
        measure("all-layers", [models["all-layers"]])
        models["all-layers-last"] = last_epoch_model(
            work / "jobs" / "all-layers", models["all-layers"], work / "jobs" / "all-layers-last.onnx"
        )
        measure("all-layers-last", [models["all-layers-last"]])
    if "listing" not in args.models:
        return
    listing_file = labels / "train_listing.json"
    if not listing_file.is_file():
        train = read_labels(train_file)
        chances = listing_probability(train, images)
        chosen = [e for e in train if chances.get(e.image_id, (0.0, ""))[0] >= THRESHOLD]
        write_labels(listing_file, chosen)
        top = Counter(chances[e.image_id][1] for e in chosen).most_common(15)
        summary = {"threshold": THRESHOLD, "classes": len(LISTING_CLASSES), "train": len(train)}
        summary |= {"chosen": len(chosen), "top_classes": dict(top)}
        (record / "listing_selection.json").write_text(json.dumps(summary, indent=2) + "\n")
        logging.info("listing-like train photos: %d of %d", len(chosen), len(train))
    agreement = record / "listing_rule_on_test.json"
    if not agreement.is_file():  # reported only: the rule was fixed before, and chooses train photos
        chances = listing_probability(test, images)
        picked = {e.image_id for e in test if chances.get(e.image_id, (0.0, ""))[0] >= THRESHOLD}
        scenes = Counter(e.scene for e in test if e.image_id in picked)
        in_slice = sum(scenes[s] for s in LISTING_SCENES)
        slice_size = sum(e.scene in LISTING_SCENES for e in test)
        rule = {"picked": len(picked), "of": len(test), "picked_by_scene": dict(scenes.most_common())}
        rule |= {
            "precision": round(in_slice / max(len(picked), 1), 3),
            "recall": round(in_slice / slice_size, 3),
        }
        agreement.write_text(json.dumps(rule, indent=2) + "\n")

    models["listing"] = train_model("listing", args.config, listing_file, images, work / "jobs", record)
    measure("listing", [models["listing"]])
    if "all" not in models:
        return
    pair = [models["all"], models["listing"]]
    measure("pair", pair, parts=("test_listing",))
    sessions = test_sessions(args.para)
    singles = {name: [model] for name, model in models.items()}
    groups = {
        f"{name}/{part}": within_groups(m, samples, images, sessions)
        for name, m in {**singles, "pair": pair}.items()
        for part, samples in (("test", test_file), ("test_listing", slice_file))
    }
    (record / "within_sessions.json").write_text(json.dumps(groups, indent=2) + "\n")
    logging.info("within sessions: %s", groups)


def test_sessions(para: Path) -> dict[str, str]:
    """Test photo id -> its PARA session (the photos one group of raters saw together)."""
    with open(para / TEST_CSV, encoding="utf-8-sig", newline="") as file:
        return {Path(row["imageName"]).stem: row["sessionId"] for row in csv.DictReader(file)}


if __name__ == "__main__":
    main()
