"""Server settings: models, batching, limits and the API key; passed to worker processes as JSON."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from photoscore.images import DEFAULT_MAX_PIXELS
from photoscore.scoring.ensemble import EnsembleMode
from photoscore.scoring.listing import DEFAULT_FLAG_BELOW

SETTINGS_ENV = "PHOTOSCORE_SERVER_SETTINGS"
MIB = 1024 * 1024
DEFAULT_MAX_REQUEST_PIXELS = 2_000_000_000  # 100 photos of 20 MP


class ServerSettings(BaseModel):
    """Everything a server process needs; every worker process builds its app from the same settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[str] = Field(min_length=1, description="model.onnx files")
    weights: list[float] | None = None
    ensemble: EnsembleMode = "distribution"
    max_batch: int = Field(8, ge=1, description="photos per model run, gathered across requests")
    max_wait_ms: float = Field(5.0, ge=0, description="how long a batch waits for more photos")
    max_file_mb: float = Field(20.0, gt=0)
    max_request_mb: float = Field(100.0, gt=0)
    max_photos: int = Field(100, ge=1, description="photos per request")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="width x height of one photo")
    max_request_pixels: int = Field(
        DEFAULT_MAX_REQUEST_PIXELS, ge=1, description="width x height summed over a request's photos"
    )
    decode_memory_mb: float = Field(1536.0, gt=0, description="memory for photos being decoded at once")
    timeout_s: float = Field(60.0, gt=0, description="decoding and scoring of one request")
    header_timeout_s: float = Field(10.0, gt=0, description="to receive a request's line and headers")
    body_timeout_s: float = Field(20.0, gt=0, description="longest pause while receiving a request body")
    api_key: str | None = Field(None, repr=False, description="required in the X-API-Key header when set")
    flag_below: float = Field(DEFAULT_FLAG_BELOW, allow_inf_nan=False)
    threads: int | None = Field(None, ge=1, description="ONNX Runtime threads per process (default: all)")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * MIB)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * MIB)

    @property
    def decode_memory_bytes(self) -> int:
        return int(self.decode_memory_mb * MIB)

    def to_env(self) -> None:
        """Store these settings in the environment, where worker processes find them."""
        os.environ[SETTINGS_ENV] = self.model_dump_json()

    @classmethod
    def from_env(cls) -> ServerSettings:
        """The settings :meth:`to_env` stored; raises RuntimeError when there are none."""
        if SETTINGS_ENV not in os.environ:
            raise RuntimeError(f"${SETTINGS_ENV} is not set: start the server with `photoscore serve`")
        return cls.model_validate_json(os.environ[SETTINGS_ENV])
