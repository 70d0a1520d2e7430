"""End to end: a NimaNet with offline ImageNet weights -> model.onnx -> scored photos."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import json
import subprocess
import sys

import numpy as np
import torch

from photoscore.distribution import mean_score, std_score
from photoscore.images import load_image
from photoscore.modelcard import ModelCard
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.training import nima
from photoscore.training.export import build_and_export, export_onnx, onnx_drift, with_input_size

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite0() -> nima.NimaNet:
    torch.manual_seed(0)
    return nima.NimaNet.build("EfficientNetLite0", weights="offline").eval()


@pytest.fixture(scope="module")
def lite0_onnx(lite0, tmp_path_factory):
    card = ModelCard(
        name="lite0-test",
        kind="untrained",
        backbone=lite0.backbone_name,
        preprocessing=lite0.preprocessing,
        training_data="none",
        metrics={"val_srcc": 0.5},
    )
    return export_onnx(lite0, card, tmp_path_factory.mktemp("export") / "lite0.onnx")


def photo_batch(net: nima.NimaNet, photos) -> torch.Tensor:
    """Photos decoded and preprocessed exactly as the scoring engine does."""
    side = max(net.preprocessing.input_size)
    arrays = [net.preprocessing.to_array(load_image(p, min_size=(side, side))) for p in photos]
    return torch.from_numpy(np.stack(arrays))


def test_onnx_reproduces_torch_softmax_on_real_photos(lite0, lite0_onnx, photo_dir):
    photos = sorted(photo_dir.glob("*.jpg"))
    images = photo_batch(lite0, photos)
    assert onnx_drift(lite0, lite0_onnx, images) < 1e-5
    assert onnx_drift(lite0, lite0_onnx, images[:1]) < 1e-5  # dynamic batch: 1 and 4


def test_card_travels_inside_the_file(lite0_onnx):
    card = OnnxNimaModel(lite0_onnx).card
    assert card.name == "lite0-test"
    assert card.backbone == "EfficientNetLite0"
    assert card.preprocessing.input_size == (224, 224)
    assert card.preprocessing.mean == (127.0,) * 3 and card.preprocessing.std == (128.0,) * 3
    assert card.score_buckets == tuple(range(1, 11))
    assert card.metrics == {"val_srcc": 0.5}


def test_scored_folder_matches_torch_in_every_field(lite0, lite0_onnx, photo_dir):
    photos = sorted(photo_dir.glob("*.jpg"))
    with torch.no_grad():
        expected = lite0.distribution(photo_batch(lite0, photos)).double().numpy()
    results = list(Scorer([lite0_onnx], batch_size=3).score(photos))
    for photo, result, dist in zip(photos, results, expected, strict=True):
        assert result.image_id == photo.stem and result.path == str(photo) and result.error is None
        np.testing.assert_allclose(result.distribution, dist, atol=1e-5)
        assert result.mean_score_prediction == pytest.approx(mean_score(dist), abs=1e-4)
        assert result.std_score_prediction == pytest.approx(std_score(dist), abs=1e-4)
        assert result.models["lite0-test"].mean == pytest.approx(result.mean_score_prediction)


def test_torch_mean_and_std_match_numpy():
    dist = torch.softmax(torch.randn(5, 10, dtype=torch.float64), dim=-1)
    np.testing.assert_allclose(nima.mean_score(dist).numpy(), mean_score(dist.numpy()))
    np.testing.assert_allclose(nima.std_score(dist).numpy(), std_score(dist.numpy()))


def test_freeze_backbone_leaves_only_the_head_trainable(lite0):
    lite0.freeze_backbone(True)
    trainable = {n for n, p in lite0.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"}
    lite0.freeze_backbone(False)
    assert all(p.requires_grad for p in lite0.parameters())


def test_export_command_writes_an_untrained_model(tmp_path, photo_dir):
    out = tmp_path / "demo.onnx"
    run = subprocess.run(
        [sys.executable, "-m", "photoscore", "export", "--backbone", "EfficientNetLite0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "untrained" in run.stderr
    card = OnnxNimaModel(out).card
    assert card.kind == "untrained" and "untrained NIMA head" in card.description
    scored = subprocess.run(
        [sys.executable, "-m", "photoscore", "score", str(photo_dir), "-m", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scored.returncode == 0, scored.stderr
    assert len(json.loads(scored.stdout)) == 4


def test_build_and_export_loads_a_checkpoint(tmp_path, photo_dir):
    from safetensors.torch import save_file

    trained = nima.NimaNet.build("EfficientNetLite0", weights="none")
    with torch.no_grad():
        trained.head.weight.zero_()
        trained.head.bias.zero_()
        trained.head.bias[7] = 5.0  # a head that says "8" whatever the photo
    checkpoint = tmp_path / "best.safetensors"
    save_file(trained.state_dict(), str(checkpoint))
    path, drift = build_and_export(
        tmp_path / "m.onnx",
        "EfficientNetLite0",
        weights="none",
        checkpoint=checkpoint,
        name="m",
        kind="technical",
    )
    assert drift < 1e-5
    result = Scorer([path]).score_one(photo_dir / "coffee.jpg")
    expected = np.exp([0.0] * 7 + [5.0] + [0.0] * 2)
    expected /= expected.sum()
    np.testing.assert_allclose(result.distribution, expected, atol=1e-6)
    assert OnnxNimaModel(path).card.kind == "technical"


def test_all_feature_levels_export_and_match_torch(tmp_path, photo_dir):
    net = nima.NimaNet.build("EfficientNetLite0", weights="offline", feature_levels="all").eval()
    images = photo_batch(net, sorted(photo_dir.glob("*.jpg")))
    assert net.features(images).shape == (4, 16 + 24 + 40 + 112 + 320 + 1280)
    with torch.no_grad():  # give the standardisation real statistics, as phase 1 does
        net.feature_norm.running_mean.copy_(net.features(images).mean(0))
    card = ModelCard(name="ml", kind="untrained", backbone=net.backbone_name, preprocessing=net.preprocessing)
    path = export_onnx(net, card, tmp_path / "ml.onnx")
    assert onnx_drift(net, path, images) < 1e-5


@pytest.fixture(scope="module")
def centre_crop_net() -> nima.NimaNet:
    """A Lite0 NimaNet judging the centre 224 crop of a 320x320 view, as a crop_from_size config trains."""
    torch.manual_seed(0)
    net = nima.NimaNet.build("EfficientNetLite0", weights="offline").eval()
    net.preprocessing = net.preprocessing.model_copy(
        update={"resize": "center_crop", "crop_from": (320, 320)}
    )
    return net


def test_a_model_judges_a_larger_crop_with_the_same_weights(centre_crop_net, tmp_path, photo_dir):
    net = centre_crop_net
    card = ModelCard(
        name="crop224", kind="technical", backbone=net.backbone_name, preprocessing=net.preprocessing,
        training_data="LIVE", metrics={"val_srcc": 0.7},
    )  # fmt: skip
    small = export_onnx(net, card, tmp_path / "crop224.onnx")
    wide = with_input_size(small, (288, 288), tmp_path / "crop288.onnx", "crop288")

    wide_card = OnnxNimaModel(wide).card
    assert (wide_card.name, wide_card.preprocessing.input_size) == ("crop288", (288, 288))
    assert wide_card.preprocessing.crop_from == (320, 320) and wide_card.training_data == "LIVE"
    assert wide_card.metrics == {}  # figures measured on the 224 crop do not hold for the 288 one
    net.preprocessing = wide_card.preprocessing  # torch on the same 288 crops of the same photos
    try:
        photos = sorted(photo_dir.glob("*.jpg"))
        images = photo_batch(net, photos)
        assert images.shape[-2:] == (288, 288)
        assert onnx_drift(net, wide, images) < 1e-5
        with torch.no_grad():
            expected = mean_score(net.distribution(images).numpy())
    finally:
        net.preprocessing = card.preprocessing
    scored = [r.mean_score_prediction for r in Scorer([wide]).score(photos)]
    np.testing.assert_allclose(scored, expected, atol=1e-4)
    narrow = [r.mean_score_prediction for r in Scorer([small]).score(photos)]
    assert np.abs(np.subtract(narrow, scored)).max() > 1e-3  # the 224 model still judges its own crop


def test_a_crop_the_view_cannot_hold_or_a_squash_model_is_refused(centre_crop_net, lite0_onnx, tmp_path):
    card = ModelCard(
        name="crop224", kind="technical", backbone=centre_crop_net.backbone_name,
        preprocessing=centre_crop_net.preprocessing,
    )  # fmt: skip
    small = export_onnx(centre_crop_net, card, tmp_path / "crop224.onnx")
    with pytest.raises(ValueError, match=r"crop224\.onnx: a 400x400 crop does not fit in the 320x320 view"):
        with_input_size(small, (400, 400), tmp_path / "too-big.onnx", "too-big")
    with pytest.raises(ValueError, match=r"lite0\.onnx.*squashes whole photos"):
        with_input_size(lite0_onnx, (288, 288), tmp_path / "squash.onnx", "squash")
    assert not (tmp_path / "too-big.onnx").exists() and not (tmp_path / "squash.onnx").exists()
