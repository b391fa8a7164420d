"""A two-vocabulary student: one zoo trunk, one embedding, one sigmoid head per vocabulary.

The heads' scores are concatenated into the one `scores` output every exported model has, so the
service, the store and the batch tools treat it like any model; the metadata names which columns
belong to which vocabulary. Training is the noisy-student loss with cached pseudo-labels: the
student sees the augmented window, in training mode (dropout on), and is fitted to the teachers'
scores of the same window, clean, by `StandardisedLogitError` (or binary cross-entropy, the reference's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, FrontendSpec
from training.augment import AugmentationConfig, Augmenter
from training.blocks import tagging_model
from training.config import FitConfig
from training.train import TrainedModel, fit_and_select
from training.zoo import build_model

AUTOTUNE = tf.data.AUTOTUNE
LOGIT_EPSILON = 1e-6  # scores are clipped to [eps, 1 - eps] before the logit: |logit| <= 13.8
MIN_LOGIT_STD = 0.05  # a tag the teachers never vary on must not blow up the loss


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


@keras.saving.register_keras_serializable(package="training")
class StandardisedLogitError(keras.losses.Loss):
    """Mean squared error between student and teacher logits, each tag divided by the teachers' spread.

    Soft teacher scores on real music are small and move little between windows (a tag's mean is
    0.04, its spread about as much), so binary cross-entropy is minimised almost as well by each
    tag's prior as by following the teachers; the student then ranks songs no better than chance.
    In logit space, standardised per tag, every tag's variation between windows weighs the same,
    and that variation is what a song's ranking (the agreement metric) is made of.
    """

    def __init__(self, logit_std: list[float], name: str = "standardised_logit_error") -> None:
        super().__init__(name=name)
        self.logit_std = [float(value) for value in logit_std]

    @staticmethod
    def logits(scores: Any) -> Any:
        scores = ops.clip(scores, LOGIT_EPSILON, 1.0 - LOGIT_EPSILON)
        return ops.log(scores) - ops.log1p(-scores)

    @classmethod
    def fitted(cls, targets: np.ndarray) -> StandardisedLogitError:
        """The loss scaled by each tag's logit standard deviation over `targets` (n, tags)."""
        spread = np.std(np.asarray(cls.logits(targets.astype(np.float32))), axis=0)
        return cls(np.maximum(spread, MIN_LOGIT_STD).tolist())

    def call(self, y_true: Any, y_pred: Any) -> Any:
        error = (self.logits(y_pred) - self.logits(y_true)) / ops.convert_to_tensor(self.logit_std)
        return ops.mean(ops.square(error), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"logit_std": self.logit_std, "name": self.name}


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
    loss: keras.losses.Loss,
    run_dir: Path,
) -> TrainedModel:
    """Fit `student` to the pseudo-labels of `train` (windows, scores) by `loss`, selecting on `valid`'s.

    Resumable and checkpointed as every training run is (`training.train.fit_and_select`).
    """
    augmenter = Augmenter(augmentation, frontend.sample_rate)
    batches = noisy_batches(*train, augmenter, batch_size=fit.batch_size, seed=fit.seed)
    clean_valid = tf.data.Dataset.from_tensor_slices((valid[0], {SCORES_OUTPUT: valid[1]})).batch(
        fit.batch_size
    )
    student.compile(
        optimizer=keras.optimizers.Adam(fit.learning_rate),
        loss={SCORES_OUTPUT: loss},
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
