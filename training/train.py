"""Supervised training with `model.fit`: Adam, binary cross-entropy, validation-loss model selection.

A run directory holds everything a run makes and needs to resume: `backup/` (BackupAndRestore, deleted
when a run finishes), `best.weights.h5` (the lowest validation loss so far), `history.csv`, TensorBoard
`logs/`, and at the end `model.keras` (the best model) and `run.json` (its front end, loss and time).
Running the same command again resumes an interrupted run from its last saved epoch (one epoch is
repeated if the kill hit a backup being written); a finished run directory is refused rather than
overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tagger.model_format import SCORES_OUTPUT, FrontendSpec
from tagger.tracks import Track, read_manifest
from training import pipeline
from training.augment import AugmentationConfig, Augmenter
from training.config import DataConfig, FitConfig, ModelConfig
from training.dataset import multi_hot, read_unlabelled, read_vocabulary

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
BEST_WEIGHTS = "best.weights.h5"
HISTORY = "history.csv"
FINAL_MODEL = "model.keras"
SUMMARY_FILE = "run.json"


@dataclass(frozen=True)
class TaggingData:
    """The tracks a run trains and selects on, with their multi-hot targets."""

    vocabulary: list[str]
    train: list[Track]
    valid: list[Track]
    unlabelled: list[Track]
    cache_dir: Path | None = None

    @classmethod
    def load(cls, config: DataConfig) -> TaggingData:
        unlabelled = read_unlabelled(config.unlabelled) if config.unlabelled else []
        train, valid = read_manifest(config.train), read_manifest(config.valid)
        return cls(read_vocabulary(config.vocabulary), train, valid, unlabelled, config.cache_dir)

    def targets(self, tracks: list[Track]) -> np.ndarray:
        return multi_hot(tracks, self.vocabulary)

    def cache(self, tracks: list[Track], sample_rate: int) -> str:
        """Where decoded tracks are cached: "" (memory), or a file named for the tracks and the rate."""
        if self.cache_dir is None:
            return ""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1("\n".join(track.audio for track in tracks).encode()).hexdigest()[:16]
        return str(self.cache_dir / f"{digest}-{sample_rate}")


@dataclass(frozen=True)
class TrainedModel:
    """A finished run: the model at its best epoch and the front end it was trained with."""

    model: keras.Model
    frontend: FrontendSpec
    best_val_loss: float
    seconds: float

    @classmethod
    def load(cls, run_dir: Path) -> TrainedModel:
        """A finished run from its directory (e.g. a teacher for `noisy-student`)."""
        run_dir = Path(run_dir)
        summary = json.loads((run_dir / SUMMARY_FILE).read_text())
        model = keras.models.load_model(run_dir / FINAL_MODEL)
        return cls(
            model, FrontendSpec.from_dict(summary["frontend"]), summary["best_val_loss"], summary["seconds"]
        )


def distribution_strategy() -> tf.distribute.Strategy:
    """Mirror across GPUs with mixed precision when there are any; the default (CPU) strategy otherwise.

    Call once at the entry point, before any model is built: the precision policy is process-wide.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return tf.distribute.get_strategy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    log.info("training on %d GPU(s) with mixed precision", len(gpus))
    return tf.distribute.MirroredStrategy()


def train_supervised(
    model_config: ModelConfig,
    data: TaggingData,
    fit: FitConfig,
    augmentation: AugmentationConfig,
    *,
    run_dir: Path,
    strategy: tf.distribute.Strategy,
    name: str,
) -> TrainedModel:
    """Train a fresh `model_config` model on `data.train`, selecting on `data.valid`."""
    frontend = model_config.frontend
    augmenter = Augmenter(augmentation, frontend.sample_rate) if fit.augment else None
    train = pipeline.labelled_dataset(
        data.train,
        data.targets(data.train),
        frontend,
        batch_size=fit.batch_size,
        augmenter=augmenter,
        seed=fit.seed,
        cache=data.cache(data.train, frontend.sample_rate),
    ).map(lambda window, target: (window, {SCORES_OUTPUT: target}))
    valid = validation_dataset(data, frontend, fit).map(
        lambda window, target: (window, {SCORES_OUTPUT: target})
    )
    with strategy.scope():
        model = model_config.build(len(data.vocabulary), name=name)
        model.compile(
            optimizer=keras.optimizers.Adam(fit.learning_rate),
            loss={SCORES_OUTPUT: keras.losses.BinaryCrossentropy()},
        )
    steps = fit.steps_per_epoch or max(1, len(data.train) // fit.batch_size)
    return fit_and_select(
        model, model, train, valid, frontend=frontend, fit=fit, steps_per_epoch=steps, run_dir=run_dir
    )


def validation_dataset(data: TaggingData, frontend: FrontendSpec, fit: FitConfig) -> tf.data.Dataset:
    """(window, target) batches: every validation track's windows as the service cuts them (no overlap)."""
    windows = pipeline.evaluation_dataset(
        data.valid,
        data.targets(data.valid),
        frontend,
        hop_samples=frontend.window_samples,
        batch_size=fit.batch_size,
        cache=data.cache(data.valid, frontend.sample_rate),
    )
    return windows.map(lambda window, target, index: (window, target))


def fit_and_select(
    trainer: keras.Model,
    result: keras.Model,
    train: tf.data.Dataset,
    valid: tf.data.Dataset,
    *,
    frontend: FrontendSpec,
    fit: FitConfig,
    steps_per_epoch: int,
    run_dir: Path,
) -> TrainedModel:
    """`trainer.fit` with checkpoints, early stopping and resumption; then `result` at its best epoch.

    `trainer` is what is optimised (the tagger itself, or a NoisyStudent wrapping one); `result` is the
    tagger inside it, saved as `model.keras` with its front end beside it.
    """
    run_dir = Path(run_dir)
    if (run_dir / FINAL_MODEL).exists():
        raise FileExistsError(f"{run_dir / FINAL_MODEL} exists: this run has finished. Use a new run_dir.")
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    trainer.fit(
        train,
        validation_data=valid,
        epochs=fit.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=_callbacks(run_dir, patience=fit.patience),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    seconds = time.monotonic() - started
    trainer.load_weights(run_dir / BEST_WEIGHTS)
    trained = TrainedModel(result, frontend, _best_val_loss(run_dir / HISTORY), seconds)
    result.save(run_dir / FINAL_MODEL)
    summary = {"frontend": frontend.to_dict(), "best_val_loss": trained.best_val_loss, "seconds": seconds}
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    log.info("%s: best validation loss %.4f after %.0f s", result.name, trained.best_val_loss, seconds)
    return trained


class BestWeightsCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the lowest validation loss, replaced atomically.

    Unlike `ModelCheckpoint`, a run killed while saving leaves the previous best file intact.
    `best` is the lowest validation loss already reached (by an earlier, interrupted session).
    """

    def __init__(self, path: Path, best: float = float("inf")) -> None:
        super().__init__()
        self.path = Path(path)
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        val_loss = (logs or {})["val_loss"]
        if val_loss < self.best:
            self.best = val_loss
            partial = self.path.with_name(f".partial.{self.path.name}")
            self.model.save_weights(partial)
            os.replace(partial, self.path)


def _callbacks(run_dir: Path, *, patience: int) -> list[keras.callbacks.Callback]:
    best_so_far = _best_val_loss(run_dir / HISTORY) if (run_dir / HISTORY).exists() else float("inf")
    return [
        # Two generations of backups: a kill while one is written falls back to the other.
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR), double_checkpoint=True),
        BestWeightsCheckpoint(run_dir / BEST_WEIGHTS, best=best_so_far),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY), append=True),
    ]


def _best_val_loss(history: Path) -> float:
    with history.open(newline="") as file:
        return min(float(row["val_loss"]) for row in csv.DictReader(file))
