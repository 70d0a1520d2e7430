"""Training: learnability on a known degradation, resume after kill -9, job folder contents."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from photoscore.labels import read_labels, split_labels
from photoscore.metrics import emd
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training.config import TrainConfig
from photoscore.training.export import build_and_export
from photoscore.training.nima import NimaNet
from photoscore.training.train import start_training

from conftest import blur_label, make_blur_set

pytestmark = pytest.mark.slow

TRAIN_SCENES = ("chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry")
TEST_SCENES = ("coffee", "astronaut", "camera")


@pytest.fixture(scope="module")
def blur_sets(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("blur")
    train = make_blur_set(root / "images", TRAIN_SCENES, crops=4, seed=1)
    test_entries = make_blur_set(root / "test_images", TEST_SCENES, crops=2, seed=2)
    # one folder for both, as users keep them: the test photos go beside the training ones
    for photo in (root / "test_images").iterdir():
        photo.rename(root / "images" / photo.name)
    return train, test_entries, root / "images"


def read_metrics(job: Path) -> list[dict[str, str]]:
    with (job / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_learns_blur_and_beats_the_untrained_model(blur_sets, tmp_path):
    samples, test_samples, images = blur_sets
    config = TrainConfig(
        base_model_name="EfficientNetLite0",
        weights="offline",
        batch_size=16,
        epochs_train_dense=20,
        epochs_train_all=1,
        dropout_rate=0.5,
        validation_fraction=0.2,
        img_format="jpg",
        kind="technical",
        name="blur-test",
    )
    job = start_training(config, samples, images, tmp_path / "jobs", test_samples=test_samples)

    rows = read_metrics(job.root)
    assert [(r["phase"], r["epoch"]) for r in rows] == [("1", str(e)) for e in range(1, 21)] + [("2", "1")]
    for name in ("config.json", "samples.json", "weights/best.safetensors", "weights/last.safetensors"):
        assert (job.root / name).is_file(), name
    assert len(read_labels(job.root / "samples.json")) == len(read_labels(samples))

    model = OnnxNimaModel(job.onnx_path)
    assert model.card.name == "blur-test" and model.card.kind == "technical"
    assert model.card.training_config["epochs_train_dense"] == 20
    assert model.card.metrics["test_srcc"] > 0.8, model.card.metrics
    assert model.card.metrics["val_srcc"] > 0.8, model.card.metrics

    # Validation EMD against an untrained head on the same backbone, on the same validation photos.
    untrained, _ = build_and_export(tmp_path / "untrained.onnx", "EfficientNetLite0", weights="offline")
    val = split_labels(read_labels(samples), config.validation_fraction, seed=config.seed)[1]
    untrained_val_emd = _mean_emd(untrained, val, images)
    assert model.card.metrics["val_emd"] < 0.5 * untrained_val_emd, (model.card.metrics, untrained_val_emd)
    # The exported model, scored through the ONNX engine, on scenes never seen in training.
    test = read_labels(test_samples)
    assert _mean_emd(job.onnx_path, test, images) < _mean_emd(untrained, test, images)


def _mean_emd(model: Path, entries, images: Path) -> float:
    paths = [images / f"{e.image_id}.jpg" for e in entries]
    predicted = np.array([r.distribution for r in Scorer([model]).score(paths)])
    return float(emd(np.array([e.label for e in entries]), predicted).mean())


def test_resume_after_kill_keeps_every_epoch_once(blur_sets, tmp_path):
    samples, _, images = blur_sets
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_model_name": "EfficientNetLite0",
                "weights": "offline",
                "batch_size": 8,
                "epochs_train_dense": 4,
                "epochs_train_all": 1,
                "cache_features": False,
                "img_format": "jpg",
                "validation_fraction": 0.2,
            }
        )
    )
    cmd = [sys.executable, "-m", "photoscore", "train", "--config", str(config), "--samples", str(samples)]
    cmd += ["--image-dir", str(images), "--job-dir", str(tmp_path / "jobs")]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    job = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list((tmp_path / "jobs").glob("*/metrics.csv"))
        if found and len(read_metrics(found[0].parent)) >= 1:
            job = found[0].parent
            break
        time.sleep(0.2)
    assert job is not None, process.stderr.read() if process.poll() is not None else "no epoch in time"
    time.sleep(1.0)  # well inside the next epoch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(read_metrics(job))
    assert done_before < 5, "the job finished before it could be interrupted"

    resumed = subprocess.run(
        [sys.executable, "-m", "photoscore", "train", "--resume", str(job)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    rows = read_metrics(job)
    assert [(r["phase"], r["epoch"]) for r in rows] == [
        ("1", "1"),
        ("1", "2"),
        ("1", "3"),
        ("1", "4"),
        ("2", "1"),
    ]
    assert Scorer([job / "model.onnx"]).score_one(images / "coffee-0-blur0.jpg").error is None


def test_missing_images_are_reported_once_and_skipped(blur_sets, tmp_path, caplog):
    samples, _, images = blur_sets
    entries = json.loads(samples.read_text())[:15]
    entries.append({"image_id": "not-there", "label": blur_label(0)})
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(entries))
    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=1, epochs_train_all=0,
        img_format="jpg", validation_fraction=0.2, batch_size=8, cached_views=3,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="photoscore"):
        job = start_training(config, labels, images, tmp_path / "jobs")
    # each of the three cached views meets the missing photo; it is listed once
    skipped = (job.root / "skipped_images.tsv").read_text().splitlines()
    assert skipped == ["not-there\timage file not found"]
    views = [r.getMessage() for r in caplog.records if r.getMessage().startswith("features (train")]
    assert [v.split(":")[0] for v in views] == [
        "features (train)", "features (train, augmented view 2/3)", "features (train, augmented view 3/3)"
    ]  # fmt: skip
    counts = {v.split(": ")[1].split(" photos")[0] for v in views}
    assert len(counts) == 1, views  # every view holds the same decodable photos
    assert job.onnx_path.is_file()
    strict = config.model_copy(update={"fail_on_missing_images": True})
    with pytest.raises(RuntimeError, match="fail_on_missing_images"):
        start_training(strict, labels, images, tmp_path / "jobs")


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_batchnorm_keeps_imagenet_statistics_while_weights_train(blur_sets, tmp_path, freeze):
    samples, _, images = blur_sets
    entries = json.loads(samples.read_text())[:16]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(entries))
    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=0, epochs_train_all=1,
        img_format="jpg", validation_fraction=0.25, batch_size=4, freeze_batchnorm=freeze,
    )  # fmt: skip
    job = start_training(config, labels, images, tmp_path / "jobs")

    imagenet = NimaNet.build("EfficientNetLite0", weights="offline").state_dict()
    trained = job.load_weights("last")
    statistics = [k for k in imagenet if k.endswith(("running_mean", "running_var"))]
    weights = [k for k in imagenet if k.startswith("backbone.") and k.endswith("weight")]
    assert statistics and weights
    moved = [k for k in statistics if not torch.equal(imagenet[k], trained[k])]
    assert (moved == []) if freeze else (len(moved) == len(statistics)), moved[:3]
    assert all(not torch.equal(imagenet[k], trained[k]) for k in weights)  # every layer trained


@pytest.mark.parametrize("select_by", ["val_emd", "val_srcc"])
def test_select_by_exports_the_epoch_best_by_that_figure(blur_sets, tmp_path, select_by):
    samples, _, images = blur_sets
    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=8, epochs_train_all=0,
        img_format="jpg", validation_fraction=0.2, batch_size=8, learning_rate_dense=3e-3,
        select_by=select_by,
    )  # fmt: skip
    job = start_training(config, samples, images, tmp_path / "jobs")

    rows = read_metrics(job.root)
    assert len(rows) == 8
    pick = min if select_by == "val_emd" else max
    best = pick(rows, key=lambda row: float(row[select_by]))
    card = OnnxNimaModel(job.onnx_path).card
    assert card.metrics[select_by] == pytest.approx(float(best[select_by]), abs=1e-6)
    assert card.metrics["val_emd"] == pytest.approx(float(best["val_emd"]), abs=1e-6)
    assert card.training_config["select_by"] == select_by


def test_early_stopping_follows_select_by(blur_sets, tmp_path):
    samples, _, images = blur_sets
    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=30, epochs_train_all=0,
        img_format="jpg", validation_fraction=0.2, batch_size=8, learning_rate_dense=3e-3,
        select_by="val_srcc", early_stopping_patience=2,
    )  # fmt: skip
    job = start_training(config, samples, images, tmp_path / "jobs")

    srcc = [float(row["val_srcc"]) for row in read_metrics(job.root)]
    best_at = [i for i, value in enumerate(srcc) if value > max(srcc[:i], default=-2.0)]
    # it stops two epochs after the last new best SRCC, or at the end
    assert len(srcc) == min(best_at[-1] + 3, 30), srcc
    assert len(srcc) < 30 or best_at[-1] >= 27, srcc


def test_jobs_written_before_select_by_resume_with_their_best_emd(tmp_path):
    from photoscore.training.job import JobFolder

    job = JobFolder(tmp_path)
    old = {"samples": "samples.json", "image_dir": "photos", "phase": 2, "epochs_done": 1}
    (tmp_path / "state.json").write_text(json.dumps(old | {"best_val_emd": 0.081}))
    state = job.load_state()
    assert (state.best_value, state.phase, state.epochs_done) == (0.081, 2, 1)


def test_continue_or_start_training_starts_once_then_returns_the_finished_job(blur_sets, tmp_path):
    from photoscore.training.train import continue_or_start_training

    samples, _, images = blur_sets
    config = TrainConfig(
        base_model_name="EfficientNetLite0", weights="offline", epochs_train_dense=2, epochs_train_all=0,
        img_format="jpg", validation_fraction=0.2, batch_size=8,
    )  # fmt: skip
    first = continue_or_start_training(config, samples, images, tmp_path / "jobs")
    again = continue_or_start_training(config, samples, images, tmp_path / "jobs")
    assert again.root == first.root
    assert [p.name for p in (tmp_path / "jobs").iterdir()] == [first.root.name]
    assert len(read_metrics(first.root)) == 2
