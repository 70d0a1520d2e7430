"""The original project's entry points, ``./train-local`` and ``./predict``, run natively (no Docker).

``python -m photoscore.cli.legacy train-local --config-file C --samples-file S --image-dir D``
``python -m photoscore.cli.legacy predict --config-file C --image-source PATH [--weights-file W]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from photoscore.cli import app

CACHE_DIR = Path.home() / ".cache" / "photoscore" / "converted"


def _train_local(args: argparse.Namespace) -> list[str]:
    command = ["train", "--config", args.config_file, "--samples", args.samples_file]
    command += ["--image-dir", args.image_dir, "--job-dir", args.job_dir]
    return command


def _predict(args: argparse.Namespace) -> list[str]:
    config = json.loads(Path(args.config_file).read_text(encoding="utf-8"))
    weights = args.weights_file or config.get("existing_weights")
    command = ["score", args.image_source, "--json"]
    if weights:
        command += ["--model", str(_as_onnx(Path(weights), args.config_file))]
    return command


def _as_onnx(weights: Path, config_file: str) -> Path:
    """A weights file as a model.onnx: ONNX as is; photoscore .safetensors converted once and cached."""
    suffix = weights.suffix.lower()
    if suffix == ".onnx":
        return weights
    if suffix != ".safetensors":
        sys.exit(
            f"{weights}: use a model.onnx or a photoscore .safetensors checkpoint (Keras .hdf5: import it first)"
        )
    from photoscore.training.config import load_config
    from photoscore.training.export import build_and_export

    config = load_config(config_file)
    digest = hashlib.sha256(weights.read_bytes() + config.model_dump_json().encode()).hexdigest()[:16]
    out = CACHE_DIR / f"{weights.stem}-{digest}.onnx"
    if not out.is_file():
        build_and_export(
            out, config.base_model_name, weights="none", checkpoint=weights, name=weights.stem,
            kind=config.kind, dropout=config.dropout_rate, feature_levels=config.feature_levels,
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="photoscore.cli.legacy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train-local", help="train from a config, a samples file and an image folder")
    train.add_argument("--config-file", required=True)
    train.add_argument("--samples-file", required=True)
    train.add_argument("--image-dir", required=True)
    train.add_argument("--job-dir", default="train_jobs")
    train.set_defaults(build=_train_local)
    predict = commands.add_parser("predict", help="score an image file or a folder of images")
    predict.add_argument("--config-file", required=True)
    predict.add_argument("--image-source", required=True)
    predict.add_argument("--weights-file")
    predict.set_defaults(build=_predict)
    args = parser.parse_args(argv)
    app(args.build(args), prog_name="photoscore")


if __name__ == "__main__":
    main()
