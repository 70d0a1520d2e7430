"""Room types from the bundled ImageNet classifier: a map of ImageNet classes to rooms, kept as data.

The room model (``models/rooms-lite0.onnx``, made by ``recipes/room_model/export.py``) gives the ImageNet-1k
softmax and an L2-normalised embedding (for near duplicates). :class:`RoomMap` (``data/rooms.json``) turns
the softmax into rooms with numpy: a room's evidence is the summed probability of the ImageNet classes mapped
to it, sharpened by a temperature and weighted per room; a photo is the best room when that room's share of
the evidence and its evidence itself reach the thresholds, else ``"other"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from photoscore.modelcard import ModelCard
from photoscore.preprocess import Preprocessing
from photoscore.scoring.onnx_model import ModelFileError, load_session
from photoscore.scoring.registry import room_model

ROOMS: tuple[str, ...] = (
    "bathroom",
    "bedroom",
    "kitchen",
    "living_room",
    "dining_room",
    "exterior",
    "other",
)
OTHER = ROOMS.index("other")


def _bundled_map_file() -> Path:
    return Path(str(resources.files("photoscore.review") / "data" / "rooms.json"))


@dataclass(frozen=True)
class RoomMap:
    """ImageNet class -> room, and how the summed probabilities become a room.

    ``class_rooms[k]`` is the index in :data:`ROOMS` of ImageNet class ``k`` (``"other"`` for unmapped
    classes). ``temperature`` sharpens (< 1) or flattens (> 1) the ImageNet softmax before summing;
    ``weights`` multiply each room's summed probability (a prior); a photo gets its best room when that
    room holds at least ``min_probability`` of the ImageNet mass, else ``"other"``.
    """

    class_rooms: np.ndarray
    temperature: float = 1.0
    weights: tuple[float, ...] = (1.0,) * (len(ROOMS) - 1)
    min_probability: float = 0.1

    @classmethod
    def from_dict(cls, data: dict[str, Any], num_classes: int = 1000) -> RoomMap:
        """A map from the JSON shape of ``data/rooms.json``."""
        class_rooms = np.full(num_classes, OTHER, dtype=np.intp)
        for entry in data["classes"]:
            room = entry["room"]
            if room not in ROOMS:
                raise ValueError(f"class {entry['index']} ({entry['name']}): unknown room {room!r}")
            class_rooms[int(entry["index"])] = ROOMS.index(room)
        weights = data.get("weights", {})
        unknown = set(weights) - set(ROOMS[:OTHER])
        if unknown:
            raise ValueError(f"weights for unknown rooms: {sorted(unknown)}")
        return cls(
            class_rooms=class_rooms,
            temperature=float(data.get("temperature", 1.0)),
            weights=tuple(float(weights.get(room, 1.0)) for room in ROOMS[:OTHER]),
            min_probability=float(data.get("min_probability", 0.1)),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> RoomMap:
        """The map in a JSON file (the bundled ``data/rooms.json`` by default)."""
        return cls.from_dict(json.loads(Path(path or _bundled_map_file()).read_text(encoding="utf-8")))

    def room_probabilities(self, imagenet: np.ndarray) -> np.ndarray:
        """(N, 1000) ImageNet softmax -> (N, len(ROOMS)) room probabilities summing to 1 (``other`` last)."""
        probs = np.asarray(imagenet, dtype=np.float64)
        if self.temperature != 1.0:
            probs = np.power(np.clip(probs, 1e-30, None), 1.0 / self.temperature)
            probs /= probs.sum(axis=1, keepdims=True)
        rooms = probs @ np.eye(len(ROOMS))[self.class_rooms]
        rooms[:, :OTHER] *= np.asarray(self.weights)
        return rooms / rooms.sum(axis=1, keepdims=True)

    def decide(self, rooms: np.ndarray) -> np.ndarray:
        """(N, len(ROOMS)) room probabilities -> (N,) index of each photo's room in :data:`ROOMS`."""
        best = rooms[:, :OTHER].argmax(axis=1)
        found = rooms[np.arange(len(rooms)), best] >= self.min_probability
        return np.where(found, best, OTHER)


@dataclass(frozen=True)
class RoomPredictions:
    """The room model's answer for a batch of photos."""

    probabilities: np.ndarray  # (N, len(ROOMS)) over ROOMS, each row summing to 1
    best: np.ndarray  # (N,) index in ROOMS of each photo's room ("other" below the map's threshold)
    embedding: np.ndarray  # (N, D) L2-normalised image embedding
    imagenet: np.ndarray  # (N, 1000) the ImageNet softmax the rooms came from

    def __len__(self) -> int:
        return len(self.best)

    def room(self, i: int) -> tuple[str, float]:
        """Photo ``i``'s room and that room's probability."""
        best = int(self.best[i])
        return ROOMS[best], float(self.probabilities[i, best])

    @property
    def rooms(self) -> list[str]:
        """Each photo's room."""
        return [ROOMS[int(b)] for b in self.best]


class RoomModel:
    """The room classifier: an ONNX Runtime session on the bundled ``rooms-lite0.onnx`` and a room map."""

    def __init__(
        self,
        path: str | Path | None = None,
        threads: int | None = None,
        room_map: RoomMap | None = None,
        providers: list[str] | None = None,
    ):
        self.path = Path(path) if path is not None else room_model()
        self.session, self.card = load_session(self.path, threads, providers)
        if self.card.kind != "room_classifier" or self.card.embedding_name is None:
            raise ModelFileError(
                f"{self.path}: {self.card.name} is a {self.card.kind} model, not a room classifier"
            )
        self.room_map = room_map or RoomMap.load()
        if len(self.card.classes or ()) != len(self.room_map.class_rooms):
            raise ModelFileError(
                f"{self.path}: {len(self.card.classes or ())} classes, the room map has {len(self.room_map.class_rooms)}"
            )

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def preprocessing(self) -> Preprocessing:
        """How a decoded photo becomes this model's input (``preprocessing.to_array``)."""
        return self.card.preprocessing

    def predict(self, batch: np.ndarray) -> RoomPredictions:
        """(N, 3, H, W) float32 inputs made by :attr:`preprocessing` -> rooms, embeddings, ImageNet softmax."""
        card: ModelCard = self.card
        imagenet, embedding = self.session.run(
            [card.output_name, card.embedding_name], {card.input_name: np.asarray(batch, dtype=np.float32)}
        )
        rooms = self.room_map.room_probabilities(imagenet)
        return RoomPredictions(
            probabilities=rooms,
            best=self.room_map.decide(rooms),
            embedding=np.asarray(embedding, dtype=np.float32),
            imagenet=np.asarray(imagenet, dtype=np.float32),
        )

    def predict_images(self, images: list[Image.Image]) -> RoomPredictions:
        """Decoded RGB images -> :meth:`predict` of their inputs."""
        return self.predict(np.stack([self.preprocessing.to_array(image) for image in images]))
