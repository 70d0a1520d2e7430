"""The ``photoscore`` command line: a thin face over the scoring and training worlds."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from photoscore.images import find_images
from photoscore.scoring.engine import Scorer, ScoreResult
from photoscore.scoring.onnx_model import ModelFileError, OnnxNimaModel
from photoscore.scoring.output import WRITERS, JsonListWriter
from photoscore.scoring.registry import KNOWN_MODELS, default_model, installed_models, resolve_model

app = typer.Typer(
    help="Score photos for aesthetic and technical quality with NIMA models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Models: bundled, installed and known.", no_args_is_help=True)
app.add_typer(models_app, name="models")

err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _load_models(specs: list[str] | None) -> list[OnnxNimaModel]:
    try:
        if not specs:
            path = default_model()
            err.print(f"Using the bundled default model {path.stem}.", highlight=False)
            return [OnnxNimaModel(path)]
        return [OnnxNimaModel(resolve_model(spec)) for spec in specs]
    except ModelFileError as exc:
        raise _fail(str(exc)) from exc


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


@app.command()
def score(
    paths: Annotated[list[Path], typer.Argument(help="Photos and/or folders of photos.")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A model.onnx file or installed model name; repeat for several."),
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write results to FILE.json or FILE.csv.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON list on standard output.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per model run.")] = 32,
    workers: Annotated[int | None, typer.Option(min=1, help="Decoding threads [default: CPU count].")] = None,
) -> None:
    """Score photos; results keep the input order. Exits non-zero only when nothing could be scored."""
    if output is not None and output.suffix.lower() not in WRITERS:
        raise _fail(f"{output}: unknown output format; use a .json or .csv file name")
    try:
        files = list(find_images(paths, recursive=recursive))
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    if not files:
        raise _fail("no photos found in " + ", ".join(map(str, paths)), code=1)
    scorer = Scorer(_load_models(model), batch_size=batch_size, workers=workers)
    names = [m.name for m in scorer.models]
    for loaded in scorer.models:
        if loaded.card.kind == "untrained":
            err.print(
                f"[yellow]warning:[/yellow] {loaded.name} has an untrained score head: its scores mean nothing."
            )
    failures: list[ScoreResult] = []
    with ExitStack() as stack:
        writers = []
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            stream = stack.enter_context(output.open("w", encoding="utf-8", newline=""))
            writers.append(WRITERS[output.suffix.lower()](stream, names))
        if as_json:
            writers.append(JsonListWriter(sys.stdout, names))
        progress = stack.enter_context(_progress(len(files)))
        task = progress.add_task("score", total=len(files))
        for result in _track(scorer.score(files), progress, task):
            for writer in writers:
                writer.write(result)
            if not as_json:
                _print_line(result)
            if result.error:
                failures.append(result)
        for writer in writers:
            writer.close()
    _summarise(len(files), failures, output)
    if len(failures) == len(files):
        raise typer.Exit(1)


def _track(results: Iterator[ScoreResult], progress: Progress, task: int) -> Iterator[ScoreResult]:
    for result in results:
        progress.advance(task)
        yield result


def _print_line(result: ScoreResult) -> None:
    if result.error:
        print(f"  error  {result.path}: {result.error}")
    else:
        print(f"{result.mean_score_prediction:5.2f} ± {result.std_score_prediction:4.2f}  {result.path}")


def _summarise(total: int, failures: list[ScoreResult], output: Path | None) -> None:
    scored = total - len(failures)
    err.print(f"Scored {scored} of {total} photos; {len(failures)} could not be scored.", highlight=False)
    for failure in failures[:20]:
        err.print(f"  {failure.path}: {failure.error}", highlight=False, markup=False)
    if len(failures) > 20:
        err.print(f"  ... and {len(failures) - 20} more (see the error field of the output)", highlight=False)
    if output is not None:
        err.print(f"Results written to {output}", highlight=False)


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print cards as JSON.")] = False,
) -> None:
    """Show the bundled and installed models with their cards, and known models to bring in."""
    cards = {}
    for name, path in installed_models().items():
        try:
            cards[name] = {"path": str(path), "card": OnnxNimaModel(path, threads=1).card.model_dump()}
        except ModelFileError as exc:
            cards[name] = {"path": str(path), "error": str(exc)}
    known = [vars(k) for k in KNOWN_MODELS]
    if as_json:
        print(json.dumps({"installed": cards, "known": known}, indent=2))
        return
    out = Console(soft_wrap=True)
    if not cards:
        out.print("No model is bundled or installed yet: no default model is bundled with photoscore yet.")
    else:
        table = Table(title="Installed models")
        table.add_column("name", no_wrap=True)
        for column in ("kind", "backbone", "input", "metrics", "path"):
            table.add_column(column)
        for name, entry in cards.items():
            card = entry.get("card")
            if card is None:
                table.add_row(name, "[red]unreadable[/red]", "", "", entry["error"], entry["path"])
                continue
            size = "x".join(map(str, card["preprocessing"]["input_size"]))
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in card["metrics"].items())
            table.add_row(name, card["kind"], card["backbone"], size, metrics, entry["path"])
        out.print(table)
    out.print("\n[bold]Known models[/bold] (not shipped)")
    for k in KNOWN_MODELS:
        out.print(f"  [bold]{k.name}[/bold]  {k.kind}, {k.backbone}", highlight=False)
        out.print(f"      source: {k.source}\n      use: {k.how_to_use}", highlight=False, markup=False)


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
    name: Annotated[str | None, typer.Option(help="Model name in its card [default: file name].")] = None,
    kind: Annotated[
        str, typer.Option(help="aesthetic|technical (a model without checkpoint is untrained).")
    ] = "aesthetic",
) -> None:
    """Export a NimaNet to one model.onnx with its card (needs the train extra)."""
    try:
        from photoscore.training.export import build_and_export
    except ImportError as exc:
        raise _fail(f"export needs the training extra: pip install 'photoscore[train]' ({exc})") from exc
    if checkpoint is None and kind != "untrained":
        err.print("No --checkpoint: the score head is untrained, so the model is marked kind=untrained.")
        kind = "untrained"
    path, drift = build_and_export(
        out, backbone=backbone, weights=weights, checkpoint=checkpoint, name=name or out.stem, kind=kind
    )
    err.print(
        f"Wrote {path} (max softmax difference ONNX vs torch on a test batch: {drift:.2e})", highlight=False
    )
