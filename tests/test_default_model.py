"""The bundled default model: installed with the package, measured, and sensible on real photos."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import DEFAULT_MODEL_NAME, bundled_model_dir, default_model, resolve_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def model() -> OnnxNimaModel:
    return OnnxNimaModel(default_model())


def test_default_model_ships_inside_the_package(model):
    import photoscore

    assert default_model().parent == bundled_model_dir()
    assert bundled_model_dir().is_relative_to(Path(photoscore.__file__).parent)
    assert default_model().stat().st_size < 25 * 2**20
    card = model.card
    assert card.name == DEFAULT_MODEL_NAME and card.kind == "technical"
    assert "BIQ2021" in card.training_data and "LIVE In the Wild" in card.training_data
    assert "Ahmed & Asif" in card.training_data and "University of Texas" in card.training_data
    for figure in ("biq2021_test_srcc", "biq2021_test_plcc", "livec_held_back_srcc", "livec_held_back_plcc"):
        assert 0 < card.metrics[figure] < 1, figure
    assert "not aesthetics" in card.limits and "500x500" in card.limits
    assert "MOS = (score - 1) * 100 / 9" in card.description


def test_the_earlier_default_model_still_loads_by_name():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "photoscore",
            "score",
            str(EXAMPLES / "coffee.jpg"),
            "-m",
            "livec-technical",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (record,) = json.loads(run.stdout)
    assert record["error"] is None and record["mean_score_prediction"] > 6
    assert OnnxNimaModel(resolve_model("livec-technical")).card.name == "livec-technical"


def test_score_without_model_uses_the_default(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "photoscore", "score", str(EXAMPLES), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"Using the bundled default model {DEFAULT_MODEL_NAME}" in run.stderr
    records = json.loads(run.stdout)
    assert {r["image_id"] for r in records} >= {"chelsea", "coffee", "astronaut", "rocket"}
    assert all(r["error"] is None and 1 <= r["mean_score_prediction"] <= 10 for r in records)


def _degraded(photo: Path, folder: Path) -> list[Path]:
    image = Image.open(photo).convert("RGB")
    blurred = folder / f"{photo.stem}-blur.png"
    image.filter(ImageFilter.GaussianBlur(5)).save(blurred)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=3)
    compressed = folder / f"{photo.stem}-jpeg3.png"
    Image.open(buffer).save(compressed)
    return [blurred, compressed]


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket"])
def test_degraded_copies_score_below_the_original(name, model, tmp_path):
    original = EXAMPLES / f"{name}.jpg"
    results = list(Scorer([model]).score([original, *_degraded(original, tmp_path)]))
    sharp, blurred, compressed = (r.mean_score_prediction for r in results)
    assert blurred < sharp - 0.5, (sharp, blurred)
    assert compressed < sharp - 0.5, (sharp, compressed)
