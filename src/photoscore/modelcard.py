"""The model card: the JSON that travels inside every photoscore ``model.onnx``.

A scoring process needs nothing but the ONNX file: the card says how to preprocess photos, what the
output means and where the model came from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from photoscore import __version__
from photoscore.preprocess import Preprocessing

CARD_METADATA_KEY = "photoscore.card"
CARD_FORMAT_VERSION = 1

ModelKind = Literal["aesthetic", "technical", "untrained", "room_classifier"]
SCORING_KINDS: tuple[str, ...] = ("aesthetic", "technical", "untrained")


class ModelCard(BaseModel):
    """What a model is, how to feed it and how well it does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = CARD_FORMAT_VERSION
    name: str
    kind: ModelKind
    description: str = ""
    backbone: str
    preprocessing: Preprocessing
    score_buckets: tuple[int, ...] = tuple(range(1, 11))
    input_name: str = "image"
    output_name: str = Field("distribution", description="softmax over score_buckets, shape (N, 10)")
    classes: tuple[str, ...] | None = Field(
        None, description="a room_classifier: the class of each column of output_name, in order"
    )
    embedding_name: str | None = Field(
        None, description="a second output: L2-normalised image embedding, shape (N, D), if the model has one"
    )
    training_data: str | None = None
    training_config: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    source: str = ""
    license: str | None = None
    limits: str = ""
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    photoscore_version: str = __version__

    @model_validator(mode="after")
    def _check_classes(self) -> ModelCard:
        if (self.kind == "room_classifier") != (self.classes is not None):
            raise ValueError('classes are required for kind "room_classifier" and only allowed with it')
        return self

    @property
    def is_scoring_model(self) -> bool:
        """Whether the model outputs a NIMA score distribution (a room classifier does not)."""
        return self.kind in SCORING_KINDS

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.model_validate(json.loads(text))
