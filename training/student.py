"""A two-vocabulary student: one zoo trunk, one embedding, one sigmoid head per vocabulary.

The heads' scores are concatenated into the one `scores` output every exported model has, so the
service, the store and the batch tools treat it like any model; the metadata names which columns
belong to which vocabulary. Training is the noisy-student loss with cached pseudo-labels: the
student sees the augmented window, in training mode (dropout on), and is fitted by binary
cross-entropy to the teachers' scores of the same window, clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, FrontendSpec
from training.augment import AugmentationConfig, Augmenter
from training.blocks import tagging_model
from training.config import FitConfig
from training.train import TrainedModel, fit_and_select
from training.zoo import build_model

AUTOTUNE = tf.data.AUTOTUNE


def build_student(
    architecture: str,
    frontend: FrontendSpec,
    heads: dict[str, int],
    *,
    name: str,
    head_dropout: float = 0.1,
    **sizes: Any,
) -> keras.Model:
    """waveform -> {"scores": the heads' sigmoids concatenated in `heads` order, "embedding"}."""
    trunk = build_model(architecture, frontend, num_tags=1, name=f"{name}_trunk", **sizes)
    embedding = trunk.output[EMBEDDING_OUTPUT]
    shared = keras.layers.Dropout(head_dropout, name="head_dropout")(embedding)
    outputs = [
        keras.layers.Dense(size, activation="sigmoid", name=f"{vocabulary}_head", dtype="float32")(shared)
        for vocabulary, size in heads.items()
    ]
    scores = keras.layers.Concatenate(name=SCORES_OUTPUT, dtype="float32")(outputs)
    return tagging_model(trunk.input, scores, embedding, name)


def noisy_batches(
    windows: np.ndarray, targets: np.ndarray, augmenter: Augmenter, *, batch_size: int, seed: int
) -> tf.data.Dataset:
    """(augmented window, clean-window teacher scores) batches, reshuffled and re-augmented every epoch."""
    examples = tf.data.Dataset.from_tensor_slices((windows, targets))
    examples = examples.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def noise(example: tuple[tf.Tensor, tf.Tensor], value: tf.Tensor) -> tuple[tf.Tensor, Any]:
        window, target = example
        return augmenter(window, tf.stack([value, tf.constant(1, tf.int64)])), {SCORES_OUTPUT: target}

    batches = tf.data.Dataset.zip(examples, seeds).map(noise, num_parallel_calls=AUTOTUNE, deterministic=True)
    return batches.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def train_student(
    student: keras.Model,
    frontend: FrontendSpec,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    *,
    fit: FitConfig,
    augmentation: AugmentationConfig,
    run_dir: Path,
) -> TrainedModel:
    """Fit `student` to the pseudo-labels of `train` (windows, scores), selecting on `valid`'s BCE.

    Resumable and checkpointed as every training run is (`training.train.fit_and_select`).
    """
    augmenter = Augmenter(augmentation, frontend.sample_rate)
    batches = noisy_batches(*train, augmenter, batch_size=fit.batch_size, seed=fit.seed)
    clean_valid = tf.data.Dataset.from_tensor_slices((valid[0], {SCORES_OUTPUT: valid[1]})).batch(
        fit.batch_size
    )
    student.compile(
        optimizer=keras.optimizers.Adam(fit.learning_rate),
        loss={SCORES_OUTPUT: keras.losses.BinaryCrossentropy()},
    )
    steps = fit.steps_per_epoch or max(1, len(train[0]) // fit.batch_size)
    return fit_and_select(
        student,
        student,
        batches,
        clean_valid,
        frontend=frontend,
        fit=fit,
        steps_per_epoch=steps,
        run_dir=run_dir,
    )
