"""What every command shares: the console for messages, how a command fails, common argument parsing."""

from __future__ import annotations

import io
import sys
import unicodedata
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from photoscore.modelcard import ModelCard
from photoscore.scoring.normalize import Method, Normalizer, NormalizerFileError
from photoscore.scoring.onnx_model import ModelFileError, OnnxNimaModel
from photoscore.scoring.registry import model_files

err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on standard error; raise the returned Exit (2: wrong arguments)."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def printable(text: str) -> str:
    """``text`` on one line: control characters (newline, tab, escape ...) as ``\\n``, ``\\t``, ``\\x1b``,
    bidirectional overrides and isolates (U+202E ...) as ``\\u202e``, and the bytes of a file name that
    are not UTF-8 (surrogate escapes) as ``\\udcff``.

    File names may hold any of them; printed raw, a newline would split a photo's line in two, an
    escape sequence would drive the terminal, a right-to-left override would show ``gpj.exe`` for
    ``exe.jpg``, and a surrogate cannot be written at all.
    """
    return "".join(_escaped(char) if _unsafe(char) else char for char in text)


# Characters that reorder the text shown after them (U+202A-U+202E, U+2066-U+2069, marks U+200E/F, U+061C).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs") or char in _BIDI_CONTROLS


def _escaped(char: str) -> str:
    shown = repr(char)[1:-1]
    return shown if shown != char else f"\\u{ord(char):04x}"


def names_stdout() -> TextIO:
    """Standard output, set to write file names that are not UTF-8 as their original bytes (as every
    output file does) instead of failing on them."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="surrogateescape")
    return sys.stdout


def parse_weights(text: str | None) -> list[float] | None:
    """``--model-weights 0.7,0.3`` -> [0.7, 0.3]; ValueError on a non-number."""
    return None if text is None else [float(w) for w in text.split(",")]


def warn_if_untrained(name: str, card: ModelCard) -> None:
    """Say so when a model's score head was never trained."""
    if card.kind == "untrained":
        err.print(
            f"[yellow]warning:[/yellow] {escape(name)} has an untrained score head: its scores mean nothing."
        )


def progress_bar(label: str) -> Progress:
    """A photo-count progress bar on standard error, drawn only on a terminal."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err, disable=not err.is_terminal, transient=True)


def load_models(specs: list[str] | None, threads: int | None = None) -> list[OnnxNimaModel]:
    """The models named by ``--model`` (the bundled default when none, said on standard error)."""
    try:
        paths = model_files(specs)
        if not specs:
            err.print(f"Using the bundled default model {paths[0].stem}.", highlight=False)
        return [OnnxNimaModel(path, threads=threads) for path in paths]
    except ModelFileError as exc:
        raise fail(str(exc)) from exc


def load_normalizer(
    path: Path | None, method: Method | None, names: list[str], weights: list[float]
) -> Normalizer | None:
    """The fitted normaliser in ``path``, checked against the method asked for and the models (their
    names and ensemble weights)."""
    if path is None:
        return None
    try:
        fitted = Normalizer.load(path)
    except NormalizerFileError as exc:
        raise fail(str(exc)) from exc
    try:
        fitted.check_ensemble(names, weights)
    except ValueError as exc:
        raise fail(f"{path}: {exc}") from exc
    if method is not None and method != fitted.method:
        raise fail(f"--normalize {method} differs from the method {fitted.method} of {path}; leave one out")
    return fitted
