"""PARA (Yang et al., CVPR 2022) to label files: the official GIAA test split and a train split.

PARA's photos were rated for aesthetics on 1..5 in half steps (nine values). The scale maps linearly
onto photoscore's 1..10, ``s = 1 + (v - 1) * 9 / 4``, so the half steps land on 1, 2.125, 3.25, ...;
each vote at a position between two scores is shared between them in proportion to its distance, so
the 10-bucket label has exactly the rescaled mean of the votes.

- **test** = ``annotation/PARA-GiaaTest.csv`` (3,000 photos): its real vote counts, as above, with the
  photo's scene (``semantic``: indoor, building, portrait, ...).
- **train** = ``annotation/PARA-GiaaTrain.csv`` when the copy has it (real vote counts too); otherwise
  every photo of the per-photo mean file not in the test split, with a maximum-entropy label
  (:func:`photoscore.data.mos.fit_distribution`) of the rescaled mean and a fixed spread, ``DEFAULT_SPREAD``.

Photos live in ``imgs/session<N>/<name>.jpg``; label ids cannot hold folders, so the converter makes a
flat ``images/`` folder of symbolic links next to the label files.

Terms (OPPO): research and learning use only, no commercial use of the data or of anything trained on it.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoscore.data.mos import fit_distribution
from photoscore.distribution import SCORE_BUCKETS
from photoscore.labels import LabelEntry, check_image_id, strip_image_extension, write_labels

TEST_CSV = Path("annotation") / "PARA-GiaaTest.csv"
TRAIN_CSV = Path("annotation") / "PARA-GiaaTrain.csv"
# Of the two per-photo mean files, the one whose means are closest to the test split's own vote means
# (mean absolute difference 0.013 against 0.030 for the "_2_" file, on the 3,000 test photos).
MEAN_CSV = Path("annotation") / "PARA_images_mean_score_greaterorequalthan_3_outier_removed.csv"
VOTE_VALUES = tuple(1.0 + 0.5 * i for i in range(9))
VOTE_COLUMNS = tuple(f"aestheticScore_{v:.1f}" for v in VOTE_VALUES)
# Spread (std on 1..10) of a train label made from a mean: PARA's raters typically disagree by about
# 0.54 on 1..5 (the median vote std of the official test file), 1.2 on 1..10. One constant for every
# photo: it tells the model nothing about any photo, and the mean score, which is what is ranked, is
# the rescaled mean exactly.
DEFAULT_SPREAD = 1.2
TERMS = (
    "PARA (Yang et al., 'Personalized Image Aesthetics Assessment with Rich Attributes', CVPR 2022; "
    "photos and ratings by OPPO): research and learning use only; no commercial use of the data or of "
    "results or outputs based on it."
)
TRAIN_FILE, TEST_FILE, IMAGES_DIR = "para_train.json", "para_test.json", "images"


class ParaError(ValueError):
    """A PARA copy that cannot be converted; the message names the file and the row."""


@dataclass
class ParaSummary:
    """What a conversion wrote."""

    train: int = 0
    test: int = 0
    train_source: str = ""
    missing_photos: list[str] = field(default_factory=list)
    scenes: Counter[str] = field(default_factory=Counter)


def votes_to_label(votes: Iterable[float]) -> tuple[float, ...]:
    """Vote counts for 1.0, 1.5, ..., 5.0 as a 10-bucket label on 1..10 with the same rescaled mean."""
    counts = np.asarray(list(votes), dtype=np.float64)
    if counts.shape != (len(VOTE_VALUES),):
        raise ValueError(f"expected {len(VOTE_VALUES)} vote counts, got {counts.size}")
    if not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("vote counts must be non-negative numbers with a positive sum")
    positions = 1.0 + (np.asarray(VOTE_VALUES) - 1.0) * (len(SCORE_BUCKETS) - 1) / 4.0
    label = np.zeros(len(SCORE_BUCKETS))
    lower = np.floor(positions).astype(int)
    upper_share = positions - lower
    for count, low, share in zip(counts, lower, upper_share, strict=True):
        label[low - 1] += count * (1.0 - share)
        if share > 0:
            label[low] += count * share
    return tuple(round(float(v), 6) for v in label / counts.sum())


def mean_to_score(mean: float) -> float:
    """A PARA mean (1..5) on photoscore's 1..10."""
    if not 1.0 <= mean <= 5.0:
        raise ValueError(f"mean {mean:g} is outside PARA's scale 1..5")
    return 1.0 + (mean - 1.0) * 9.0 / 4.0


def convert_para(root: Path, out: Path, spread: float = DEFAULT_SPREAD) -> ParaSummary:
    """Write ``para_train.json``, ``para_test.json`` and ``images/`` (links) into ``out``."""
    photos = _photo_index(root / "imgs")
    test_rows = list(_read_rows(root / TEST_CSV))
    test, summary = [], ParaSummary()
    for line, row in test_rows:
        test.append(_vote_entry(root / TEST_CSV, line, row, scene=row.get("semantic") or None))
    test_ids = {e.image_id for e in test}
    if (root / TRAIN_CSV).is_file():
        summary.train_source = str(TRAIN_CSV)
        train = [_vote_entry(root / TRAIN_CSV, line, row) for line, row in _read_rows(root / TRAIN_CSV)]
    else:
        summary.train_source = f"{MEAN_CSV} (means, spread {spread:g})"
        train = [e for e in _mean_entries(root / MEAN_CSV, spread) if e.image_id not in test_ids]
    if overlap := sorted(test_ids & {e.image_id for e in train}):
        raise ParaError(
            f"{root / TRAIN_CSV}: {len(overlap)} photos are also in the test split, e.g. {overlap[0]}"
        )
    kept: dict[str, list[LabelEntry]] = {"train": [], "test": []}
    for split, entries in (("train", train), ("test", test)):
        for entry in entries:
            if entry.image_id in photos:
                kept[split].append(entry)
            else:
                summary.missing_photos.append(entry.image_id)
    _link_photos(out / IMAGES_DIR, {e.image_id: photos[e.image_id] for e in kept["train"] + kept["test"]})
    summary.train = write_labels(out / TRAIN_FILE, kept["train"])
    summary.test = write_labels(out / TEST_FILE, kept["test"])
    summary.scenes = Counter(e.scene for e in kept["test"] if e.scene)
    return summary


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            yield from enumerate(csv.DictReader(file), start=2)
    except FileNotFoundError:
        raise ParaError(f"{path}: not found (is this a PARA folder with annotation/ and imgs/?)") from None


def _vote_entry(path: Path, line: int, row: dict[str, str], scene: str | None = None) -> LabelEntry:
    try:
        image_id = check_image_id(strip_image_extension(row["imageName"]))
        label = votes_to_label(float(row[c]) for c in VOTE_COLUMNS)
    except KeyError as exc:
        raise ParaError(f"{path}: no column {exc.args[0]!r} (line {line})") from None
    except ValueError as exc:
        raise ParaError(f"{path}, line {line}: {exc}") from None
    return LabelEntry(image_id, label, scene=scene)


def _mean_entries(path: Path, spread: float) -> Iterator[LabelEntry]:
    for line, row in _read_rows(path):
        try:
            image_id = check_image_id(strip_image_extension(row["imageName"]))
            fit = fit_distribution(mean_to_score(float(row["aestheticScore"])), spread)
        except KeyError as exc:
            raise ParaError(f"{path}: no column {exc.args[0]!r} (line {line})") from None
        except ValueError as exc:
            raise ParaError(f"{path}, line {line}: {exc}") from None
        yield LabelEntry(image_id, tuple(round(float(p), 6) for p in fit.probabilities))


def _photo_index(imgs: Path) -> dict[str, Path]:
    """Photo id -> file, over every session folder."""
    if not imgs.is_dir():
        raise ParaError(f"{imgs}: no photo folder (PARA keeps its photos in imgs/session<N>/)")
    return {p.stem: p.resolve() for p in sorted(imgs.glob("*/*")) if p.suffix.lower() in {".jpg", ".jpeg"}}


def _link_photos(folder: Path, photos: dict[str, Path]) -> None:
    """A flat folder of links to these photos; links of an earlier run to other photos go."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{image_id}{path.suffix}": path for image_id, path in photos.items()}
    for existing in folder.iterdir():
        if existing.is_symlink() and existing.name not in wanted:
            existing.unlink()
    for name, target in wanted.items():
        link = folder / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)
