"""``photoscore import-keras`` and ``photoscore models pull``: Keras NIMA weights as photoscore models."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from photoscore.cli.console import err, fail
from photoscore.keras_pull import PULLABLE, PullError, pull

if TYPE_CHECKING:
    from photoscore.modelcard import ModelCard

_TRAIN_EXTRA = "needs the training extra: pip install 'photoscore[train]'"


class Architecture(StrEnum):
    """The Keras backbones photoscore imports."""

    MobileNet = "MobileNet"
    InceptionV3 = "InceptionV3"


class KerasPadding(StrEnum):
    """How the Keras version running the file pads MobileNet's stride-2 convolutions."""

    legacy = "legacy"
    modern = "modern"


class Kind(StrEnum):
    """What an imported model scores."""

    aesthetic = "aesthetic"
    technical = "technical"


_PADDING_HELP = (
    "MobileNet only. modern: as Keras >= 2.2.1, tf.keras and Keras 3 run the file (idealo's current code); "
    "legacy: as Keras 2.1.5-2.2.0 (idealo trained its files with Keras 2.1)."
)
_PADDING_DEFAULT = "what a full-model file records, else modern"


def _report(path: Path, card: ModelCard, drift: float) -> None:
    facts = (card.training_config or {})["keras_import"]
    padding = f", Keras padding {facts['keras_padding']}" if facts["keras_padding"] else ""
    err.print(
        f"Wrote {path}: {card.kind} {facts['architecture']}, input {facts['input_size']} px{padding}, "
        f"resize squash/{card.preprocessing.interpolation}, x/127.5 - 1 "
        f"(max softmax difference ONNX vs torch on a test batch: {drift:.1e})",
        highlight=False,
        markup=False,
    )


def import_keras(
    weights: Annotated[
        Path,
        typer.Argument(
            help="Keras weights: .hdf5/.h5 from save_weights or model.save, or Keras 3 .weights.h5."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write model.onnx.")],
    kind: Annotated[Kind, typer.Option(help="What the model scores.")],
    arch: Annotated[
        Architecture | None, typer.Option(help="The backbone.", show_default="detected from the layer names")
    ] = None,
    keras_padding: Annotated[
        KerasPadding | None, typer.Option(help=_PADDING_HELP, show_default=_PADDING_DEFAULT)
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option(min=32, help="Input side in pixels.", show_default="what the file records, else 224"),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name in its card.", show_default="the --out file name")
    ] = None,
) -> None:
    """Convert a Keras NIMA weights file (idealo's, the original project's) to one model.onnx."""
    try:
        from photoscore.training.keras_import import KerasImportError
        from photoscore.training.keras_import import import_keras as convert
    except ImportError as exc:
        raise fail(f"import-keras {_TRAIN_EXTRA} ({exc})") from exc
    try:
        path, card, drift = convert(
            weights,
            out,
            kind=kind.value,
            name=name,
            architecture=arch.value if arch else None,
            padding=keras_padding.value if keras_padding else None,
            input_size=input_size,
        )
    except KerasImportError as exc:
        raise fail(str(exc)) from exc
    _report(path, card, drift)


def models_pull(
    name: Annotated[str, typer.Argument(help=f"The model: {' or '.join(PULLABLE)}.")],
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="The .hdf5 file, fetched by hand (no download)."),
    ] = None,
    keras_padding: Annotated[
        KerasPadding | None, typer.Option(help=_PADDING_HELP, show_default=_PADDING_DEFAULT)
    ] = None,
) -> None:
    """Download one of idealo's Keras models, verify it and install it as a photoscore model."""
    if name not in PULLABLE:
        raise fail(f"unknown model {name!r}; models to pull: {', '.join(PULLABLE)}")
    try:
        path, card = pull(name, file=file, padding=keras_padding.value if keras_padding else None)
    except PullError as exc:
        raise fail(str(exc), code=1) from exc
    except ImportError as exc:
        raise fail(f"models pull {_TRAIN_EXTRA} ({exc})") from exc
    err.print(
        f"Installed {card.name} ({card.kind}) at {path}; use it with --model {card.name}", highlight=False
    )
