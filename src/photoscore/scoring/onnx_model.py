"""photoscore model files loaded with ONNX Runtime: NIMA scoring models, and the cards of any model."""

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
        self.session, self.card = load_session(self.path, threads, providers)
        if not self.card.is_scoring_model:
            kind = self.card.kind.replace("_", " ")
            raise ModelFileError(f"{self.path}: {self.card.name} is a {kind}, not a scoring model")

    @property
    def name(self) -> str:
        return self.card.name

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 -> (N, 10) probabilities over scores 1..10."""
        (probs,) = self.session.run([self.card.output_name], {self.card.input_name: batch})
        return np.asarray(probs, dtype=np.float64)


def load_session(
    path: Path, threads: int | None = None, providers: list[str] | None = None
) -> tuple[ort.InferenceSession, ModelCard]:
    """An inference session on any photoscore model file (scoring model or classifier) and its card."""
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=_session_options(threads), providers=providers or _default_providers()
        )
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from exc
    card = _read_card(path, session)
    names = [i.name for i in session.get_inputs()]
    if card.input_name not in names:
        raise ModelFileError(f"{path}: card names input {card.input_name!r}, model has {names}")
    return session, card


def read_card(path: str | Path) -> ModelCard:
    """The card of any photoscore model file, without keeping a session."""
    return load_session(Path(path), threads=1)[1]


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
