"""Platform presets: the photo rules of a platform (sizes, orientation, photo count, rooms), kept as data.

The bundled presets live in ``data/presets.json`` with the source of each number; ``--preset-file``
takes a platform's own rules in the same shape (one preset object).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from photoscore.review.rooms import ROOMS

Orientation = Literal["any", "landscape"]


class PresetError(ValueError):
    """A preset that does not exist or a preset file that cannot be used; the message says why."""


class Preset(BaseModel):
    """What a platform asks of a listing's photos."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    title: str = ""
    min_size: tuple[int, int] | None = Field(
        None, description="(long edge, short edge) in pixels of the original photo, whichever way it is held"
    )
    min_long_edge: int | None = Field(None, ge=1)
    orientation: Orientation = "any"
    min_photos: int = Field(0, ge=0)
    required_rooms: tuple[str, ...] = ()
    cover_rooms: tuple[str, ...] = tuple(r for r in ROOMS if r != "bathroom")
    cover_first: str | None = Field(None, description="a room whose best photo should be the cover")
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("required_rooms", "cover_rooms")
    @classmethod
    def _known_rooms(cls, rooms: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in rooms if r not in ROOMS]
        if unknown:
            raise ValueError(f"unknown room {unknown[0]!r}; rooms are {', '.join(ROOMS)}")
        return rooms

    @field_validator("cover_first")
    @classmethod
    def _known_room(cls, room: str | None) -> str | None:
        if room is not None and room not in ROOMS:
            raise ValueError(f"unknown room {room!r}; rooms are {', '.join(ROOMS)}")
        return room

    @field_validator("min_size")
    @classmethod
    def _positive(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) < 1:
            raise ValueError(f"min_size must be positive, got {size}")
        return size


@cache
def _bundled() -> dict[str, Any]:
    text = resources.files("photoscore.review").joinpath("data/presets.json").read_text(encoding="utf-8")
    return {name: entry for name, entry in json.loads(text).items() if not name.startswith("_")}


def preset_names() -> list[str]:
    """The bundled presets' names (``none`` first)."""
    return list(_bundled())


def get_preset(name: str) -> Preset:
    """A bundled preset by name."""
    entries = _bundled()
    if name not in entries:
        raise PresetError(f"unknown preset {name!r}; presets are {', '.join(entries)}")
    return Preset(name=name, **entries[name])


def as_preset(preset: str | Preset) -> Preset:
    """A bundled preset by name, or the preset itself."""
    return get_preset(preset) if isinstance(preset, str) else preset


def load_preset_file(path: str | Path) -> Preset:
    """A platform's own rules from a JSON file holding one preset object (the keys of the bundled ones)."""
    path = Path(path)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PresetError(f"{path}: cannot read a preset: {exc}") from None
    if not isinstance(entry, dict):
        raise PresetError(f"{path}: a preset file holds one JSON object")
    entry.setdefault("name", path.stem)
    try:
        return Preset(**entry)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'preset'}: {e['msg']}" for e in exc.errors())
        raise PresetError(f"{path}: {problems}") from None
