"""``photoscore evaluate``: score labelled photos, write ``metrics.json`` and an HTML report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from photoscore.atomic import atomic_open
from photoscore.cli.console import err, fail, progress_bar
from photoscore.data.mos import MosError, convert_mos_csv, parse_scale
from photoscore.evaluate import Evaluation, evaluate_photos
from photoscore.labels import LabelEntry, LabelFileError, read_labels
from photoscore.report import COLUMNS, format_metric, write_report
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import ModelFileError, OnnxNimaModel
from photoscore.scoring.registry import resolve_model

METRICS_FILE = "metrics.json"
MAX_SHOWN = 10
EXTRAS = ("scipy", "matplotlib")


def _say(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def evaluate(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="A model.onnx file or installed model name; repeat.")
    ],
    image_dir: Annotated[Path, typer.Option(help="Folder of the labelled photos.")],
    report: Annotated[Path, typer.Option(help="Folder to write metrics.json and report.html into.")],
    samples: Annotated[
        Path | None, typer.Option(help="Label file (JSON): image ids and 10-bucket distributions.")
    ] = None,
    mos_csv: Annotated[Path | None, typer.Option(help="Labels as a CSV of mean opinion scores.")] = None,
    image_column: Annotated[str | None, typer.Option(help="With --mos-csv: column of image names.")] = None,
    mos_column: Annotated[str | None, typer.Option(help="With --mos-csv: column of the scores.")] = None,
    std_column: Annotated[str | None, typer.Option(help="With --mos-csv: column of score std.")] = None,
    scale: Annotated[
        str | None, typer.Option(help="With --mos-csv: scale of the scores, 0-100, 1-5 or min,max.")
    ] = None,
    img_format: Annotated[
        str | None, typer.Option(help="Image file extension (default: any supported one).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per model run.")] = 32,
    workers: Annotated[int | None, typer.Option(min=1, help="Decoding threads (default: CPU count).")] = None,
) -> None:
    """Metrics (EMD, PLCC, SRCC, KRCC, accuracy at 5, MAE, RMSE) per model and for their ensemble.

    Labels come from --samples or --mos-csv. Photos that are missing or unreadable are listed in the
    report and left out of the metrics. Exits 1 when no photo could be scored.
    """
    missing = [name for name in EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        raise fail(f"evaluate needs {' and '.join(missing)}: pip install 'photoscore[eval]'")
    if not image_dir.is_dir():
        raise fail(f"{image_dir}: image folder not found")
    entries, labels_about, notes = _labels(samples, mos_csv, image_column, mos_column, std_column, scale)
    if not entries:
        raise fail("no labelled photos", code=1)
    try:
        report.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"{report}: cannot create the report folder ({exc.strerror or exc})") from exc
    scorer = _scorer(model, batch_size, workers)
    notes += [
        f"{m.name} is untrained (kind: untrained in its card): its scores mean nothing."
        for m in scorer.models
        if m.card.kind == "untrained"
    ]
    with progress_bar("evaluating") as bar:
        task = bar.add_task("evaluating", total=len(entries))
        evaluation = evaluate_photos(entries, image_dir, scorer, img_format, lambda: bar.advance(task))
    inputs = {
        "labels": labels_about,
        "image_dir": str(image_dir),
        "model_files": {m.name: str(m.path) for m in scorer.models},
    }
    about = {
        "labels": labels_about,
        "image folder": str(image_dir),
        "models": ", ".join(f"{m.name} ({m.card.kind}, {m.path})" for m in scorer.models),
    }
    _write(evaluation, report, {**inputs, **evaluation.to_dict()}, about, notes)
    if not evaluation.image_ids:
        raise typer.Exit(1)


def _labels(
    samples: Path | None,
    mos_csv: Path | None,
    image_column: str | None,
    mos_column: str | None,
    std_column: str | None,
    scale: str | None,
) -> tuple[list[LabelEntry], str, list[str]]:
    """Label entries, a line saying where they came from, and notes for the report."""
    mos_options = {"--image-column": image_column, "--mos-column": mos_column, "--scale": scale}
    if (samples is None) == (mos_csv is None):
        raise fail("give labels with either --samples LABELS.json or --mos-csv FILE.csv")
    if samples is not None:
        given = [name for name, value in [*mos_options.items(), ("--std-column", std_column)] if value]
        if given:
            raise fail(f"{', '.join(given)} go with --mos-csv, not --samples")
        try:
            return read_labels(samples), str(samples), []
        except (LabelFileError, OSError) as exc:
            raise fail(str(exc)) from exc
    if image_column is None or mos_column is None or scale is None:
        absent = [name for name, value in mos_options.items() if value is None]
        raise fail(f"--mos-csv needs {', '.join(absent)}")
    try:
        conversion = convert_mos_csv(mos_csv, image_column, mos_column, std_column, parse_scale(scale))
    except (MosError, OSError) as exc:
        raise fail(str(exc)) from exc
    spread = f"the std in {std_column}" if std_column else "a default std"
    notes = [
        f"Labels are mean opinion scores mapped from {scale} onto 1..10; the true distributions behind EMD "
        f"are fitted to each mean and {spread}, so EMD is approximate. Correlations, accuracy, MAE and "
        "RMSE use the means only."
    ]
    if conversion.notes:
        notes.append(f"{len(conversion.notes)} labels were clipped to what 1..10 allows.")
    return conversion.entries, f"{mos_csv} (column {mos_column}, scale {scale})", notes


def _scorer(specs: list[str], batch_size: int, workers: int | None) -> Scorer:
    try:
        models = [OnnxNimaModel(resolve_model(spec)) for spec in specs]
        return Scorer(models, batch_size=batch_size, workers=workers)
    except (ModelFileError, ValueError) as exc:
        raise fail(str(exc)) from exc


def _write(
    evaluation: Evaluation, folder: Path, document: dict, about: dict[str, str], notes: list[str]
) -> None:
    """``document`` as metrics.json, and the report; metrics on standard output, failures on standard error."""
    with atomic_open(folder / METRICS_FILE) as file:
        json.dump(document, file, indent=2, ensure_ascii=False)
        file.write("\n")
    page = write_report(evaluation, folder, about, notes)
    _print_metrics(evaluation)
    for note in notes:
        _say(note)
    failures = evaluation.failures
    if failures:
        _say(f"{len(failures)} of {evaluation.labelled} photos left out of the metrics:")
        for failure in failures[:MAX_SHOWN]:
            _say(f"  {failure.image_id}: {failure.error}")
        if len(failures) > MAX_SHOWN:
            _say(f"  ... and {len(failures) - MAX_SHOWN} more (all in {folder / METRICS_FILE})")
    _say(f"Wrote {folder / METRICS_FILE} and {page}")


def _print_metrics(evaluation: Evaluation) -> None:
    predictors = evaluation.predictors
    table = Table("", *(p.name for p in predictors))
    for key, title in COLUMNS:
        table.add_row(title, *(format_metric(p.metrics.get(key)) for p in predictors))
    Console(soft_wrap=True).print(table)
    for predictor in evaluation.predictors:
        if predictor.error:
            _say(f"{predictor.name}: metrics undefined: {predictor.error}")
