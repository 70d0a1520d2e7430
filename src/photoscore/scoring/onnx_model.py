"""One NIMA model file loaded with ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from photoscore.modelcard import CARD_METADATA_KEY, ModelCard


class ModelFileError(Exception):
    """A model file that cannot be used; the message names the file and the reason."""


def _session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle ORT threads sleep instead of spinning, leaving the cores to the decoding threads between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxNimaModel:
    """A photoscore ``model.onnx``: its card and an inference session (CPU, or CUDA when available)."""

    def __init__(self, path: str | Path, threads: int | None = None, providers: list[str] | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: model file not found")
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                sess_options=_session_options(threads),
                providers=providers or _default_providers(),
            )
        except Exception as exc:  # onnxruntime raises several private exception types
            raise ModelFileError(f"{self.path}: not a readable ONNX model ({exc})") from exc
        self.card = _read_card(self.path, self.session)
        names = [i.name for i in self.session.get_inputs()]
        if self.card.input_name not in names:
            raise ModelFileError(f"{self.path}: card names input {self.card.input_name!r}, model has {names}")

    @property
    def name(self) -> str:
        return self.card.name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 -> (N, 10) probabilities over scores 1..10."""
        (probs,) = self.session.run([self.card.output_name], {self.card.input_name: batch})
        return np.asarray(probs, dtype=np.float64)


def read_card(path: str | Path) -> ModelCard:
    """The card of a model file, without keeping a session."""
    return OnnxNimaModel(path, threads=1).card


def _read_card(path: Path, session: ort.InferenceSession) -> ModelCard:
    metadata = session.get_modelmeta().custom_metadata_map
    if CARD_METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{path}: no photoscore model card in its metadata; export models with `photoscore export`"
        )
    try:
        return ModelCard.from_json(metadata[CARD_METADATA_KEY])
    except ValueError as exc:
        raise ModelFileError(f"{path}: invalid model card ({exc})") from exc


def _default_providers() -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
