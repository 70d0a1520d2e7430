"""Keras NIMA weights -> model.onnx: the same softmax as Keras, for every layout, padding mode and size.

References come from Keras 3 itself (torch backend, no TensorFlow), built with ``weights=None`` and given
random but data-calibrated weights, so that photos get different scores and a wrong padding shows.
Keras-dependent tests skip where Keras is not installed (it is a dev dependency).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("h5py")

import dataclasses
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import typer
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from photoscore import keras_pull
from photoscore.cli.keras import import_keras as import_keras_command
from photoscore.cli.keras import models_pull
from photoscore.distribution import mean_score
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import KNOWN_MODELS, resolve_model
from photoscore.training.keras_import import (
    KerasImportError,
    _config_hints,
    import_keras,
    keras_preprocessing,
    load_keras_nima,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

PHOTOS = ("chelsea", "coffee", "astronaut")  # three photos keep the Keras side quick
ALL_CASES = [
    ("MobileNet", "modern", 224),
    ("MobileNet", "modern", 200),  # not a multiple of 32: odd sizes inside the network
    ("MobileNet", "legacy", 224),
    ("MobileNet", "legacy", 200),
    ("InceptionV3", None, 224),  # idealo's code feeds InceptionV3 224 px too
    ("InceptionV3", None, 99),  # small: 1x1 maps at the end, where the pools see mostly padding
]


# --- Keras references ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def photo_batch(size: int) -> np.ndarray:
    """The sample photos as network input (N, 3, size, size), preprocessed as imported models declare."""
    prep = keras_preprocessing(size)
    return np.stack([prep.to_array(Image.fromarray(getattr(data, name)())) for name in PHOTOS])


def legacy_mobilenet(keras: Any) -> Any:
    """Keras 2.1.5-2.2.0's MobileNet (alpha 1, no top): zero padding on every side before each 3x3 conv."""
    layers = keras.layers
    inputs = keras.Input((None, None, 3))
    x = layers.ZeroPadding2D((1, 1), name="conv1_pad")(inputs)
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="conv1")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(layers.BatchNormalization(name="conv1_bn")(x))
    widths = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    for i, width in enumerate(widths, start=1):
        x = layers.ZeroPadding2D((1, 1), name=f"conv_pad_{i}")(x)
        x = layers.DepthwiseConv2D(
            3, strides=2 if i in (2, 4, 6, 12) else 1, use_bias=False, name=f"conv_dw_{i}"
        )(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{i}_relu")(layers.BatchNormalization(name=f"conv_dw_{i}_bn")(x))
        x = layers.Conv2D(width, 1, use_bias=False, name=f"conv_pw_{i}")(x)
        x = layers.ReLU(6.0, name=f"conv_pw_{i}_relu")(layers.BatchNormalization(name=f"conv_pw_{i}_bn")(x))
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(x))


def keras_graph(keras: Any, architecture: str, padding: str | None, size: int | None = None) -> Any:
    """A Keras NIMA model as idealo builds it: base (no top, average pooling) + dropout + dense softmax."""
    if padding == "legacy":
        base = legacy_mobilenet(keras)
    else:
        application = getattr(keras.applications, architecture)
        base = application(input_shape=(size, size, 3), weights=None, include_top=False, pooling="avg")
    head = keras.layers.Dense(10, activation="softmax")(keras.layers.Dropout(0.75)(base.output))
    return keras.Model(base.input, head)


def keras_nima(keras: Any, architecture: str, padding: str | None) -> Any:
    """A Keras NIMA model for any input size, with weights calibrated on the sample photos."""
    keras.utils.set_random_seed(7)
    model = keras_graph(keras, architecture, padding)
    rng = np.random.default_rng(7)
    for layer in model.layers:  # batch statistics of one pass become the moving statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
            channels = layer.moving_mean.shape[0]
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.5, channels).astype("float32"))
    with torch.no_grad():
        model(photo_batch(139).transpose(0, 2, 3, 1), training=True)
    return model


def save_legacy_weights(model: Any, path: Path) -> Path:
    """The ``save_weights`` .h5 layout (idealo's files), written by Keras' own legacy writer."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)
    return path


def predict(model: Any, batch: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(batch.transpose(0, 2, 3, 1), verbose=0), dtype=np.float64)


@pytest.fixture(scope="module")
def references(keras: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str | None], Any]:
    """(architecture, padding) -> (Keras model, its weights in the save_weights layout); built on first use."""
    folder = tmp_path_factory.mktemp("keras")

    class Lazy(dict):
        def __missing__(self, key: tuple[str, str | None]) -> Any:
            model = keras_nima(keras, *key)
            self[key] = (model, save_legacy_weights(model, folder / f"{key[0]}-{key[1]}.h5"))
            return self[key]

    return Lazy()


@pytest.fixture(scope="module")
def converted(
    references, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str | None, int], Path]:
    """(architecture, padding, size) -> the reference's weights imported to ONNX; made on first use."""
    folder = tmp_path_factory.mktemp("onnx")

    class Lazy(dict):
        def __missing__(self, key: tuple[str, str | None, int]) -> Path:
            architecture, padding, size = key
            out, _, drift = import_keras(
                references[(architecture, padding)][1],
                folder / f"{architecture}-{padding}-{size}.onnx",
                "aesthetic",
                architecture=architecture,
                padding=padding,
                input_size=size,
            )
            assert drift < 1e-5
            self[key] = out
            return out

    return Lazy()


# --- equivalence -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("architecture", "padding", "size"), ALL_CASES)
def test_onnx_matches_keras(references, converted, architecture, padding, size):
    batch = photo_batch(size)
    expected = predict(references[(architecture, padding)][0], batch)
    onnx_model = OnnxNimaModel(converted[(architecture, padding, size)])
    actual = onnx_model.predict(batch)
    softmax_diff = np.abs(actual - expected).max()
    mean_diff = np.abs(mean_score(actual) - mean_score(expected)).max()
    print(f"{architecture} {padding} {size}: softmax {softmax_diff:.1e}, mean {mean_diff:.1e}")
    assert softmax_diff < 1e-4
    assert mean_diff < 1e-3
    assert np.ptp(mean_score(expected)) > 0.05  # the photos score differently: the check has teeth
    assert onnx_model.card.preprocessing.input_size == (size, size)


def test_the_other_padding_gives_other_scores(references):
    """Same file, other Keras version: the scores move, so the padding mode matters."""
    model, weights = references[("MobileNet", "modern")]
    batch = photo_batch(224)
    net, info = load_keras_nima(weights, padding="legacy")
    assert info.keras_padding == "legacy"
    with torch.no_grad():
        legacy = net.distribution(torch.from_numpy(batch)).double().numpy()
    assert np.abs(mean_score(legacy) - mean_score(predict(model, batch))).max() > 0.05


# --- layouts -------------------------------------------------------------------------------------------------


def keras2_style(source: Path, target: Path) -> Path:
    """Rewrite a save_weights file the way Keras 2.1 named things: ``:0`` suffixes, ``depthwise_kernel``,
    ``dense_1``, long attribute lists split into ``layer_names0``, ``layer_names1``."""
    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        names = [n.decode() if isinstance(n, bytes) else n for n in old.attrs["layer_names"]]
        renamed = {n: {"dense": "dense_1", "dropout": "dropout_1"}.get(n, n) for n in names}
        half = len(names) // 2
        new.attrs["layer_names0"] = [renamed[n].encode() for n in names[:half]]
        new.attrs["layer_names1"] = [renamed[n].encode() for n in names[half:]]
        new.attrs["keras_version"], new.attrs["backend"] = b"2.1.6", b"tensorflow"
        for name in names:
            group = new.create_group(renamed[name])
            weight_names = []
            for weight in old[name].attrs["weight_names"]:
                layer, var = (weight.decode() if isinstance(weight, bytes) else weight).split("/")
                if layer.startswith("conv_dw_") and var == "kernel":
                    var = "depthwise_kernel"
                weight_names.append(f"{renamed[layer]}/{var}:0")
                group[weight_names[-1]] = np.asarray(old[name][weight])
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
    return target


def test_every_layout_gives_the_same_network(keras, references, tmp_path):
    model, weights = references[("MobileNet", "modern")]
    batch = photo_batch(224)
    expected = predict(model, batch)
    model.save_weights(tmp_path / "keras3.weights.h5")
    full = keras_graph(keras, "MobileNet", "modern", size=224)  # a full-model file that records a 224 input
    full.set_weights(model.get_weights())
    full.save(tmp_path / "full.h5")
    files = {
        "save-weights": weights,
        "keras2": keras2_style(weights, tmp_path / "keras2.hdf5"),
        "full-model": tmp_path / "full.h5",
        "keras3-weights": tmp_path / "keras3.weights.h5",
    }
    for label, path in files.items():
        net, info = load_keras_nima(path)
        assert info.architecture == "MobileNet" and info.keras_padding == "modern" and info.input_size == 224
        with torch.no_grad():
            actual = net.distribution(torch.from_numpy(batch)).double().numpy()
        assert np.abs(actual - expected).max() < 1e-4, label
    assert load_keras_nima(files["keras2"])[1].keras_version == "2.1.6"


def test_full_model_file_says_its_padding(keras, references, tmp_path):
    model, _ = references[("MobileNet", "legacy")]
    model.save(tmp_path / "legacy.h5")
    _, info = load_keras_nima(tmp_path / "legacy.h5")
    assert (info.layout, info.keras_padding) == ("full-model", "legacy")


def test_config_hints():
    config = {
        "class_name": "Functional",
        "config": {
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 192, 192, 3]}},
                {"class_name": "ZeroPadding2D", "config": {"name": "conv1_pad", "padding": [[0, 1], [0, 1]]}},
            ]
        },
    }
    assert _config_hints(config) == ("modern", 192)
    config["config"]["layers"][1]["config"]["padding"] = [1, 1]
    assert _config_hints(config) == ("legacy", 192)
    assert _config_hints(None) == (None, None)


def test_inception_keras3_weights_are_refused_with_a_way_out(tmp_path):
    """Keras 3 names layers by class in graph order, which for InceptionV3 is not the creation order."""
    with h5py.File(tmp_path / "inception.weights.h5", "w") as file:
        for i in range(94):
            file[f"layers/conv2d_{i}/vars/0"] = np.zeros((1, 1, 1, 1))
            file[f"layers/batch_normalization_{i}/vars/0"] = np.zeros(1)
    with pytest.raises(KerasImportError, match=r"graph order.*model\.save\(\"model\.h5\"\)"):
        load_keras_nima(tmp_path / "inception.weights.h5")


# --- refusals --------------------------------------------------------------------------------------------------


def test_not_keras_files_are_refused(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(KerasImportError, match="not an HDF5 file"):
        load_keras_nima(tmp_path / "photo.jpg")
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(KerasImportError, match=r"\.keras archive"):
        load_keras_nima(tmp_path / "model.keras")
    with h5py.File(tmp_path / "data.h5", "w") as file:
        file["images"] = np.zeros(3)
    with pytest.raises(KerasImportError, match="not Keras weights"):
        load_keras_nima(tmp_path / "data.h5")
    with pytest.raises(KerasImportError, match="file not found"):
        load_keras_nima(tmp_path / "missing.h5")


def test_other_architectures_are_refused(keras, references, tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    small = keras.Model(
        inputs, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(inputs)))
    )
    with pytest.raises(KerasImportError, match="not a NIMA MobileNet or InceptionV3"):
        load_keras_nima(save_legacy_weights(small, tmp_path / "small.h5"))
    narrow = keras.applications.MobileNet(
        input_shape=(None, None, 3), alpha=0.5, weights=None, include_top=False
    )
    with pytest.raises(KerasImportError, match=r"layer conv1: weight of shape \(16, 3, 3, 3\)"):
        load_keras_nima(save_legacy_weights(narrow, tmp_path / "narrow.h5"))
    _, weights = references[("MobileNet", "modern")]
    with pytest.raises(KerasImportError, match="holds a MobileNet NIMA model, not InceptionV3"):
        load_keras_nima(weights, architecture="InceptionV3")
    with pytest.raises(KerasImportError, match="too small"):
        load_keras_nima(weights, input_size=16)


# --- the whole scoring path ------------------------------------------------------------------------------------


def test_scores_match_idealos_pipeline_on_photo_files(keras, references, converted, photo_dir):
    """photoscore score (decode + resize + model) vs idealo's predict: Keras load_img + preprocess + Keras."""
    model, _ = references[("MobileNet", "modern")]
    out = converted[("MobileNet", "modern", 224)]
    photos = sorted(photo_dir.glob("*.jpg"))
    pixels = np.stack(
        [keras.utils.img_to_array(keras.utils.load_img(p, target_size=(224, 224))) for p in photos]
    )
    expected = mean_score(np.asarray(model.predict(pixels / 127.5 - 1.0, verbose=0), dtype=np.float64))
    actual = [r.mean_score_prediction for r in Scorer([out]).score(photos)]
    differences = np.abs(np.asarray(actual) - expected)
    print("mean score differences:", differences)
    # Keras load_img decodes at full size; a JPEG decoded with DCT scaling (Image.draft) then resized with
    # nearest-neighbour picks other pixels, so idealo-compatible models need a full decode.
    assert differences.max() < 0.01, f"differences {differences} for {[p.name for p in photos]}"


# --- the card and the commands ---------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("import-keras")(import_keras_command)
    models = typer.Typer()
    models.command("pull")(models_pull)
    app.add_typer(models, name="models")
    return app


def test_import_keras_command_writes_a_model_with_its_card(references, tmp_path):
    _, weights = references[("MobileNet", "legacy")]
    out = tmp_path / "legacy.onnx"
    args = ["import-keras", str(weights), "--kind", "technical", "--keras-padding", "legacy", "-o", str(out)]
    run = CliRunner().invoke(cli(), args)
    assert run.exit_code == 0, run.output
    assert "Keras padding legacy" in run.output and "squash/nearest" in run.output
    card = OnnxNimaModel(out).card
    assert (card.name, card.kind, card.backbone) == ("legacy", "technical", "MobileNet")
    assert card.preprocessing == keras_preprocessing(224)
    facts = card.training_config["keras_import"]
    assert facts["sha256"] in card.source and len(facts["sha256"]) == 64
    assert facts == facts | {"file": weights.name, "layout": "save-weights", "keras_padding": "legacy"}
    assert facts["architecture"] == "MobileNet" and facts["input_size"] == 224
    run = CliRunner().invoke(
        cli(), ["import-keras", str(out), "--kind", "aesthetic", "-o", str(tmp_path / "x.onnx")]
    )
    assert run.exit_code == 2 and "not an HDF5 file" in run.output


def test_git_blob_id():
    assert keras_pull.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert keras_pull.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_known_models_are_the_pullable_ones():
    assert {k.name for k in KNOWN_MODELS} >= set(keras_pull.PULLABLE)
    for known in KNOWN_MODELS:
        if known.name in keras_pull.PULLABLE:
            source = keras_pull.PULLABLE[known.name]
            assert source.git_blob in known.source and source.path in known.source
            assert known.kind == source.kind


def test_pull_offline_fails_fast_and_says_how_to_pass_the_file(monkeypatch, tmp_path):
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("PHOTOSCORE_MODEL_DIR", str(tmp_path))
    run = CliRunner().invoke(cli(), ["models", "pull", "idealo-technical"])
    assert run.exit_code == 1
    assert (
        "photoscore models pull idealo-technical --file weights_mobilenet_technical_0.11.hdf5" in run.output
    )
    run = CliRunner().invoke(cli(), ["models", "pull", "idealo-nothing"])
    assert run.exit_code == 2 and "idealo-aesthetic, idealo-technical" in run.output


def test_pull_verifies_and_installs(references, monkeypatch, tmp_path):
    _, weights = references[("MobileNet", "modern")]
    content = weights.read_bytes()
    monkeypatch.setenv("PHOTOSCORE_MODEL_DIR", str(tmp_path / "models"))
    run = CliRunner().invoke(cli(), ["models", "pull", "idealo-aesthetic", "--file", str(weights)])
    assert run.exit_code == 1 and "expected 003fb321ce92445e41d708144a3656589f9214e7" in run.output

    source = keras_pull.PULLABLE["idealo-aesthetic"]
    matching = dataclasses.replace(source, git_blob=keras_pull.git_blob_id(content))
    monkeypatch.setitem(keras_pull.PULLABLE, source.name, matching)

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> bytes:
            return content

    requested = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: requested.append(url) or Response())
    run = CliRunner().invoke(cli(), ["models", "pull", "idealo-aesthetic"])
    assert run.exit_code == 0, run.output
    assert requested == [source.url]
    card = OnnxNimaModel(resolve_model("idealo-aesthetic")).card
    assert (card.name, card.kind, card.license) == ("idealo-aesthetic", "aesthetic", "Apache-2.0")
    assert card.metrics == {"emd": 0.071, "plcc": 0.626, "srcc": 0.609}
    assert card.training_config["keras_import"]["file"] == "weights_mobilenet_aesthetic_0.07.hdf5"
