"""The ``photoscore`` command line: a thin face over the scoring and training worlds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from photoscore import __version__
from photoscore.cli.batch import batch
from photoscore.cli.console import err, fail
from photoscore.cli.data import data_app
from photoscore.cli.evaluate import evaluate
from photoscore.cli.keras import import_keras, models_pull
from photoscore.cli.review import review
from photoscore.cli.score import normalizer_fit, rank, score
from photoscore.cli.serve import serve
from photoscore.scoring.onnx_model import ModelFileError, read_card
from photoscore.scoring.registry import KNOWN_MODELS, default_model, installed_models

app = typer.Typer(
    help="Score photos for aesthetic and technical quality with NIMA models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Models: bundled, installed and known.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data", help="Label files: AVA conversion, MOS to distributions, splits, stats.")
normalizer_app = typer.Typer(
    help="Normalisers fitted on reference photos, so scores compare across batches.", no_args_is_help=True
)
app.add_typer(normalizer_app, name="normalizer")
app.command()(score)
app.command()(rank)
app.command()(review)
normalizer_app.command("fit")(normalizer_fit)


def _print_version(value: bool) -> None:
    if value:
        print(f"photoscore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Score photos for aesthetic and technical quality with NIMA models."""


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print cards as JSON.")] = False,
) -> None:
    """Show the bundled and installed models with their cards, and known models to bring in."""
    cards = {}
    for name, path in installed_models().items():
        try:
            cards[name] = {"path": str(path), "card": read_card(path).model_dump()}
        except ModelFileError as exc:
            cards[name] = {"path": str(path), "error": str(exc)}
    known = [vars(k) for k in KNOWN_MODELS]
    if as_json:
        print(json.dumps({"photoscore": __version__, "installed": cards, "known": known}, indent=2))
        return
    out = Console(soft_wrap=True)
    out.print(f"photoscore {__version__}", highlight=False)
    if not cards:
        out.print("No model is bundled or installed.")
    else:
        out.print("[bold]Installed models[/bold]")
    for name, entry in cards.items():
        shown = f"{name} (default)" if Path(entry["path"]) == _bundled_default() else name
        card = entry.get("card")
        if card is None:
            out.print(
                f"  [bold]{shown}[/bold]  [red]unreadable[/red]: {escape(entry['error'])}", highlight=False
            )
            continue
        size = "x".join(map(str, card["preprocessing"]["input_size"]))
        if card["preprocessing"].get("crop_from"):
            size += f" centre crop of {'x'.join(map(str, card['preprocessing']['crop_from']))}"
        metrics = ", ".join(
            f"{k} {v:.3f}" for k, v in card["metrics"].items() if k.endswith(("srcc", "plcc"))
        )
        kind = card["kind"].replace("_", " ")
        out.print(f"  [bold]{shown}[/bold]  {kind}, {card['backbone']}, {size}", highlight=False)
        if card["kind"] == "room_classifier":
            out.print(
                f"      {len(card['classes'])} ImageNet classes mapped to room types by `photoscore review`; "
                "not a scoring model",
                highlight=False,
            )
        licence = f"\n      licence: {card['license']}" if card.get("license") else ""
        out.print(
            f"      metrics: {metrics or 'none'}{licence}\n      path: {entry['path']}",
            highlight=False,
            markup=False,
        )
    out.print("\n[bold]Known models[/bold] (not shipped)")
    for k in KNOWN_MODELS:
        out.print(f"  [bold]{k.name}[/bold]  {k.kind}, {k.backbone}", highlight=False)
        out.print(f"      source: {k.source}\n      use: {k.how_to_use}", highlight=False, markup=False)


def _bundled_default() -> Path | None:
    try:
        return default_model()
    except ModelFileError:
        return None


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", help="Training config JSON.")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Label file (JSON).")] = None,
    image_dir: Annotated[
        Path | None, typer.Option("--image-dir", help="Folder of the labelled photos.")
    ] = None,
    test_samples: Annotated[
        Path | None, typer.Option("--test-samples", help="Label file evaluated at the end.")
    ] = None,
    job_dir: Annotated[Path, typer.Option("--job-dir", help="Where job folders are made.")] = Path(
        "train_jobs"
    ),
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this job folder from its last epoch.")
    ] = None,
) -> None:
    """Train NIMA in two phases (head only, then all layers) into a timestamped job folder."""
    _setup_logging()
    try:
        from photoscore.training.config import ConfigError, load_config
        from photoscore.training.train import TrainingError, resume_training, start_training
    except ImportError as exc:
        raise fail(f"training needs the training extra: pip install 'photoscore[train]' ({exc})") from exc
    try:
        if resume is not None:
            if config or samples or image_dir or test_samples:
                raise fail("--resume takes no other options: the job folder records them")
            job = resume_training(resume)
        else:
            missing = [
                n
                for n, v in (("--config", config), ("--samples", samples), ("--image-dir", image_dir))
                if v is None
            ]
            if missing:
                raise fail(f"missing {', '.join(missing)} (or use --resume JOB_DIR)")
            if not image_dir.is_dir():
                raise fail(f"{image_dir}: image folder not found")
            job = start_training(load_config(config), samples, image_dir, job_dir, test_samples)
    except (ConfigError, TrainingError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    err.print(f"Job folder: {job.root}\nModel: {job.onnx_path}", highlight=False)


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write model.onnx.")],
    backbone: Annotated[
        str, typer.Option(help="Backbone name (e.g. EfficientNetLite0, MobileNet, any timm name).")
    ],
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Trained NimaNet weights (.safetensors); without it the head is untrained."),
    ] = None,
    weights: Annotated[
        str, typer.Option(help="ImageNet weights for the backbone: auto|offline|hub|none.")
    ] = "auto",
    name: Annotated[str | None, typer.Option(help="Model name in its card (default: file name).")] = None,
    kind: Annotated[
        str, typer.Option(help="aesthetic|technical (a model without checkpoint is untrained).")
    ] = "aesthetic",
) -> None:
    """Export a NimaNet to one model.onnx with its card (needs the train extra)."""
    try:
        from photoscore.training.export import build_and_export
    except ImportError as exc:
        raise fail(f"export needs the training extra: pip install 'photoscore[train]' ({exc})") from exc
    if checkpoint is None and kind != "untrained":
        err.print("No --checkpoint: the score head is untrained, so the model is marked kind=untrained.")
        kind = "untrained"
    path, drift = build_and_export(
        out, backbone=backbone, weights=weights, checkpoint=checkpoint, name=name or out.stem, kind=kind
    )
    err.print(
        f"Wrote {path} (max softmax difference ONNX vs torch on a test batch: {drift:.2e})", highlight=False
    )


app.command()(evaluate)
app.command("import-keras")(import_keras)
app.command()(serve)
app.command()(batch)
models_app.command("pull")(models_pull)
