"""NimaNet -> one ``model.onnx`` (dynamic batch, softmax output) carrying its model card."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from photoscore.atomic import atomic_path
from photoscore.modelcard import CARD_METADATA_KEY, ModelCard
from photoscore.training.nima import FeatureLevels, NimaNet

ONNX_OPSET = 17


class _DistributionHead(nn.Module):
    """Wraps a NimaNet so the exported graph ends in the softmax."""

    def __init__(self, net: NimaNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.distribution(images)


def export_onnx(net: NimaNet, card: ModelCard, out: str | Path) -> Path:
    """Write ``net`` as ONNX with ``card`` in its metadata; the file appears whole or not at all."""
    if card.preprocessing != net.preprocessing:
        raise ValueError("the card's preprocessing differs from the network's")
    out = Path(out)
    height, width = card.preprocessing.input_size
    example = torch.zeros(1, 3, height, width)
    was_training = net.training
    net.eval()
    try:
        with atomic_path(out) as temp, torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose: the dynamo one needs onnxscript.
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
            torch.onnx.export(
                _DistributionHead(net),
                (example,),
                str(temp),
                input_names=[card.input_name],
                output_names=[card.output_name],
                dynamic_axes={card.input_name: {0: "batch"}, card.output_name: {0: "batch"}},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
            _attach_card(temp, card)
    finally:
        net.train(was_training)
    return out


def _attach_card(path: Path, card: ModelCard) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
    model.producer_name = "photoscore"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def replace_card(path: str | Path, card: ModelCard) -> None:
    """Give an exported model a new card (e.g. cross-validated metrics measured after export)."""
    with atomic_path(path) as temp:
        temp.write_bytes(Path(path).read_bytes())
        _attach_card(temp, card)


def with_input_size(path: str | Path, size: tuple[int, int], out: str | Path, name: str) -> Path:
    """A copy of an exported model that judges a larger (or smaller) centre crop with the same weights.

    A network with global pooling takes any input size, so a model trained on random ``input_size`` crops
    of its ``crop_from`` view can judge a bigger centre crop of the same view: more of the photo at the
    same resolution, for (new area / old area) of the network's compute. ``size`` is (height, width). The
    copy's card keeps the original's data and credits, names the crop and drops the original's figures
    (they were measured on the other crop). Raises ValueError if the graph cannot take the new size.
    """
    import onnxruntime as ort

    from photoscore.scoring.onnx_model import OnnxNimaModel

    card = OnnxNimaModel(path).card
    if card.preprocessing.resize != "center_crop":
        raise ValueError(
            f"{path}: the model squashes whole photos; only a centre-crop model can judge a new crop"
        )
    view_height, view_width = card.preprocessing.crop_from
    if size[0] > view_height or size[1] > view_width:
        raise ValueError(
            f"{path}: a {size[0]}x{size[1]} crop does not fit in the {view_height}x{view_width} view it crops from"
        )
    preprocessing = card.preprocessing.model_copy(update={"input_size": size})
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = size
    del model.graph.value_info[:]  # shapes inferred for the old size
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    try:
        (probabilities,) = session.run(
            [card.output_name], {card.input_name: np.zeros((1, 3, *size), np.float32)}
        )
    except Exception as exc:  # ONNX Runtime raises its own error types for shapes baked into the graph
        raise ValueError(f"{path}: its graph cannot take a {size[0]}x{size[1]} input ({exc})") from exc
    if probabilities.shape != (1, len(card.classes or card.score_buckets)):
        raise ValueError(f"{path}: a {size[0]}x{size[1]} input gives output shape {probabilities.shape}")
    old_height, old_width = card.preprocessing.input_size
    card = card.model_copy(
        update={
            "name": name,
            "preprocessing": preprocessing,
            "metrics": {},
            "description": f"{card.description} Judges the centre {size[0]}x{size[1]} crop (trained on "
            f"{old_height}x{old_width} crops, same weights as {card.name}).",
            "limits": f"{card.limits} This copy judges the centre {size[0]}x{size[1]} crop.".strip(),
        }
    )
    out = Path(out)
    with atomic_path(out) as temp:
        onnx.save(model, str(temp))
        _attach_card(temp, card)
    return out


def onnx_drift(net: NimaNet, model_path: str | Path, images: torch.Tensor) -> float:
    """Largest absolute difference between torch's and ONNX Runtime's softmax on ``images``."""
    import onnxruntime as ort

    net.eval()
    with torch.no_grad():
        expected = net.distribution(images).numpy()
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    return float(abs(actual - expected).max())


def build_and_export(
    out: str | Path,
    backbone: str,
    weights: str = "auto",
    checkpoint: str | Path | None = None,
    name: str = "model",
    kind: str = "untrained",
    dropout: float = 0.75,
    feature_levels: FeatureLevels = "last",
) -> tuple[Path, float]:
    """Build a NimaNet (optionally loading trained weights), export it and check the export.

    Returns the file and the softmax drift between torch and ONNX Runtime on a seeded random batch.
    """
    from safetensors.torch import load_file

    net = NimaNet.build(backbone, weights=weights, dropout=dropout, feature_levels=feature_levels)
    if checkpoint is not None:
        net.load_state_dict(load_file(str(checkpoint)))
    description = (
        f"{net.backbone_name} with ImageNet weights and an untrained NIMA head: its scores mean nothing; "
        "it exists to try the pipeline."
        if checkpoint is None
        else f"NIMA on {net.backbone_name}, weights from {Path(checkpoint).name}."
    )
    card = ModelCard(
        name=name,
        kind=kind,
        description=description,
        backbone=net.backbone_name,
        preprocessing=net.preprocessing,
        source=f"photoscore export (backbone weights: {weights})",
    )
    path = export_onnx(net, card, out)
    height, width = net.preprocessing.input_size
    batch = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    return path, onnx_drift(net, path, batch)
