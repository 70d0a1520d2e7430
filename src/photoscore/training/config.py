"""Training configuration: the original project's JSON keys as they are, plus photoscore's own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

logger = logging.getLogger(__name__)

# Keys that the original project's configs carry but its code never read.
IGNORED_ORIGINAL_KEYS = ("train_env", "docker_image", "l2_reg", "s3_bucket")


# The largest network input side accepted: published NIMA and IQA backbones take 224-600 px; a side of
# tens of thousands only ends in a MemoryError far into training.
MAX_SIDE = 2048


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and what is wrong."""


class TrainConfig(BaseModel):
    """How to train a NIMA model. Field names up to ``img_format`` are the original project's."""

    # Infinity and NaN (which JSON configs can spell) are refused for every number.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # The original project's keys.
    base_model_name: str = "MobileNet"
    n_classes: Literal[10] = 10
    batch_size: int = Field(96, ge=1)
    epochs_train_dense: int = Field(5, ge=0)
    learning_rate_dense: float = Field(1e-3, gt=0, le=1)
    decay_dense: float = Field(0.0, ge=0)
    epochs_train_all: int = Field(9, ge=0)
    learning_rate_all: float = Field(3e-5, gt=0, le=1)
    decay_all: float = Field(2.3e-5, ge=0)
    dropout_rate: float = Field(0.75, ge=0, lt=1)
    existing_weights: str | None = None
    img_format: str | None = None
    multiprocessing_data_load: bool = False
    num_workers_data_load: int = Field(2, ge=0)

    # photoscore's keys.
    name: str | None = Field(None, description="model name in the exported card [default: job folder name]")
    kind: Literal["aesthetic", "technical"] = "aesthetic"
    image_size: int | None = Field(
        None, ge=32, le=MAX_SIDE, description="network input side [default: the backbone's]"
    )
    crop_from_size: int | None = Field(
        None,
        ge=32,
        le=MAX_SIDE,
        description="squash photos to this side and feed the centre crop (random crops in training)",
    )
    weights: Literal["auto", "offline", "hub", "none"] = "auto"
    feature_levels: Literal["last", "all"] = Field(
        "last", description="pool the last layer (NIMA as published) or every backbone stage too"
    )
    seed: int = 10207
    validation_fraction: float = Field(0.05, gt=0, lt=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    select_by: Literal["val_emd", "val_srcc"] = Field(
        "val_emd",
        description="the validation figure that picks the exported weights and drives early stopping: "
        "lowest EMD, or highest SRCC (for labels whose spread is made up, e.g. built from a mean)",
    )
    early_stopping_patience: int | None = Field(
        None, ge=1, description="epochs without a better select_by figure before a phase stops"
    )
    augmentation: Literal["crop_flip", "flip", "none"] = "crop_flip"
    train_resize_ratio: float = Field(
        256 / 224, ge=1, le=4, description="resize to size*ratio, then random-crop"
    )
    cache_features: bool = Field(True, description="phase 1: compute the frozen backbone once per image")
    cached_views: int = Field(
        1,
        ge=1,
        description="phase 1 with cache_features: views cached per training photo, the first as scored, the "
        "others augmented; an epoch draws as many cached views as there are photos",
    )
    freeze_batchnorm: bool = Field(
        False,
        description="phase 2: keep the backbone's BatchNorm statistics (ImageNet's) while its weights train; "
        "steadier with small batches or a few hundred photos",
    )
    fail_on_missing_images: bool = False

    @model_validator(mode="before")
    @classmethod
    def _drop_unread_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unread = [k for k in IGNORED_ORIGINAL_KEYS if k in data]
            if unread:
                logger.info(
                    "config: ignoring %s (never read by the original project either)", ", ".join(unread)
                )
                data = {k: v for k, v in data.items() if k not in IGNORED_ORIGINAL_KEYS}
        return data

    @model_validator(mode="after")
    def _check_crop(self) -> TrainConfig:
        if self.crop_from_size and self.image_size and self.crop_from_size < self.image_size:
            raise ValueError(
                f"crop_from_size {self.crop_from_size} is smaller than image_size {self.image_size}"
            )
        return self


def load_config(path: str | Path) -> TrainConfig:
    """Read a config JSON; unknown keys are rejected with the list of valid ones."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings")
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_explain(exc)}") from exc


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(map(str, error["loc"]))
        if error["type"] == "extra_forbidden":
            import difflib

            close = difflib.get_close_matches(key, TrainConfig.model_fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown key {key!r}{hint}")
        else:
            problems.append(f"{key}: {error['msg']}")
    valid = ", ".join(TrainConfig.model_fields)
    return "; ".join(problems) + f". Valid keys: {valid}"
