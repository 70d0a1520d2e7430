"""The original project's ./train-local and ./predict commands, run as users run them."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from photoscore.training.nima import NimaNet

from conftest import make_blur_set

REPO = Path(__file__).resolve().parents[1]
ENV = {"PATH": "/usr/bin:/bin", "PHOTOSCORE_PYTHON": sys.executable}

pytestmark = pytest.mark.slow


def run(script: str, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "HOME": str(home)},
    )


def test_predict_with_a_checkpoint_prints_the_original_json(tmp_path, photo_dir):
    net = NimaNet.build("EfficientNetLite0", weights="none")
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.arange(10, dtype=torch.float32) * 0.3)
    weights = tmp_path / "weights_lite0_technical.safetensors"
    save_file(net.state_dict(), str(weights))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_model_name": "EfficientNetLite0", "kind": "technical"}))

    result = run(
        "predict",
        "--config-file",
        config,
        "--image-source",
        photo_dir,
        "--weights-file",
        weights,
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["image_id"] for r in records] == ["astronaut", "chelsea", "coffee", "rocket"]
    expected = torch.softmax(net.head.bias.detach(), 0) @ torch.arange(1, 11, dtype=torch.float32)
    assert all(abs(r["mean_score_prediction"] - float(expected)) < 1e-3 for r in records)

    single = run("predict", "--config-file", config, "--image-source", photo_dir / "coffee.jpg",
                 "--weights-file", weights, home=tmp_path)  # fmt: skip
    assert json.loads(single.stdout)[0]["image_id"] == "coffee"


def test_train_local_makes_a_job_folder(tmp_path):
    samples = make_blur_set(tmp_path / "images", ("chelsea", "coffee"), crops=1, seed=0)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "train_env": "local", "docker_image": "nima-cpu", "base_model_name": "EfficientNetLite0",
                "batch_size": 4, "epochs_train_dense": 2, "epochs_train_all": 0, "img_format": "jpg",
                "weights": "offline", "validation_fraction": 0.3,
            }
        )
    )  # fmt: skip
    result = run(
        "train-local", "--config-file", config, "--samples-file", samples, "--image-dir", tmp_path / "images",
        "--job-dir", tmp_path / "jobs", home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (job,) = (tmp_path / "jobs").iterdir()
    assert (job / "model.onnx").is_file()
    assert len((job / "metrics.csv").read_text().splitlines()) == 1 + 2
