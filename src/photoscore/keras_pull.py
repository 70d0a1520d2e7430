"""``photoscore models pull``: idealo's public Keras NIMA weights, downloaded, verified and converted.

A download is checked against the git blob id of the file in idealo's repository (sha1 of
``b"blob <size>\\0" + content``), so it is exactly the file idealo published. The converted ``model.onnx``
goes into the user model folder, where ``--model <name>`` finds it. Conversion needs the train extra.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photoscore.scoring.registry import user_model_dir

if TYPE_CHECKING:
    from photoscore.modelcard import ModelCard, ModelKind
    from photoscore.training.keras_import import KerasPadding

IDEALO_REPO = "https://github.com/idealo/image-quality-assessment"
_RAW = "https://raw.githubusercontent.com/idealo/image-quality-assessment/master/"
DOWNLOAD_TIMEOUT_S = 20.0


class PullError(Exception):
    """A model that could not be pulled; the message says why and what to do instead."""


@dataclass(frozen=True)
class PullSource:
    """A public Keras weights file photoscore knows how to fetch and convert."""

    name: str
    kind: ModelKind
    path: str  # inside idealo's repository
    git_blob: str
    training_data: str
    metrics: dict[str, float] = field(default_factory=dict)  # as idealo published them

    @property
    def url(self) -> str:
        return _RAW + self.path

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


PULLABLE: dict[str, PullSource] = {
    source.name: source
    for source in (
        PullSource(
            name="idealo-aesthetic",
            kind="aesthetic",
            path="models/MobileNet/weights_mobilenet_aesthetic_0.07.hdf5",
            git_blob="003fb321ce92445e41d708144a3656589f9214e7",
            training_data="AVA (idealo's random 90/10 train/test split)",
            metrics={"emd": 0.071, "plcc": 0.626, "srcc": 0.609},
        ),
        PullSource(
            name="idealo-technical",
            kind="technical",
            path="models/MobileNet/weights_mobilenet_technical_0.11.hdf5",
            git_blob="5e4a4ca2ce639309bfa4038d0bc10ba92b93bd26",
            training_data="TID2013 (idealo's split by reference image)",
            metrics={"emd": 0.107, "plcc": 0.652, "srcc": 0.675},
        ),
    )
}


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pull(
    name: str,
    file: Path | None = None,
    model_dir: Path | None = None,
    padding: KerasPadding | None = None,
) -> tuple[Path, ModelCard]:
    """Download (or read ``file``), verify and convert a known model into the user model folder."""
    if name not in PULLABLE:
        raise PullError(f"unknown model {name!r}; models to pull: {', '.join(PULLABLE)}")
    source = PULLABLE[name]
    data = file.read_bytes() if file is not None else download(source)
    found = git_blob_id(data)
    if found != source.git_blob:
        origin = file if file is not None else source.url
        raise PullError(
            f"{origin}: git blob id {found}, expected {source.git_blob}: not idealo's {source.file_name} "
            "(another version, or a damaged file)"
        )
    from photoscore.training.keras_import import import_keras

    out = (model_dir or user_model_dir()) / f"{name}.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / source.file_name
        weights.write_bytes(data)
        path, card, _ = import_keras(
            weights,
            out,
            kind=source.kind,
            name=name,
            architecture="MobileNet",
            padding=padding,
            source=f"{IDEALO_REPO} {source.path} (git blob {source.git_blob})",
            license="Apache-2.0",
            training_data=source.training_data,
            metrics=source.metrics,
        )
    return path, card


def download(source: PullSource, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """The file's bytes from GitHub; PullError, saying how to bring the file by hand, when that fails."""
    try:
        with urllib.request.urlopen(source.url, timeout=timeout) as response:
            return response.read()
    except OSError as exc:  # URLError, HTTPError and timeouts are OSErrors
        reason = getattr(exc, "reason", exc)
        raise PullError(
            f"cannot download {source.url} ({reason}). Without internet, fetch {source.file_name} elsewhere "
            f"(it is in {IDEALO_REPO}, folder models/MobileNet) and pass it by hand: "
            f"photoscore models pull {source.name} --file {source.file_name}"
        ) from None
