"""Where models come from: a file path, or a name of a bundled or user-installed model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from photoscore.scoring.onnx_model import ModelFileError

USER_MODEL_DIR_ENV = "PHOTOSCORE_MODEL_DIR"
DEFAULT_MODEL_NAME = "biq-livec-technical"
ROOM_MODEL_NAME = "rooms-lite0"  # the listing review's room classifier, bundled; never a scoring model


class NoDefaultModelError(ModelFileError):
    """Raised when scoring is asked for without a model and none is bundled."""


@dataclass(frozen=True)
class KnownModel:
    """A model photoscore knows about but does not ship: where to get it and how to bring it in."""

    name: str
    kind: str
    backbone: str
    source: str
    how_to_use: str


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel(
        name="idealo-aesthetic",
        kind="aesthetic",
        backbone="MobileNet",
        source="idealo/image-quality-assessment: models/MobileNet/weights_mobilenet_aesthetic_0.07.hdf5 "
        "(git blob 003fb321ce92445e41d708144a3656589f9214e7)",
        how_to_use="photoscore models pull idealo-aesthetic "
        "(offline: --file weights_mobilenet_aesthetic_0.07.hdf5), then --model idealo-aesthetic",
    ),
    KnownModel(
        name="idealo-technical",
        kind="technical",
        backbone="MobileNet",
        source="idealo/image-quality-assessment: models/MobileNet/weights_mobilenet_technical_0.11.hdf5 "
        "(git blob 5e4a4ca2ce639309bfa4038d0bc10ba92b93bd26)",
        how_to_use="photoscore models pull idealo-technical "
        "(offline: --file weights_mobilenet_technical_0.11.hdf5), then --model idealo-technical",
    ),
)


def bundled_model_dir() -> Path:
    """The folder of models shipped inside the package."""
    return Path(str(resources.files("photoscore") / "models"))


def user_model_dir() -> Path:
    """Models the user installed: ``$PHOTOSCORE_MODEL_DIR`` or ``~/.local/share/photoscore/models``."""
    default = Path.home() / ".local" / "share" / "photoscore" / "models"
    return Path(os.environ.get(USER_MODEL_DIR_ENV, default))


def installed_models() -> dict[str, Path]:
    """Name -> file for bundled and user models (a user model shadows a bundled one of the same name)."""
    found: dict[str, Path] = {}
    for folder in (bundled_model_dir(), user_model_dir()):
        if folder.is_dir():
            found.update({p.stem: p for p in sorted(folder.glob("*.onnx"))})
    return found


def resolve_model(spec: str | Path) -> Path:
    """A scoring model argument (file path or installed name) -> model file; the room classifier is refused
    by name here, and by its card wherever a file is loaded as a scoring model."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    models = installed_models()
    if str(spec) == ROOM_MODEL_NAME and models.get(ROOM_MODEL_NAME) == room_model():
        raise ModelFileError(
            f"{spec} is a room classifier, not a scoring model (`photoscore review` uses it for room types)"
        )
    if str(spec) in models:
        return models[str(spec)]
    if path.suffix.lower() == ".onnx" or os.sep in str(spec):
        raise ModelFileError(f"{spec}: model file not found")
    names = ", ".join(sorted(set(models) - {ROOM_MODEL_NAME})) or "none installed"
    raise ModelFileError(f"{spec}: no such model file or installed model name (installed: {names})")


def default_model() -> Path:
    """The bundled default model (technical quality, see recipes/biq_technical), or a clear error."""
    path = bundled_model_dir() / f"{DEFAULT_MODEL_NAME}.onnx"
    if not path.is_file():
        raise NoDefaultModelError(
            f"No default model is bundled with this photoscore install ({path} is missing). Pass --model "
            "FILE.onnx (make one with `photoscore train`, or see `photoscore models list`)."
        )
    return path


def room_model() -> Path:
    """The bundled room classifier of the listing review (see recipes/room_model)."""
    return bundled_model_dir() / f"{ROOM_MODEL_NAME}.onnx"


def model_files(specs: list[str] | None) -> list[Path]:
    """Files for ``--model`` arguments: each resolved, or the bundled default when there are none."""
    return [resolve_model(spec) for spec in specs] if specs else [default_model()]
