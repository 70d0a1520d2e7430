"""Train aesthetic NIMA models on PARA and measure them on its official GIAA test split.

    python recipes/para_aesthetic/reproduce.py --para PARA/ [--work build/para] [--models all listing ...]

1. ``photoscore data para``: train = every photo not in PARA-GiaaTest.csv (means → labels), test = the
   official test split (real votes) with scenes; the listing-like slice = its indoor + building photos.
2. Models (``--models``; each config is a file next to this script):
   ``all``: NIMA's head on every train photo (config.json; validation: 5% of train);
   ``all-layers``: the same head, then all layers (config_all_layers.json), weights chosen by
   validation SRCC; ``mobilenet-v2``: the original project's MobileNet recipe with the closest
   backbone that has offline ImageNet weights (config_mobilenet_v2.json);
   ``listing`` and ``listing-all-layers``: the configs of ``all`` and ``all-layers`` on the train photos
   an ImageNet classifier calls rooms or buildings (listing_like.py), as the original project trained
   its second model on AVA's interiors. How the rule agrees with the test split's scenes is recorded
   afterwards (listing_rule_on_test.json), never used.
3. ``photoscore evaluate`` of each model on the test split and on its listing-like slice, and of each
   pair (``pair``: all + listing, ``pair-all-layers``: all-layers + listing-all-layers; distributions
   averaged) on the slice: the test split is read once per reported model. Then the listing method
   itself: each PARA session (of the test split, and of the slice) as one "listing", MinMax per group by
   ``Scorer.rank``, and the SRCC within each group of 3 or more (what a listing's ranking depends on),
   averaged over groups.

PARA's terms allow research and learning only: the models stay in the work folder with those terms in
their cards; nothing here goes into the package. The record (configs, metrics.csv, metrics.json) is
written next to this script. Steps whose output exists are skipped and an unfinished training job is
resumed, so a rerun continues.
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
from photoscore.labels import LabelEntry, image_path, read_labels, write_labels
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import load_config
from photoscore.training.export import replace_card
from photoscore.training.train import continue_or_start_training

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LISTING_SCENES = ("indoor", "building")
# model name -> (its config file, trained on the listing-like photos only)
MODELS = {
    "all": ("config.json", False),
    "all-layers": ("config_all_layers.json", False),
    "mobilenet-v2": ("config_mobilenet_v2.json", False),
    "listing": ("config.json", True),
    "listing-all-layers": ("config_all_layers.json", True),
}
PAIRS = {"pair": ("all", "listing"), "pair-all-layers": ("all-layers", "listing-all-layers")}
CREDIT = (
    "PARA (Yang et al., 'Personalized Image Aesthetics Assessment with Rich Attributes', CVPR 2022), "
    "official GIAA train split as described in recipes/para_aesthetic"
)


def train_model(name: str, config: Path, samples: Path, images: Path, work: Path, record: Path) -> Path:
    """Train (or reuse) one model; its card carries PARA's terms; its record goes next to the recipe."""
    model = work / f"{name}.onnx"
    if model.is_file():
        return model
    settings = load_config(config).model_copy(update={"name": f"para-{name}"})
    job = continue_or_start_training(settings, samples, images, work / name)
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
    parser.add_argument("--record", type=Path, default=HERE / "record")
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=list(MODELS), help="which models to train and measure"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    work, record = args.work, args.record
    record.mkdir(parents=True, exist_ok=True)

    labels = work / "labels"
    if not (labels / TEST_FILE).is_file():
        convert_para(args.para, labels)
    images, train_file, test_file = labels / IMAGES_DIR, labels / TRAIN_FILE, labels / TEST_FILE
    test = read_labels(test_file)
    slice_file = labels / "test_listing.json"
    write_labels(slice_file, [e for e in test if e.scene in LISTING_SCENES])
    if any(MODELS[name][1] for name in args.models):
        listing_file = listing_like_train(train_file, test, images, labels, record)

    def measure(name: str, chosen: list[Path], parts: tuple[str, ...] = ("test", "test_listing")) -> None:
        for part in parts:
            samples = test_file if part == "test" else slice_file
            report = work / "reports" / f"{name}_{part}"
            evaluate(chosen, samples, images, report, record / f"{name}_{part}_metrics.json")

    models: dict[str, Path] = {}
    for name in args.models:
        config, listing_only = MODELS[name]
        shutil.copyfile(HERE / config, record / config)
        samples = listing_file if listing_only else train_file
        models[name] = train_model(name, HERE / config, samples, images, work / "jobs", record)
        measure(name, [models[name]])
    groups = {name: [model] for name, model in models.items()}
    for pair, members in PAIRS.items():
        if all(member in models for member in members):
            groups[pair] = [models[member] for member in members]
            measure(pair, groups[pair], parts=("test_listing",))

    sessions = test_sessions(args.para)
    within_file = record / "within_sessions.json"
    within = json.loads(within_file.read_text()) if within_file.is_file() else {}
    for name, chosen in groups.items():
        for part, samples in (("test", test_file), ("test_listing", slice_file)):
            within[f"{name}/{part}"] = within_groups(chosen, samples, images, sessions)
    within_file.write_text(json.dumps(within, indent=2) + "\n")
    logging.info("within sessions: %s", within)


def listing_like_train(
    train_file: Path, test: list[LabelEntry], images: Path, labels: Path, record: Path
) -> Path:
    """The train photos the ImageNet classifier calls rooms or buildings (chosen once, then reused), and,
    for the record only, how the same rule agrees with the test split's scenes."""
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
    return listing_file


def test_sessions(para: Path) -> dict[str, str]:
    """Test photo id -> its PARA session (the photos one group of raters saw together)."""
    with open(para / TEST_CSV, encoding="utf-8-sig", newline="") as file:
        return {Path(row["imageName"]).stem: row["sessionId"] for row in csv.DictReader(file)}


if __name__ == "__main__":
    main()
