"""A training job folder: config, samples, weights, metrics and the state needed to resume."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from photoscore.atomic import atomic_path, write_atomic
from photoscore.training.config import TrainConfig

METRIC_COLUMNS = ("phase", "epoch", "train_loss", "val_emd", "val_srcc", "val_plcc", "lr", "seconds")


@dataclass
class JobState:
    """Progress of a job; written after every finished epoch, together with the weights."""

    samples: str
    image_dir: str
    test_samples: str | None = None
    phase: int = 1
    epochs_done: int = 0  # finished epochs within ``phase``
    iterations: int = 0  # optimiser steps within ``phase`` (Keras decay counts them)
    best_value: float | None = None  # the best validation figure named by the config's select_by
    best_metrics: dict[str, float] = field(default_factory=dict)
    stale_epochs: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # image id -> reason
    finished: bool = False


class JobFolder:
    """``train_jobs/<YYYY_MM_DD_HH_MM_SS>/`` with config.json, samples.json, weights/, metrics.csv."""

    def __init__(self, root: Path):
        self.root = root
        self.weights = root / "weights"
        self.logs = root / "logs"

    @classmethod
    def create(cls, job_dir: Path) -> JobFolder:
        stamp = datetime.now().strftime("%Y_%m_%d_%H_%M_%S")
        root = job_dir / stamp
        suffix = 1
        while root.exists():
            suffix += 1
            root = job_dir / f"{stamp}_{suffix}"
        root.mkdir(parents=True)
        return cls(root)

    @property
    def onnx_path(self) -> Path:
        return self.root / "model.onnx"

    def write_config(self, config: TrainConfig) -> None:
        write_atomic(self.root / "config.json", (config.model_dump_json(indent=2) + "\n").encode())

    def read_config(self) -> TrainConfig:
        return TrainConfig.model_validate_json((self.root / "config.json").read_text())

    def write_json(self, name: str, value: Any) -> None:
        write_atomic(self.root / name, (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode())

    def save_state(self, state: JobState) -> None:
        """state.json and metrics.csv, both rewritten whole, so they always agree."""
        self.write_json("state.json", asdict(state))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(state.rows)
        write_atomic(self.root / "metrics.csv", text.getvalue().encode())
        if state.skipped:
            lines = "".join(f"{image_id}\t{reason}\n" for image_id, reason in sorted(state.skipped.items()))
            write_atomic(self.root / "skipped_images.tsv", lines.encode())

    def load_state(self) -> JobState:
        path = self.root / "state.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root}: not a photoscore training job (no state.json)")
        fields = json.loads(path.read_text())
        if "best_val_emd" in fields:  # jobs written before select_by existed were judged by EMD
            fields["best_value"] = fields.pop("best_val_emd")
        return JobState(**fields)

    def save_weights(self, name: str, state_dict: dict[str, torch.Tensor]) -> Path:
        path = self.weights / f"{name}.safetensors"
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        with atomic_path(path) as temp:
            save_file(tensors, str(temp))
        return path

    def load_weights(self, name: str) -> dict[str, torch.Tensor]:
        return load_file(str(self.weights / f"{name}.safetensors"))

    def save_optimizer(self, optimizer_state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(optimizer_state, buffer)
        write_atomic(self.weights / "optimizer.pt", buffer.getvalue())

    def load_optimizer(self) -> dict[str, Any] | None:
        path = self.weights / "optimizer.pt"
        return torch.load(path, weights_only=True) if path.is_file() else None
