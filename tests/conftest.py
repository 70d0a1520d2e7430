"""Shared fixtures: real photos on disk and small real ONNX models with cards."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageFilter
from skimage import data

from photoscore.modelcard import CARD_METADATA_KEY, ModelCard
from photoscore.preprocess import Preprocessing

REPO = Path(__file__).resolve().parents[1]
LIVEC_DIR = REPO.parent / "shared" / "data" / "livec"
SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
BLUR_LEVELS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real photos (scikit-image's CC0 / public-domain samples) as JPEG files."""
    folder = tmp_path_factory.mktemp("photos")
    for name in SAMPLE_PHOTOS:
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.jpg", quality=92)
    return folder


@pytest.fixture(scope="session")
def livec_dir() -> Path:
    """The shared LIVE In the Wild photos; tests that need them skip where ../shared is absent."""
    if not (LIVEC_DIR / "labels.csv").is_file():
        pytest.skip("../shared/data/livec is not present")
    return LIVEC_DIR


def write_colour_model(
    path: Path,
    name: str = "colour",
    input_size: tuple[int, int] = (32, 32),
    seed: int = 0,
    preprocessing: Preprocessing | None = None,
) -> Path:
    """A small real ONNX NIMA-shaped model: global average pool -> linear(3, 10) -> softmax.

    Its scores depend on the photo's mean colour, so different photos get different, checkable scores.
    ``preprocessing`` (its input size wins over ``input_size``) goes into the card.
    """
    preprocessing = preprocessing or Preprocessing(input_size=input_size, mean=(127.5,) * 3, std=(127.5,) * 3)
    input_size = preprocessing.input_size
    weights = np.random.default_rng(seed).normal(size=(3, 10)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["distribution"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, *input_size])],
        [helper.make_tensor_value_info("distribution", TensorProto.FLOAT, ["batch", 10])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    card = ModelCard(
        name=name,
        kind="technical",
        backbone="mean-colour",
        preprocessing=preprocessing,
        source="photoscore test fixture",
    )
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def colour_model(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``colour_model(name=..., input_size=(h, w), seed=...)`` writes a model into tmp_path."""

    def make(name: str = "colour", input_size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
        return write_colour_model(tmp_path / f"{name}.onnx", name, input_size, seed)

    return make


def blur_label(sigma: float) -> list[float]:
    """Votes centred on 8 for a sharp photo, 1.3 points lower per unit of blur."""
    buckets = np.arange(1, 11)
    votes = np.exp(-0.5 * ((buckets - (8 - 1.3 * sigma)) / 1.3) ** 2)
    return [round(float(v), 6) for v in votes / votes.sum()]


def make_blur_set(folder: Path, scenes: tuple[str, ...], crops: int, seed: int) -> Path:
    """Real photo crops, each at every blur level, labelled by blur strength; returns the label file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for scene in scenes:
        photo = Image.fromarray(getattr(data, scene)()).convert("RGB")
        for crop_index in range(crops):
            side = min(photo.size) // 2
            x, y = rng.integers(0, photo.width - side), rng.integers(0, photo.height - side)
            crop = photo.crop((x, y, x + side, y + side)).resize((224, 224))
            for sigma in BLUR_LEVELS:
                image_id = f"{scene}-{crop_index}-blur{sigma}"
                crop.filter(ImageFilter.GaussianBlur(sigma)).save(folder / f"{image_id}.jpg", quality=90)
                entries.append({"image_id": image_id, "label": blur_label(sigma)})
    labels = folder.parent / f"{folder.name}.json"
    labels.write_text(json.dumps(entries))
    return labels


class PhotoServer:
    """A loopback HTTP server of the ``photo_dir`` photos: ``/photos/NAME``, ``/slow/NAME`` (0.5 s late),
    ``/hang/NAME`` (answers after 10 s), ``/flaky/NAME`` (503 the first time), ``/trickle/NAME`` and
    ``/trickle-head/NAME`` (a byte every 50 ms for 10 s, in the body or in a header),
    ``/metadata-redirect/NAME`` (302 to the cloud metadata address 169.254.169.254), anything else 404.
    ``requests`` counts the requests per path."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] += 1
                kind, _, name = urlsplit(self.path).path.strip("/").partition("/")
                file = server.folder / name
                if kind == "metadata-redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.end_headers()
                    return
                if kind in ("trickle", "trickle-head"):
                    self.trickle(kind == "trickle-head")
                    return
                if kind == "hang":
                    time.sleep(10)
                elif kind == "slow":
                    time.sleep(0.5)
                elif kind == "flaky" and server.requests[self.path] == 1:
                    self.send_error(503)
                    return
                if kind not in ("photos", "slow", "hang", "flaky") or not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up waiting
                    self.wfile.write(data)

            def trickle(self, in_headers: bool) -> None:
                """A byte every 50 ms for 10 s, in a header or in a body of 1,000 bytes."""
                self.send_response(200)
                if in_headers:
                    self.flush_headers()
                    self.wfile.write(b"X-Slow: ")
                else:
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up
                    for _ in range(200):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                        time.sleep(0.05)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="session")
def photo_server(photo_dir: Path) -> Iterator[PhotoServer]:
    server = PhotoServer(photo_dir)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def load_script(name: str) -> ModuleType:
    """A script of scripts/ as a module, for tests that make the same photo variants it measures with."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
