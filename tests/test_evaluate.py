"""Evaluation: hand-checked metrics, the engine end to end on real photos, the CLI, and LIVE photos."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from photoscore.cli.evaluate import evaluate
from photoscore.evaluate import EvaluationBuilder, Failure, evaluate_photos
from photoscore.images import load_image
from photoscore.labels import LabelEntry, write_labels
from photoscore.metrics import evaluate_predictions
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.results import ModelScore, ScoreResult

METRIC_KEYS = {"n", "plcc", "srcc", "krcc", "accuracy", "emd", "emd_r1", "mean_abs_error", "rmse"}


def one_hot(score: int) -> list[float]:
    return [1.0 if s == score else 0.0 for s in range(1, 11)]


def result(image_id: str, dists: dict[str, list[float]]) -> ScoreResult:
    """A score result with each model's distribution and their average, as the engine makes them."""
    average = np.mean(list(dists.values()), axis=0).tolist()
    models = {name: ModelScore(0.0, 0.0, dist) for name, dist in dists.items()}
    return ScoreResult(image_id, f"{image_id}.jpg", 0.0, 0.0, average, models)


def test_metrics_hand_checked() -> None:
    """True means 2, 5, 8; model a predicts 3, 4, 9; model b 2, 7, 6 (one-hot distributions)."""
    builder = EvaluationBuilder(["a", "b"])
    for image_id, true, pred_a, pred_b in (("p1", 2, 3, 2), ("p2", 5, 4, 7), ("p3", 8, 9, 6)):
        builder.add(
            LabelEntry(image_id, tuple(one_hot(true))),
            result(image_id, {"a": one_hot(pred_a), "b": one_hot(pred_b)}),
        )
    broken = ScoreResult("p4", "p4.jpg", error="truncated or corrupt image data")
    builder.add(LabelEntry("p4", tuple(one_hot(5))), broken)
    evaluation = builder.result()

    assert evaluation.image_ids == ["p1", "p2", "p3"]
    assert evaluation.failures == [Failure("p4", "p4.jpg", "truncated or corrupt image data")]
    np.testing.assert_allclose(evaluation.true_means, [2, 5, 8])
    a, b = (p.metrics for p in evaluation.models)
    ensemble = evaluation.ensemble.metrics
    # One-hot at i vs one-hot at j: the CDFs differ by 1 on |i - j| of the 10 buckets. PLCC from the
    # deviations from the means: a (-3, 0, 3) x (-7/3, -4/3, 11/3); b (-3, 0, 3) x (-3, 2, 1).
    # b ranks p2 above p3: SRCC 1 - 6 * 2 / (3 * 8), KRCC (2 concordant - 1 discordant) / 3 pairs.
    assert a == pytest.approx(
        {"n": 3, "emd_r1": 0.1, "emd": math.sqrt(0.1), "plcc": math.sqrt(18 / (62 / 3)), "srcc": 1.0,
         "krcc": 1.0, "accuracy": 1.0, "mean_abs_error": 1.0, "rmse": 1.0}
    )  # fmt: skip
    assert b == pytest.approx(
        {"n": 3, "emd_r1": 0.4 / 3, "emd": 2 * math.sqrt(0.2) / 3, "plcc": 12 / math.sqrt(18 * 14),
         "srcc": 0.5, "krcc": 1 / 3, "accuracy": 2 / 3, "mean_abs_error": 4 / 3, "rmse": math.sqrt(8 / 3)}
    )  # fmt: skip
    # The ensemble averages the distributions: halves at 2|3, 4|7, 6|9, means 2.5, 5.5, 7.5 (deviations
    # -8/3, 1/3, 7/3); its CDF differs from the truth by 0.5 on one bucket (p1) or three (p2, p3).
    assert ensemble == pytest.approx(
        {"n": 3, "emd_r1": 0.35 / 3, "emd": (math.sqrt(0.025) + 2 * math.sqrt(0.075)) / 3,
         "plcc": 15 / math.sqrt(18 * 38 / 3), "srcc": 1.0, "krcc": 1.0, "accuracy": 2 / 3,
         "mean_abs_error": 0.5, "rmse": 0.5}
    )  # fmt: skip
    document = evaluation.to_dict()
    assert document["photos"] == {"labelled": 4, "scored": 3, "failed": 1}
    assert set(document["models"]) == {"a", "b"} and set(document["ensemble"]) == METRIC_KEYS


def test_undefined_metrics_are_reported_not_raised() -> None:
    builder = EvaluationBuilder(["only"])
    builder.add(LabelEntry("p1", tuple(one_hot(4))), result("p1", {"only": one_hot(5)}))
    evaluation = builder.result()
    assert evaluation.ensemble is None
    (model,) = evaluation.models
    assert model.metrics == {"n": 1} and "at least 2" in model.error
    assert evaluation.to_dict()["models"]["only"] == {"n": 1, "error": model.error}


def reference(model: Path, photo: Path, seed: int) -> np.ndarray:
    """The colour model's output computed with numpy (see conftest.write_colour_model)."""
    prep = OnnxNimaModel(model).card.preprocessing
    pixels = prep.to_array(load_image(photo, min_size=(32, 32)))
    logits = pixels.mean(axis=(1, 2)) @ np.random.default_rng(seed).normal(size=(3, 10))
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


@pytest.fixture
def labelled(tmp_path: Path, photo_dir: Path) -> tuple[Path, list[LabelEntry]]:
    """The sample photos plus a broken file, labelled with one id that has no file."""
    folder = tmp_path / "photos"
    shutil.copytree(photo_dir, folder)
    (folder / "broken.jpg").write_bytes((photo_dir / "coffee.jpg").read_bytes()[:1500])
    ids = ["rocket", "gone", "chelsea", "broken", "astronaut", "coffee"]
    rng = np.random.default_rng(7)
    return folder, [LabelEntry(i, tuple(float(v) for v in rng.integers(1, 40, 10))) for i in ids]


def test_evaluate_photos_matches_numpy_reference(labelled, colour_model) -> None:
    folder, entries = labelled
    models = {colour_model(name="warm", seed=1): 1, colour_model(name="cool", seed=2): 2}
    evaluation = evaluate_photos(entries, folder, Scorer(list(models), batch_size=2, workers=2))

    scored = ["rocket", "chelsea", "astronaut", "coffee"]
    assert evaluation.image_ids == scored
    assert [(f.image_id, f.path is None) for f in evaluation.failures] == [("gone", True), ("broken", False)]
    true = np.array([e.label for e in entries if e.image_id in scored])
    preds = [
        np.array([reference(m, folder / f"{i}.jpg", seed) for i in scored]) for m, seed in models.items()
    ]
    for predictor, pred in zip(evaluation.models, preds, strict=True):
        assert predictor.metrics == pytest.approx(evaluate_predictions(true, pred), abs=1e-5)
    assert evaluation.ensemble.metrics == pytest.approx(
        evaluate_predictions(true, np.mean(preds, 0)), abs=1e-5
    )


def cli(*args: str | Path) -> object:
    app = typer.Typer()
    app.command()(evaluate)
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_samples(tmp_path, labelled, colour_model) -> None:
    folder, entries = labelled
    write_labels(tmp_path / "test.json", entries)
    out, model = tmp_path / "report", colour_model()
    run = cli("--model", model, "--samples", tmp_path / "test.json", "--image-dir", folder, "--report", out)
    assert run.exit_code == 0, run.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["photos"] == {"labelled": 6, "scored": 4, "failed": 2}
    assert metrics["image_dir"] == str(folder) and metrics["model_files"] == {"colour": str(model)}
    assert set(metrics["models"]["colour"]) == METRIC_KEYS and metrics["ensemble"] is None
    assert [f["image_id"] for f in metrics["failed"]] == ["gone", "broken"]
    assert (out / "report.html").is_file()
    assert "2 of 6 photos left out" in run.stderr and "SRCC" in run.stdout


def test_cli_mos_csv(tmp_path, photo_dir, colour_model) -> None:
    table = tmp_path / "mos.csv"
    with table.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["name", "score", "spread"])
        for name, mos in (("astronaut.jpg", 80), ("chelsea.jpg", 55), ("coffee.jpg", 30), ("rocket.jpg", 10)):
            writer.writerow([name, mos, 12])
    out = tmp_path / "report"
    run = cli(
        "--model", colour_model(name="a", seed=1), "--model", colour_model(name="b", seed=2),
        "--mos-csv", table, "--image-column", "name", "--mos-column", "score", "--std-column", "spread",
        "--scale", "0-100", "--image-dir", photo_dir, "--report", out,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["photos"] == {"labelled": 4, "scored": 4, "failed": 0}
    assert set(metrics["models"]) == {"a", "b"} and metrics["ensemble"]["n"] == 4
    assert metrics["labels"].startswith(str(table))
    assert "fitted" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "either --samples"),
        (["--samples", "x.json", "--mos-csv", "x.csv"], "either --samples"),
        (["--mos-csv", "x.csv", "--image-column", "image"], "--mos-column, --scale"),
        (["--samples", "x.json", "--scale", "0-100"], "--scale go with --mos-csv"),
        (["--samples", "missing.json"], "missing.json"),
        (["--samples", "x.json", "--image-dir", "nowhere"], "image folder not found"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, colour_model, args, message) -> None:
    run = cli("--model", colour_model(), "--image-dir", tmp_path, "--report", tmp_path / "r", *args)
    assert run.exit_code == 2 and message in run.stderr


def test_cli_nothing_scored_exits_1_with_a_report(tmp_path, colour_model) -> None:
    write_labels(tmp_path / "test.json", [LabelEntry("nowhere", tuple(one_hot(5)))])
    out = tmp_path / "report"
    run = cli(
        "--model",
        colour_model(),
        "--samples",
        tmp_path / "test.json",
        "--image-dir",
        tmp_path,
        "--report",
        out,
    )
    assert run.exit_code == 1
    assert json.loads((out / "metrics.json").read_text())["failed"][0]["image_id"] == "nowhere"
    assert "No photo could be scored" in (out / "report.html").read_text()


def test_livec_subset_with_a_real_model(tmp_path, livec_dir) -> None:
    pytest.importorskip("torch")
    from photoscore.training.export import build_and_export

    model, _ = build_and_export(
        tmp_path / "lite0.onnx", backbone="EfficientNetLite0", weights="offline", name="lite0"
    )
    with (livec_dir / "labels.csv").open(newline="") as file:
        rows = list(csv.reader(file))
    subset = tmp_path / "subset.csv"
    with subset.open("w", newline="") as file:
        csv.writer(file).writerows(rows[:41])  # header + 40 photos
    out = tmp_path / "report"
    run = cli(
        "--model", model, "--mos-csv", subset, "--image-column", "image", "--mos-column", "mos",
        "--std-column", "mos_std", "--scale", "0-100", "--image-dir", livec_dir / "images", "--report", out,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["photos"] == {"labelled": 40, "scored": 40, "failed": 0}
    values = metrics["models"]["lite0"]
    assert set(values) == METRIC_KEYS and all(math.isfinite(v) for v in values.values())
    assert "untrained" in (out / "report.html").read_text()
