"""Two-phase NIMA training (head only, then all layers) into a resumable job folder."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

from photoscore import labels as label_files
from photoscore.metrics import evaluate_predictions
from photoscore.modelcard import ModelCard
from photoscore.preprocess import Preprocessing
from photoscore.training.config import TrainConfig
from photoscore.training.data import Batch, PhotoDataset, Sample, collate, eval_transform, train_transform
from photoscore.training.export import export_onnx
from photoscore.training.job import JobFolder, JobState
from photoscore.training.losses import emd_loss
from photoscore.training.nima import NimaNet
from photoscore.training.runtime import keep_freed_memory, pick_device, seed_everything

logger = logging.getLogger("photoscore.train")


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why."""


# Validation correlations (SRCC, PLCC) need two photos with different scores; training needs one more.
MIN_VALIDATION = 2
MIN_PHOTOS = MIN_VALIDATION + 1


def check_split(
    train: Sequence[label_files.LabelEntry], val: Sequence[label_files.LabelEntry], config: TrainConfig
) -> None:
    """Raise TrainingError, saying what to change, unless the split can train and validate: at least
    one photo to train and two to validate with different mean scores."""
    total = len(train) + len(val)
    fraction = config.validation_fraction
    if total < MIN_PHOTOS:
        raise TrainingError(
            f"{total} labelled photo{'' if total == 1 else 's'} with usable files: training needs at least "
            f"{MIN_PHOTOS} ({MIN_VALIDATION} to validate, 1 to train); label more photos"
        )
    if len(val) < MIN_VALIDATION or not train:
        enough = min(math.ceil(100 * MIN_VALIDATION / total) / 100, round(1 - 1 / total, 2))
        raise TrainingError(
            f"{total} photos with validation_fraction {fraction:g} leave {len(val)} to validate and "
            f"{len(train)} to train; the validation correlations need at least {MIN_VALIDATION}: set "
            f"validation_fraction to {enough:g} or more, or label more photos"
        )
    means = {entry.mean for entry in val}
    if len(means) == 1:
        raise TrainingError(
            f"the {len(val)} photos to validate all have the mean score {means.pop():.2f}, so the validation "
            "correlations are undefined: label more photos with different scores, or change "
            "validation_fraction or seed so that others validate"
        )


def start_training(
    config: TrainConfig,
    samples: Path,
    image_dir: Path,
    job_dir: Path = Path("train_jobs"),
    test_samples: Path | None = None,
) -> JobFolder:
    """Create a job folder for a new run and train it to the end."""
    entries = label_files.read_labels(samples)
    if not entries:
        raise TrainingError(f"{samples}: no labelled photos (training needs {MIN_PHOTOS} or more)")
    check_split(*label_files.split_labels(entries, config.validation_fraction, seed=config.seed), config)
    if test_samples is not None:
        label_files.read_labels(test_samples)  # fail now, not after hours of training
    job = JobFolder.create(job_dir)
    job.write_config(config)
    label_files.write_labels(job.root / "samples.json", entries)
    state = JobState(
        samples="samples.json",
        image_dir=str(image_dir.resolve()),
        test_samples=str(test_samples.resolve()) if test_samples else None,
    )
    job.save_state(state)
    with _log_to_file(job):
        Trainer(job, config, state).run()
    return job


def resume_training(job_root: Path) -> JobFolder:
    """Continue a job from its last finished epoch; everything needed is in the job folder."""
    job = JobFolder(job_root)
    state = job.load_state()
    if state.finished:
        logger.info("%s: the job has already finished", job_root)
        return job
    with _log_to_file(job):
        logger.info("resuming %s at phase %d after %d epochs", job_root, state.phase, state.epochs_done)
        Trainer(job, job.read_config(), state).run()
    return job


def continue_or_start_training(
    config: TrainConfig, samples: Path, image_dir: Path, job_dir: Path
) -> JobFolder:
    """The newest job under ``job_dir`` continued (or returned, when finished), else a new job started:
    what a script that reruns after a kill wants."""
    started = sorted(path.parent for path in job_dir.glob("*/state.json"))
    if started:
        return resume_training(started[-1])
    return start_training(config, samples, image_dir, job_dir)


@contextmanager
def _log_to_file(job: JobFolder) -> Iterator[None]:
    """Copy the training log into ``logs/train.log`` of the job."""
    job.logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(job.logs / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("photoscore")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


@dataclass
class _Split:
    train: list[Sample]
    val: list[Sample]


class Trainer:
    """Runs the phases of one job, saving weights, state and metrics after every epoch."""

    def __init__(self, job: JobFolder, config: TrainConfig, state: JobState):
        self.job, self.config, self.state = job, config, state
        self.generator = seed_everything(config.seed)
        self.device = pick_device(config.device)
        if self.device.type == "cpu" and keep_freed_memory():
            logger.debug("glibc: freed memory is kept for reuse (faster CPU training)")
        self.net = NimaNet.build(
            config.base_model_name, weights=config.weights, dropout=config.dropout_rate,
            feature_levels=config.feature_levels,
        )  # fmt: skip
        if config.image_size or config.crop_from_size:
            self.net.preprocessing = _configured_preprocessing(self.net.preprocessing, config)
        if config.existing_weights:
            self.net.load_state_dict(_load_weights(Path(config.existing_weights)))
        if state.phase > 1 or state.epochs_done:
            self.net.load_state_dict(job.load_weights("last"))
        self.net.to(self.device)
        if self.device.type == "cpu":
            self.net.to(memory_format=torch.channels_last)
        self.split = self._split_samples()
        self.board = _tensorboard(job.logs)

    # ----- data -------------------------------------------------------------------------------------

    def _split_samples(self) -> _Split:
        """Validation = a seeded random fraction of the labelled photos whose files exist."""
        entries = label_files.read_labels(self.job.root / self.state.samples)
        train_entries, val_entries = label_files.split_labels(
            entries, self.config.validation_fraction, seed=self.config.seed
        )
        split = _Split(self._resolve(train_entries), self._resolve(val_entries))
        found = {sample.image_id for sample in split.train + split.val}
        check_split(
            [e for e in train_entries if e.image_id in found],
            [e for e in val_entries if e.image_id in found],
            self.config,
        )
        logger.info("%d photos to train, %d to validate", len(split.train), len(split.val))
        return split

    def _resolve(self, entries: list[label_files.LabelEntry]) -> list[Sample]:
        """Entries -> samples with their files; missing files are skipped (and reported once)."""
        samples, missing = [], {}
        for entry in label_files.normalize_labels(entries):
            try:
                path = label_files.image_path(self.state.image_dir, entry.image_id, self.config.img_format)
            except FileNotFoundError:
                path = None
            if path is None or not path.is_file():
                missing[entry.image_id] = "image file not found"
            else:
                samples.append(Sample(entry.image_id, path, entry.label))
        self._skip(missing)
        return samples

    def _skip(self, reasons: dict[str, str]) -> None:
        new = {k: v for k, v in reasons.items() if k not in self.state.skipped}
        if not new:
            return
        self.state.skipped.update(new)
        self.job.save_state(self.state)
        message = f"{len(new)} photos skipped (missing or unreadable), listed in {self.job.root / 'skipped_images.tsv'}"
        if self.config.fail_on_missing_images:
            raise TrainingError(message + " (fail_on_missing_images is set)")
        logger.warning(message)

    def _loader(self, samples: list[Sample], train: bool) -> DataLoader:
        prep = self.net.preprocessing
        transform = (
            train_transform(prep, self.config.augmentation, self.config.train_resize_ratio)
            if train
            else eval_transform(prep)
        )
        side = max(prep.decode_size)
        if train and prep.crop_from is None:
            side = math.ceil(side * self.config.train_resize_ratio)
        workers = self.config.num_workers_data_load if self.config.multiprocessing_data_load else 0
        return DataLoader(
            PhotoDataset(samples, transform, (side, side)),
            batch_size=self.config.batch_size,
            shuffle=train,
            num_workers=workers,
            collate_fn=collate,
            generator=self.generator,
            persistent_workers=False,
        )

    def _batches(self, loader: DataLoader, samples: list[Sample], title: str) -> Iterator[Batch]:
        for batch in _progress(loader, title):
            if batch.failed:
                self._skip({samples[i].image_id: reason for i, reason in batch.failed})
            if len(batch.indices):
                yield batch

    # ----- phases -----------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.perf_counter()
        if self.state.phase == 1:
            if self.state.epochs_done < self.config.epochs_train_dense:
                self._phase_one()
            self.state.phase, self.state.epochs_done, self.state.iterations = 2, 0, 0
            self.state.stale_epochs = 0
            self.job.save_state(self.state)
        if self.state.epochs_done < self.config.epochs_train_all:
            self._phase_two()
        self._finish()
        logger.info("job %s finished in %.0f s", self.job.root, time.perf_counter() - started)

    def _phase_one(self) -> None:
        """Head only. With ``cache_features`` the frozen backbone runs once per photo, not once per epoch."""
        self.net.freeze_backbone(True)
        optimizer = self._optimizer(self.net.parameters(), self.config.learning_rate_dense)
        scheduler = self._keras_decay(optimizer, self.config.decay_dense)
        if not self.config.cache_features:
            self._epochs(optimizer, scheduler, self.config.epochs_train_dense, self._train_epoch_images)
            return
        train_x, train_y = self._cached_views(self.split.train)
        photos = len(train_x) // self.config.cached_views
        val_x, val_y = self._features(self.split.val, "features (validation)")

        def epoch(opt: Optimizer, sched: LRScheduler) -> float:
            self.net.train()
            order = torch.randperm(len(train_x), generator=self._epoch_generator())[:photos]
            losses = []
            for start in range(0, len(order), self.config.batch_size):
                index = order[start : start + self.config.batch_size]
                logits = self.net.logits(train_x[index])
                losses.append(self._step(opt, sched, train_y[index], logits))
            return float(np.mean(losses))

        def validate() -> dict[str, float]:
            self.net.eval()
            with torch.no_grad():
                return _val_metrics(val_y, torch.softmax(self.net.logits(val_x), dim=-1))

        self._epochs(optimizer, scheduler, self.config.epochs_train_dense, epoch, validate)

    def _phase_two(self) -> None:
        self.net.freeze_backbone(False)
        optimizer = self._optimizer(self.net.parameters(), self.config.learning_rate_all)
        scheduler = self._keras_decay(optimizer, self.config.decay_all)
        self._epochs(optimizer, scheduler, self.config.epochs_train_all, self._train_epoch_images)

    def _epochs(
        self,
        optimizer: Optimizer,
        scheduler: LRScheduler,
        total: int,
        train_epoch: Callable[[Optimizer, LRScheduler], float],
        validate: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        saved = self.job.load_optimizer() if self.state.epochs_done else None
        if saved and saved.get("phase") == self.state.phase:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
        validate = validate or self._validate_images
        while self.state.epochs_done < total:
            began = time.perf_counter()
            train_loss = train_epoch(optimizer, scheduler)
            metrics = validate()
            self._end_epoch(optimizer, scheduler, train_loss, metrics, time.perf_counter() - began)
            patience = self.config.early_stopping_patience
            if patience and self.state.stale_epochs >= patience:
                logger.info(
                    "phase %d: no better %s for %d epochs; stopping early",
                    self.state.phase,
                    self.config.select_by,
                    patience,
                )
                break

    def _train_epoch_images(self, optimizer: Optimizer, scheduler: LRScheduler) -> float:
        self.net.train()
        if self.state.phase == 1:
            self.net.backbone.eval()  # frozen: keep its BatchNorm statistics
        elif self.config.freeze_batchnorm:
            self.net.keep_batchnorm_statistics()
        losses = []
        loader = self._loader(self.split.train, train=True)
        title = f"phase {self.state.phase} epoch {self.state.epochs_done + 1}"
        for batch in self._batches(loader, self.split.train, title):
            logits = self.net(self._to_device(batch.images))
            losses.append(self._step(optimizer, scheduler, batch.labels.to(self.device), logits))
        return float(np.mean(losses)) if losses else math.nan

    def _validate_images(self) -> dict[str, float]:
        labels, probs = self._predict(self.split.val, "validation")
        return _val_metrics(labels, probs)

    def _step(
        self, optimizer: Optimizer, scheduler: LRScheduler, labels: torch.Tensor, logits: torch.Tensor
    ) -> float:
        loss = emd_loss(labels, torch.softmax(logits, dim=-1), r=2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        self.state.iterations += 1
        return float(loss.detach())

    def _end_epoch(
        self,
        optimizer: Optimizer,
        scheduler: LRScheduler,
        train_loss: float,
        metrics: dict[str, float],
        seconds: float,
    ) -> None:
        self.state.epochs_done += 1
        value = metrics[self.config.select_by]
        improved = _better(value, self.state.best_value, self.config.select_by)
        state_dict = self.net.state_dict()
        if improved:
            self.state.best_value, self.state.best_metrics, self.state.stale_epochs = value, metrics, 0
            self.job.save_weights("best", state_dict)
        else:
            self.state.stale_epochs += 1
        self.job.save_weights("last", state_dict)
        self.job.save_optimizer(
            {
                "phase": self.state.phase,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            }
        )
        row = {
            "phase": self.state.phase,
            "epoch": self.state.epochs_done,
            "train_loss": round(train_loss, 6),
            **{k: round(v, 6) for k, v in metrics.items()},
            "lr": f"{scheduler.get_last_lr()[0]:.3e}",
            "seconds": round(seconds, 1),
        }
        self.state.rows.append(row)
        self.job.save_state(self.state)
        logger.info(
            "phase %d epoch %d: train_loss %.4f val_emd %.4f val_srcc %s val_plcc %s (%.0f s)%s",
            row["phase"], row["epoch"], train_loss, metrics["val_emd"], _shown(metrics["val_srcc"]),
            _shown(metrics["val_plcc"]), seconds, "  best so far" if improved else "",
        )  # fmt: skip
        if self.board:
            step = len(self.state.rows)
            for key in ("train_loss", "val_emd", "val_srcc", "val_plcc"):
                self.board.add_scalar(key, float(row[key]), step)
            self.board.flush()

    # ----- helpers ----------------------------------------------------------------------------------

    def _optimizer(self, parameters: Iterable[nn.Parameter], lr: float) -> Optimizer:
        return torch.optim.Adam([p for p in parameters if p.requires_grad], lr=lr)

    @staticmethod
    def _keras_decay(optimizer: Optimizer, decay: float) -> LRScheduler:
        """Keras' ``decay``: lr / (1 + decay * iterations), stepped once per batch."""
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0 / (1.0 + decay * it))

    def _epoch_generator(self) -> torch.Generator:
        """Seeded by job seed, phase and epoch, so a resumed epoch shuffles as it would have."""
        return torch.Generator().manual_seed(
            self.config.seed * 1000 + self.state.phase * 100 + self.state.epochs_done
        )

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else images

    def _cached_views(self, samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of every training photo as scored, then of ``cached_views - 1`` augmented views."""
        views = [self._features(samples, "features (train)")]
        for view in range(2, self.config.cached_views + 1):
            title = f"features (train, augmented view {view}/{self.config.cached_views})"
            views.append(self._features(samples, title, augmented=True))
        return torch.cat([x for x, _ in views]), torch.cat([y for _, y in views])

    @torch.no_grad()
    def _features(
        self, samples: list[Sample], title: str, augmented: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled backbone features of each decodable photo (augmented as in training if asked) and its label."""
        self.net.eval()
        began = time.perf_counter()
        feats, labels = [], []
        for batch in self._batches(self._loader(samples, train=augmented), samples, title):
            feats.append(self.net.features(self._to_device(batch.images)))
            labels.append(batch.labels.to(self.device))
        if not feats:
            raise TrainingError(f"{title}: no photo could be decoded")
        logger.info("%s: %d photos in %.0f s", title, sum(len(f) for f in feats), time.perf_counter() - began)
        return torch.cat(feats), torch.cat(labels)

    @torch.no_grad()
    def _predict(self, samples: list[Sample], title: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels and predicted distributions of the decodable photos."""
        features, labels = self._features(samples, title)
        return labels, torch.softmax(self.net.logits(features), dim=-1)

    def _finish(self) -> None:
        """Export the best weights to model.onnx with a card; evaluate on the test samples if given."""
        self.net.load_state_dict(self.job.load_weights("best"))
        self.net.cpu().to(memory_format=torch.contiguous_format)
        metrics = dict(self.state.best_metrics)
        if self.state.test_samples:
            metrics.update(self._test_metrics(Path(self.state.test_samples)))
        metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}  # undefined correlations: left out
        config = self.config
        card = ModelCard(
            name=config.name or f"nima-{self.net.backbone_name.lower()}-{self.job.root.name}",
            kind=config.kind,
            description=f"NIMA on {self.net.backbone_name}, trained by photoscore (job {self.job.root.name}).",
            backbone=self.net.backbone_name,
            preprocessing=self.net.preprocessing,
            training_data=(
                f"{len(self.split.train)} photos to train, {len(self.split.val)} to validate, from "
                f"{self.state.samples} and {self.state.image_dir}"
            ),
            training_config=config.model_dump(),
            metrics=metrics,
            source=f"photoscore train, job {self.job.root.name}",
        )
        export_onnx(self.net, card, self.job.onnx_path)
        self.state.finished = True
        self.job.save_state(self.state)
        logger.info("exported %s", self.job.onnx_path)

    def _test_metrics(self, path: Path) -> dict[str, float]:
        labels, probs = self._predict(self._resolve(label_files.read_labels(path)), "test")
        result = evaluate_predictions(
            labels.cpu().double().numpy(), probs.cpu().double().numpy(), undefined_correlations="nan"
        )
        self.job.write_json(
            "test_metrics.json", {k: v if math.isfinite(v) else None for k, v in result.items()}
        )
        return {f"test_{k}": float(v) for k, v in result.items() if k != "n"}


def _val_metrics(labels: torch.Tensor, probs: torch.Tensor) -> dict[str, float]:
    """Validation EMD and correlations; a correlation that is undefined (photos that failed to decode
    left fewer than two, or equal scores) is NaN and does not stop training."""
    result = evaluate_predictions(
        labels.cpu().double().numpy(), probs.cpu().double().numpy(), undefined_correlations="nan"
    )
    return {"val_emd": result["emd"], "val_srcc": result["srcc"], "val_plcc": result["plcc"]}


def _better(value: float, best: float | None, select_by: str) -> bool:
    """Whether an epoch's figure beats the best so far: lower EMD, higher SRCC; an undefined SRCC never
    does, unless nothing defined came before."""
    if best is None or not math.isfinite(best):
        return best is None or math.isfinite(value)
    if not math.isfinite(value):
        return False
    return value < best if select_by == "val_emd" else value > best


def _shown(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "undefined"


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise TrainingError(f"existing_weights: {path} not found")
    return load_file(str(path))


def _progress(loader: DataLoader, title: str) -> Iterable[Batch]:
    if not sys.stderr.isatty():
        return loader
    from rich.progress import track

    return track(loader, description=title, transient=True, console=None)


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))


def _configured_preprocessing(prep: Preprocessing, config: TrainConfig) -> Preprocessing:
    """The backbone's preprocessing with the config's input size and crop policy."""
    size = config.image_size or prep.height
    fields = dict(prep.model_dump(), input_size=(size, size))
    if config.crop_from_size:
        fields.update(resize="center_crop", crop_from=(config.crop_from_size, config.crop_from_size))
    return Preprocessing(**fields)
