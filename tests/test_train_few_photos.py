"""Training on a handful of photos: problems are caught before any work, with what to change."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from skimage import data

from photoscore.labels import LabelFileError, read_labels, split_labels
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import TrainConfig
from photoscore.training.train import TrainingError, start_training

from conftest import blur_label


def few_photos(folder: Path, count: int) -> list[dict]:
    """``count`` real photo crops, blurred more and more, with labels that follow the blur."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(data.chelsea()).convert("RGB").resize((96, 64))
    entries = []
    for index in range(count):
        sigma = index * 4 / max(count - 1, 1)
        photo.filter(ImageFilter.GaussianBlur(sigma)).save(folder / f"photo{index}.jpg", quality=90)
        entries.append({"image_id": f"photo{index}", "label": blur_label(sigma)})
    return entries


def label_file(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps(entries))
    return path


def tiny_config(**changes) -> TrainConfig:
    """The smallest real run: the offline ImageNet backbone, one epoch of the head."""
    fields = dict(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=1, epochs_train_all=0,
        batch_size=4, cached_views=1, img_format="jpg",
    )  # fmt: skip
    return TrainConfig(**{**fields, **changes})


def test_one_validation_photo_is_refused_before_any_work_and_says_what_to_change(tmp_path):
    labels = label_file(tmp_path / "labels.json", few_photos(tmp_path / "images", 6))
    jobs = tmp_path / "jobs"
    with pytest.raises(TrainingError) as caught:
        start_training(tiny_config(), labels, tmp_path / "images", jobs)
    message = str(caught.value)
    assert "6 photos with validation_fraction 0.05 leave 1 to validate" in message
    assert "set validation_fraction to 0.34 or more, or label more photos" in message
    assert not jobs.exists()

    cli_config = tmp_path / "config.json"
    cli_config.write_text(tiny_config().model_dump_json())
    run = subprocess.run(
        [sys.executable, "-m", "photoscore", "train", "--config", cli_config, "--samples", labels,
         "--image-dir", tmp_path / "images", "--job-dir", jobs],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert (
        run.returncode == 2 and "validation_fraction to 0.34" in run.stderr and "Traceback" not in run.stderr
    )
    assert not jobs.exists()


@pytest.mark.slow
def test_the_fraction_the_message_names_trains_to_the_end(tmp_path):
    labels = label_file(tmp_path / "labels.json", few_photos(tmp_path / "images", 6))
    job = start_training(
        tiny_config(validation_fraction=0.34), labels, tmp_path / "images", tmp_path / "jobs"
    )
    card = OnnxNimaModel(job.onnx_path).card
    assert "4 photos to train, 2 to validate" in card.training_data
    assert {"val_emd", "val_srcc", "val_plcc"} <= set(card.metrics)


def test_equal_validation_labels_are_refused_before_any_work(tmp_path):
    entries = few_photos(tmp_path / "images", 6)
    validating = {
        e.image_id
        for e in split_labels(
            read_labels(label_file(tmp_path / "l.json", entries)), 0.34, tiny_config().seed
        )[1]
    }
    assert len(validating) == 2
    for entry in entries:
        if entry["image_id"] in validating:
            entry["label"] = blur_label(1.0)
    labels = label_file(tmp_path / "labels.json", entries)
    with pytest.raises(
        TrainingError, match=r"the 2 photos to validate all have the mean score 6\.69, .*validation_fraction"
    ):
        start_training(tiny_config(validation_fraction=0.34), labels, tmp_path / "images", tmp_path / "jobs")
    assert not (tmp_path / "jobs").exists()


def test_an_empty_label_list_fails_before_the_job_folder_is_made(tmp_path):
    labels = label_file(tmp_path / "labels.json", [])
    with pytest.raises(TrainingError, match="no labelled photos"):
        start_training(tiny_config(), labels, tmp_path, tmp_path / "jobs")
    assert not (tmp_path / "jobs").exists()


def test_a_label_too_large_to_sum_says_so(tmp_path):
    entries = few_photos(tmp_path / "images", 3)
    entries[1]["label"] = [1e308] * 10
    with pytest.raises(LabelFileError, match=r"entry 1.*label too large") as caught:
        read_labels(label_file(tmp_path / "labels.json", entries))
    assert "NaN" not in str(caught.value)


@pytest.mark.slow
def test_validation_photos_that_fail_to_decode_leave_correlations_undefined_not_a_crash(tmp_path, caplog):
    images = tmp_path / "images"
    entries = few_photos(images, 7)
    labels = label_file(tmp_path / "labels.json", entries)
    validating = [e.image_id for e in split_labels(read_labels(labels), 0.43, tiny_config().seed)[1]]
    assert len(validating) == 3
    for image_id in validating[:2]:  # found on disk, so the split is fine, but they cannot be decoded
        (images / f"{image_id}.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level(logging.INFO, logger="photoscore"):
        job = start_training(tiny_config(validation_fraction=0.43), labels, images, tmp_path / "jobs")
    assert "val_srcc undefined val_plcc undefined" in caplog.text
    card = OnnxNimaModel(job.onnx_path).card
    assert np.isfinite(card.metrics["val_emd"]) and "val_srcc" not in card.metrics
    skipped = (job.root / "skipped_images.tsv").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in skipped) == sorted(validating[:2])
