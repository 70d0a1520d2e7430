"""The ``photoscore`` command as users run it: a real process, real photos, real model files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def photoscore(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photoscore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture
def mixed_dir(tmp_path: Path, photo_dir: Path) -> Path:
    """Real photos plus one broken file and one file that is not a photo at all."""
    folder = tmp_path / "listing"
    folder.mkdir()
    for photo in photo_dir.glob("*.jpg"):
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "broken.JPG").write_bytes((photo_dir / "coffee.jpg").read_bytes()[:2000])
    (folder / "notes.txt").write_text("not a photo, and not picked up from a folder")
    return folder


def test_score_json_to_stdout(mixed_dir, colour_model):
    run = photoscore("score", mixed_dir, "--model", colour_model(), "--json")
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    assert [r["image_id"] for r in records] == ["astronaut", "broken", "chelsea", "coffee", "rocket"]
    for record in records:
        assert set(record) == {
            "image_id",
            "path",
            "mean_score_prediction",
            "std_score_prediction",
            "distribution",
            "error",
        }
        assert Path(record["path"]).parent == mixed_dir
        if record["image_id"] == "broken":
            assert "truncated" in record["error"].lower() or "corrupt" in record["error"].lower()
            continue
        assert record["error"] is None
        assert 1 <= record["mean_score_prediction"] <= 10
        assert record["std_score_prediction"] > 0
        assert len(record["distribution"]) == 10
        assert sum(record["distribution"]) == pytest.approx(1, abs=1e-5)
    assert "Scored 4 of 5 photos; 1 could not be scored." in run.stderr
    assert "broken.JPG" in run.stderr


def test_score_writes_csv_and_prints_lines(mixed_dir, colour_model, tmp_path):
    out = tmp_path / "out" / "scores.csv"
    run = photoscore("score", mixed_dir, "-m", colour_model(), "--output", out)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["image_id"] for r in rows] == ["astronaut", "broken", "chelsea", "coffee", "rocket"]
    assert rows[1]["error"] and not rows[0]["error"]
    assert len(json.loads(rows[0]["distribution"])) == 10
    assert len(run.stdout.strip().splitlines()) == 5
    assert "error" in run.stdout.splitlines()[1]


def test_two_models_report_each_model(photo_dir, colour_model, tmp_path):
    out = tmp_path / "scores.json"
    run = photoscore(
        "score", photo_dir / "coffee.jpg", "-m", colour_model("a", seed=1), "-m", colour_model("b", seed=2),
        "-o", out,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (record,) = json.loads(out.read_text())
    assert set(record["models"]) == {"a", "b"}
    mean = (record["models"]["a"]["mean"] + record["models"]["b"]["mean"]) / 2
    assert record["mean_score_prediction"] == pytest.approx(mean, abs=1e-5)


def test_nothing_scored_exits_non_zero(tmp_path, colour_model):
    (tmp_path / "empty.jpg").write_bytes(b"")
    run = photoscore("score", tmp_path / "empty.jpg", "-m", colour_model())
    assert run.returncode == 1
    assert "empty.jpg" in run.stderr and "Scored 0 of 1" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "nowhere/"], "nowhere"),
        (["score", "{photos}", "-m", "nosuch.onnx"], "nosuch.onnx: model file not found"),
        (["score", "{photos}", "-m", "{model}", "-o", "out.xlsx"], "use a .json, .jsonl or .csv"),
    ],
)
def test_wrong_arguments_exit_2_with_a_clear_message(args, message, photo_dir, colour_model):
    model = colour_model()
    run = photoscore(*[a.format(photos=photo_dir, model=model) for a in args])
    assert run.returncode == 2
    assert message in run.stderr


def test_without_a_bundled_model_the_error_says_so(tmp_path, monkeypatch):
    from photoscore.scoring import registry

    monkeypatch.setattr(registry, "bundled_model_dir", lambda: tmp_path)
    with pytest.raises(
        registry.NoDefaultModelError, match="No default model is bundled with this photoscore install"
    ):
        registry.default_model()


def test_version_in_the_command_and_the_model_list(tmp_path):
    from photoscore import __version__

    assert photoscore("--version").stdout == f"photoscore {__version__}\n"
    env = {**os.environ, "PHOTOSCORE_MODEL_DIR": str(tmp_path)}
    assert photoscore("models", "list", env=env).stdout.startswith(f"photoscore {__version__}\n")
    assert json.loads(photoscore("models", "list", "--json", env=env).stdout)["photoscore"] == __version__


def test_models_list_shows_installed_cards_and_known_models(tmp_path, colour_model):
    colour_model("my-model")
    env = {"PATH": "/usr/bin:/bin", "PHOTOSCORE_MODEL_DIR": str(tmp_path), "HOME": str(tmp_path)}
    run = photoscore("models", "list", "--json", env=env)
    assert run.returncode == 0, run.stderr
    listing = json.loads(run.stdout)
    card = listing["installed"]["my-model"]["card"]
    assert card["kind"] == "technical" and card["preprocessing"]["input_size"] == [32, 32]
    assert any(k["name"] == "idealo-aesthetic" for k in listing["known"])
    table = photoscore("models", "list", env=env)
    assert "my-model" in table.stdout and "idealo-technical" in table.stdout
    licensed = [name for name, model in listing["installed"].items() if model["card"].get("license")]
    assert "my-model" not in licensed
    assert table.stdout.count("licence:") == len(licensed)  # a line only where the card has a licence


def test_models_list_shows_a_cards_licence(tmp_path, colour_model):
    pytest.importorskip("torch")
    from photoscore.scoring.onnx_model import OnnxNimaModel
    from photoscore.training.export import replace_card

    path = colour_model("research-model")
    terms = "research and learning use only; no commercial use"
    replace_card(path, OnnxNimaModel(path).card.model_copy(update={"license": terms}))
    env = {"PATH": "/usr/bin:/bin", "PHOTOSCORE_MODEL_DIR": str(tmp_path), "HOME": str(tmp_path)}
    table = photoscore("models", "list", env=env)
    assert f"licence: {terms}" in table.stdout


def test_score_with_an_installed_model_name(tmp_path, photo_dir, colour_model):
    colour_model("my-model")
    env = {"PATH": "/usr/bin:/bin", "PHOTOSCORE_MODEL_DIR": str(tmp_path), "HOME": str(tmp_path)}
    run = photoscore("score", photo_dir / "rocket.jpg", "-m", "my-model", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["image_id"] == "rocket"
