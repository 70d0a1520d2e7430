"""Keras NIMA weights (idealo's, the original project's) -> a NimaNet -> ``model.onnx`` with its card.

The networks are timm's, changed only where Keras computes differently (FACTS.md section 5):

- MobileNet pads its stride-2 convolutions as the Keras version that runs the file did: ``modern`` (Keras
  >= 2.2.1, tf.keras, Keras 3: one zero row/column at the bottom/right) or ``legacy`` (Keras 2.1.5-2.2.0:
  one on every side, as timm does).
- InceptionV3's 3x3 average pools leave the zero padding out of the divisor, as Keras does.
- BatchNorm epsilon is Keras' 1e-3 (set by the backbone registry).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from photoscore.digest import file_sha256
from photoscore.modelcard import ModelCard, ModelKind
from photoscore.preprocess import Preprocessing
from photoscore.training.export import export_onnx, onnx_drift
from photoscore.training.keras_h5 import KerasImportError, KerasWeights, read_keras_weights
from photoscore.training.nima import NimaNet

logger = logging.getLogger(__name__)

Architecture = Literal["MobileNet", "InceptionV3"]
KerasPadding = Literal["legacy", "modern"]
ARCHITECTURES: tuple[Architecture, ...] = ("MobileNet", "InceptionV3")
DEFAULT_PADDING: KerasPadding = "modern"
DEFAULT_INPUT_SIZE = 224  # idealo's and the original project's code feed every backbone 224 x 224
PADDING_MODES: dict[KerasPadding, str] = {
    "modern": "stride-2 convolutions zero-pad one row/column at the bottom/right "
    "(Keras >= 2.2.1, tf.keras, Keras 3)",
    "legacy": "stride-2 convolutions zero-pad one row/column on every side (Keras 2.1.5-2.2.0)",
}
# Keras MobileNet blocks 1..13 -> timm ``blocks[stage][index]``.
_MOBILENET_BLOCKS = ((0, 0), (1, 0), (1, 1), (2, 0), (2, 1), *((3, j) for j in range(6)), (4, 0), (4, 1))
_MIN_INPUT_SIZE: dict[Architecture, int] = {"MobileNet": 32, "InceptionV3": 75}
_NUMBERED = re.compile(r"(?:.*/)?(conv2d|batch_normalization|depthwise_conv2d)(?:_(\d+))?")


def keras_preprocessing(input_size: int) -> Preprocessing:
    """idealo's prediction input: decode at full size, squash to the input size with Keras ``load_img``'s
    default nearest resampling, then ``x / 127.5 - 1``."""
    return Preprocessing(
        input_size=(input_size, input_size),
        mean=(127.5,) * 3,
        std=(127.5,) * 3,
        interpolation="nearest",
        resize="squash",
        reduced_jpeg_decode=False,
    )


@dataclass(frozen=True)
class KerasImport:
    """What was imported and how; goes into the card's ``training_config["keras_import"]``."""

    file: str
    sha256: str
    layout: str
    architecture: Architecture
    keras_padding: KerasPadding | None  # None for InceptionV3: every Keras version pads it alike
    input_size: int
    keras_version: str | None
    keras_backend: str | None


class KerasPaddedConv2d(nn.Conv2d):
    """A convolution that first zero-pads one row/column at the bottom/right, as Keras >= 2.2.1 does
    before MobileNet's stride-2 convolutions (``ZeroPadding2D(((0, 1), (0, 1)))`` then ``valid``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (0, 1, 0, 1)))


class ExcludePadAvgPoolConv2d(nn.Conv2d):
    """The 1x1 convolution after timm's ``avg_pool2d(x, 3, 1, 1)``, rescaling its input so the pool
    divides by the pixels inside the image only, as Keras' ``AveragePooling2D(padding="same")`` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = F.avg_pool2d(x.new_ones((1, 1, *x.shape[-2:])), 3, 1, 1)  # share of the window in the image
        return super().forward(x / inside)


def load_keras_nima(
    path: str | Path,
    architecture: Architecture | None = None,
    padding: KerasPadding | None = None,
    input_size: int | None = None,
) -> tuple[NimaNet, KerasImport]:
    """A NimaNet (eval mode) computing what Keras computes with the weights in ``path``.

    ``architecture`` is detected from the layer names when not given; ``padding`` and ``input_size``
    default to what a full-model file's config records, else ``modern`` and 224.
    """
    path = Path(path)
    weights = read_keras_weights(path)
    found = _architecture(weights, architecture, path)
    hinted_padding, hinted_size = _config_hints(weights.model_config)
    size = input_size or hinted_size or DEFAULT_INPUT_SIZE
    if size < _MIN_INPUT_SIZE[found]:
        raise KerasImportError(
            f"input size {size} is too small: Keras' {found} needs {_MIN_INPUT_SIZE[found]} or more"
        )
    net = NimaNet.build(found, weights="none")
    net.preprocessing = keras_preprocessing(size)
    if found == "MobileNet":
        mode = padding or hinted_padding or DEFAULT_PADDING
        if padding and hinted_padding and padding != hinted_padding:
            logger.warning(
                "%s: its Keras config pads %s; converting with %s as asked", path, hinted_padding, padding
            )
        _load(net, weights, _mobilenet_targets(net, weights), path)
        if mode == "modern":
            _pad_like_modern_keras(net.backbone)
    else:
        if padding:
            logger.warning(
                "the Keras padding mode has no effect on InceptionV3: every Keras version pads it alike"
            )
        mode = None
        _load(net, weights, _inception_targets(net, weights), path)
        _exclude_padding_from_avg_pools(net.backbone)
    info = KerasImport(
        file=path.name,
        sha256=file_sha256(path),
        layout=weights.layout,
        architecture=found,
        keras_padding=mode,
        input_size=size,
        keras_version=weights.keras_version,
        keras_backend=weights.backend,
    )
    return net.eval(), info


def import_keras(
    path: str | Path,
    out: str | Path,
    kind: ModelKind,
    name: str | None = None,
    architecture: Architecture | None = None,
    padding: KerasPadding | None = None,
    input_size: int | None = None,
    **card_fields: Any,
) -> tuple[Path, ModelCard, float]:
    """Convert a Keras weights file to ``out`` (ONNX with its card).

    ``card_fields`` override card fields (description, source, license, training_data, metrics).
    Returns the file, its card and the largest softmax difference ONNX vs torch on a random batch.
    """
    net, info = load_keras_nima(path, architecture, padding, input_size)
    how = (
        PADDING_MODES[info.keras_padding]
        if info.keras_padding
        else "no padding differences between Keras versions"
    )
    fields: dict[str, Any] = {
        "description": f"NIMA {info.architecture} imported from the Keras weights {info.file} ({how}).",
        "source": f"Keras weights {info.file} (sha256 {info.sha256})",
        **card_fields,
    }
    card = ModelCard(
        name=name or Path(out).stem,
        kind=kind,
        backbone=info.architecture,
        preprocessing=net.preprocessing,
        training_config={"keras_import": asdict(info)},
        **fields,
    )
    written = export_onnx(net, card, out)
    batch = torch.randn(2, 3, info.input_size, info.input_size, generator=torch.Generator().manual_seed(0))
    return written, card, onnx_drift(net, written, batch)


def _architecture(weights: KerasWeights, asked: Architecture | None, path: Path) -> Architecture:
    """The detected architecture, checked against the one asked for and against the file's layout."""
    found = detect_architecture(weights)
    if asked is not None and asked != found:
        raise KerasImportError(f"{path}: holds a {found} NIMA model, not {asked}")
    if found == "InceptionV3" and weights.layout == "keras3-weights":
        raise KerasImportError(
            f"{path}: a Keras 3 .weights.h5 names InceptionV3's layers in Keras' graph order, not in the order "
            "they were created, so they cannot be matched reliably. Load the weights in Keras and save "
            'them again with model.save("model.h5"), then import that file.'
        )
    return found


def detect_architecture(weights: KerasWeights) -> Architecture:
    """MobileNet or InceptionV3, from the layer names; KerasImportError for anything else."""
    names = list(weights.layers)
    if "conv_dw_1" in names or any(_kind(n) == "depthwise_conv2d" for n in names):
        return "MobileNet"
    if sum(_kind(n) == "conv2d" for n in names) == 94:
        return "InceptionV3"
    raise KerasImportError(
        f"not a NIMA MobileNet or InceptionV3 model (the architectures photoscore imports): "
        f"{len(names)} layers with weights, e.g. {', '.join(names[:6])}"
    )


def _mobilenet_targets(net: NimaNet, weights: KerasWeights) -> Iterator[tuple[str, nn.Module]]:
    backbone = net.backbone
    if weights.layout == "keras3-weights":
        yield from _keras3_mobilenet_targets(net, weights)
        return
    yield "conv1", backbone.conv_stem
    yield "conv1_bn", backbone.bn1
    for i, (stage, index) in enumerate(_MOBILENET_BLOCKS, start=1):
        block = backbone.blocks[stage][index]
        yield f"conv_dw_{i}", block.conv_dw
        yield f"conv_dw_{i}_bn", block.bn1
        yield f"conv_pw_{i}", block.conv_pw
        yield f"conv_pw_{i}_bn", block.bn2
    yield _dense_name(weights), net.head


def _keras3_mobilenet_targets(net: NimaNet, weights: KerasWeights) -> Iterator[tuple[str, nn.Module]]:
    """Keras 3 names layers by class in layer order; MobileNet is a chain, so that order is unambiguous."""
    backbone = net.backbone
    blocks = [backbone.blocks[s][j] for s, j in _MOBILENET_BLOCKS]
    expected = {
        "conv2d": [backbone.conv_stem, *(b.conv_pw for b in blocks)],
        "depthwise_conv2d": [b.conv_dw for b in blocks],
        "batch_normalization": [backbone.bn1, *(bn for b in blocks for bn in (b.bn1, b.bn2))],
    }
    yield from _by_number(weights, expected, "a MobileNet")
    yield _dense_name(weights), net.head


def _inception_targets(net: NimaNet, weights: KerasWeights) -> Iterator[tuple[str, nn.Module]]:
    """Keras numbers InceptionV3's layers as it creates them, which is timm's module order."""
    convs = [m for m in net.backbone.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in net.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    yield from _by_number(weights, {"conv2d": convs, "batch_normalization": norms}, "an InceptionV3")
    yield _dense_name(weights), net.head


def _by_number(
    weights: KerasWeights, expected: dict[str, list[nn.Module]], architecture: str
) -> Iterator[tuple[str, nn.Module]]:
    """Pair each kind's numbered Keras layers with the modules in order; the counts must agree."""
    for kind, modules in expected.items():
        names = _numbered(weights, kind)
        if len(names) != len(modules):
            raise KerasImportError(
                f"expected {len(modules)} {kind} layers in {architecture}, found {len(names)}"
            )
        yield from zip(names, modules, strict=True)


def _load(net: NimaNet, weights: KerasWeights, targets: Iterator[tuple[str, nn.Module]], path: Path) -> None:
    unused = set(weights.layers)
    for name, module in targets:
        if name not in weights.layers:
            raise KerasImportError(
                f"{path}: no layer {name!r}; is it a NIMA {net.backbone_name} (alpha 1.0)?"
            )
        _assign(module, weights.layers[name], name)
        unused.discard(name)
    if unused:
        raise KerasImportError(
            f"{path}: layers a NIMA {net.backbone_name} does not have: {', '.join(sorted(unused)[:6])}"
        )


def _assign(module: nn.Module, arrays: dict[str, np.ndarray], name: str) -> None:
    try:
        if isinstance(module, nn.BatchNorm2d):
            channels = arrays["moving_mean"].shape
            values = {
                "weight": arrays.get("gamma", np.ones(channels)),  # InceptionV3 has scale=False
                "bias": arrays.get("beta", np.zeros(channels)),
                "running_mean": arrays["moving_mean"],
                "running_var": arrays["moving_variance"],
            }
        elif isinstance(module, nn.Linear):
            values = {"weight": arrays["kernel"].T, "bias": arrays["bias"]}
        else:
            depthwise = module.groups > 1  # Keras (h, w, channels, 1) vs (h, w, in, out)
            values = {"weight": arrays["kernel"].transpose((2, 3, 0, 1) if depthwise else (3, 2, 0, 1))}
            if "bias" in arrays:
                values["bias"] = arrays["bias"]
    except KeyError as exc:
        raise KerasImportError(f"layer {name}: no variable {exc.args[0]!r} (has {sorted(arrays)})") from None
    for attr, value in values.items():
        target = getattr(module, attr)
        if target is None or tuple(target.shape) != value.shape:
            shape = None if target is None else tuple(target.shape)
            raise KerasImportError(f"layer {name}: {attr} of shape {value.shape} does not fit {shape}")
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def _pad_like_modern_keras(backbone: nn.Module) -> None:
    """Swap every stride-2 convolution for one that pads (0, 1, 0, 1) instead of (1, 1, 1, 1)."""
    for parent in list(backbone.modules()):
        for attr, conv in list(parent.named_children()):
            if isinstance(conv, nn.Conv2d) and conv.stride == (2, 2):
                setattr(parent, attr, _swap(conv, KerasPaddedConv2d, padding=0))


def _exclude_padding_from_avg_pools(backbone: nn.Module) -> None:
    """InceptionA, C and E blocks average-pool before ``branch_pool``; rescale that input as Keras does."""
    for block in backbone.modules():
        if hasattr(block, "branch_pool"):
            block.branch_pool.conv = _swap(block.branch_pool.conv, ExcludePadAvgPoolConv2d)


def _swap(conv: nn.Conv2d, cls: type[nn.Conv2d], padding: Any = None) -> nn.Conv2d:
    """``conv`` as an instance of ``cls``, sharing its weights (state-dict keys stay the same)."""
    new = cls(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding if padding is None else padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    new.weight = conv.weight
    new.bias = conv.bias
    return new


def _dense_name(weights: KerasWeights) -> str:
    dense = [n for n, arrays in weights.layers.items() if arrays.get("kernel", np.empty(0)).ndim == 2]
    if len(dense) != 1:
        raise KerasImportError(
            f"expected one Dense layer (the 10-bucket score head), found {dense or 'none'}"
        )
    return dense[0]


def _numbered(weights: KerasWeights, kind: str) -> list[str]:
    """The layers named ``kind`` or ``kind_N`` (``_N`` counts in creation order), ordered by N."""
    found = [(m, name) for name in weights.layers if (m := _NUMBERED.fullmatch(name)) and m.group(1) == kind]
    return [name for m, name in sorted(found, key=lambda item: int(item[0].group(2) or -1))]


def _kind(name: str) -> str | None:
    match = _NUMBERED.fullmatch(name)
    return match.group(1) if match else None


def _config_hints(config: dict[str, Any] | None) -> tuple[KerasPadding | None, int | None]:
    """The padding and input size a full-model file's Keras config records, where it records them."""
    padding: KerasPadding | None = None
    size: int | None = None
    for layer in _layer_configs(config):
        settings = layer["config"]
        if layer["class_name"] == "ZeroPadding2D" and settings.get("name") == "conv1_pad":
            padding = "modern" if np.ravel(settings["padding"]).tolist() == [0, 1, 0, 1] else "legacy"
        shape = settings.get("batch_shape") or settings.get("batch_input_shape")
        if layer["class_name"] == "InputLayer" and shape and len(shape) == 4 and shape[1] == shape[2]:
            size = shape[1]
    return padding, size


def _layer_configs(node: Any) -> Iterator[dict[str, Any]]:
    """Every ``{"class_name": ..., "config": {...}}`` in a Keras model config, nested models included."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _layer_configs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layer_configs(value)
