"""Noisy student training (Xie et al. 2020; for music tagging, Won, Choi & Serra, ISMIR 2021).

Each step takes half a batch of labelled and half a batch of unlabelled crops. The frozen teacher,
in inference mode, labels the CLEAN unlabelled crops with soft pseudo-labels (its sigmoid scores);
the student, in training mode (dropout on), sees the AUGMENTED labelled crops and the AUGMENTED copies
of the same unlabelled crops, in one forward pass. Loss = BCE(labels) + BCE(pseudo-labels), unweighted.
A student the size of its teacher is knowledge expansion; a smaller one is distillation. A trained
student can teach the next round.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from tagger.model_format import SCORES_OUTPUT, FrontendSpec
from training import pipeline
from training.augment import AugmentationConfig, Augmenter
from training.config import FitConfig, ModelConfig
from training.train import TaggingData, TrainedModel, fit_and_select, validation_dataset

log = logging.getLogger(__name__)

# Keys of a training batch's inputs.
LABELLED = "labelled"  # augmented labelled crops
CLEAN = "unlabelled_clean"  # unlabelled crops as the teacher sees them
NOISY = "unlabelled_noisy"  # the same crops augmented, as the student sees them


class NoisyStudent(keras.Model):
    """Trains `student` against labels and against a frozen `teacher`'s pseudo-labels.

    Shaped like keras-io's `Distiller`: only the student's variables are trained, the teacher is
    called with `training=False`. Training inputs are a dict {LABELLED, CLEAN, NOISY}; validation
    inputs are plain labelled windows, scored by the student alone.
    """

    def __init__(self, teacher: keras.Model, student: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        teacher.trainable = False
        self.teacher = teacher
        self.student = student
        self.labelled_loss_tracker = keras.metrics.Mean(name="labelled_loss")
        self.pseudo_label_loss_tracker = keras.metrics.Mean(name="pseudo_label_loss")
        # Both models are built functional models, so the wrapper has nothing left to build
        # (and BackupAndRestore refuses unbuilt models).
        self.built = True

    def compile(
        self,
        optimizer: keras.optimizers.Optimizer,
        labelled_loss: keras.losses.Loss | None = None,
        pseudo_label_loss: keras.losses.Loss | None = None,
        **kwargs: Any,
    ) -> None:
        super().compile(optimizer=optimizer, **kwargs)
        self.labelled_loss = labelled_loss or keras.losses.BinaryCrossentropy()
        self.pseudo_label_loss = pseudo_label_loss or keras.losses.BinaryCrossentropy()

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        """Student scores: for a training batch, of [labelled; noisy unlabelled] in one pass."""
        if isinstance(inputs, dict):
            inputs = ops.concatenate([inputs[LABELLED], inputs[NOISY]], axis=0)
        return self.student(inputs, training=training)[SCORES_OUTPUT]

    def compute_loss(
        self,
        x: Any = None,
        y: tf.Tensor | None = None,
        y_pred: tf.Tensor | None = None,
        sample_weight: tf.Tensor | None = None,
        training: bool = True,
    ) -> tf.Tensor:
        """BCE(labels) + BCE(pseudo-labels) for a training batch; BCE(labels) alone for validation.

        On validation windows the pseudo-label loss (the student's disagreement with its teacher) is
        only tracked, so that model selection rests on the labels.
        """
        is_training_batch = isinstance(x, dict)
        if is_training_batch:
            assert y_pred is not None
            num_labelled = ops.shape(x[LABELLED])[0]
            teacher_input, labelled_scores, student_scores = (
                x[CLEAN],
                y_pred[:num_labelled],
                y_pred[num_labelled:],
            )
        else:
            teacher_input, labelled_scores, student_scores = x, y_pred, y_pred
        pseudo_labels = ops.stop_gradient(self.teacher(teacher_input, training=False)[SCORES_OUTPUT])
        labelled_loss = self.labelled_loss(y, labelled_scores)
        pseudo_label_loss = self.pseudo_label_loss(pseudo_labels, student_scores)
        self.labelled_loss_tracker.update_state(labelled_loss)
        self.pseudo_label_loss_tracker.update_state(pseudo_label_loss)
        return labelled_loss + pseudo_label_loss if is_training_batch else labelled_loss


def student_batches(
    data: TaggingData, frontend: FrontendSpec, fit: FitConfig, augmentation: AugmentationConfig
) -> tf.data.Dataset:
    """({LABELLED, CLEAN, NOISY}, labels) batches: half labelled, half unlabelled."""
    if not data.unlabelled:
        raise ValueError("Noisy student training needs unlabelled tracks (data.unlabelled).")
    augmenter = Augmenter(augmentation, frontend.sample_rate)
    half = fit.batch_size // 2
    labelled = pipeline.labelled_dataset(
        data.train,
        data.targets(data.train),
        frontend,
        batch_size=half,
        augmenter=augmenter,
        seed=fit.seed,
        cache=data.cache(data.train, frontend.sample_rate),
    )
    unlabelled = pipeline.unlabelled_dataset(
        data.unlabelled,
        frontend,
        batch_size=half,
        augmenter=augmenter,
        seed=fit.seed + 1,
        cache=data.cache(data.unlabelled, frontend.sample_rate),
    )
    return tf.data.Dataset.zip(labelled, unlabelled).map(
        lambda labelled, unlabelled: (
            {LABELLED: labelled[0], CLEAN: unlabelled[0], NOISY: unlabelled[1]},
            labelled[1],
        )
    )


def train_student(
    teacher: TrainedModel,
    student_config: ModelConfig,
    data: TaggingData,
    fit: FitConfig,
    augmentation: AugmentationConfig,
    *,
    run_dir: Path,
    strategy: tf.distribute.Strategy,
    name: str,
) -> TrainedModel:
    """One round: a fresh `student_config` student taught by `teacher`.

    Without `steps_per_epoch`, an epoch is one pass over the unlabelled tracks.
    """
    frontend = student_config.frontend
    crop = (frontend.sample_rate, frontend.window_samples)
    if crop != (teacher.frontend.sample_rate, teacher.frontend.window_samples):
        raise ValueError(
            f"Teacher and student must take the same crop (the teacher labels what the student sees). "
            f"Received: teacher={teacher.frontend}, student={frontend}."
        )
    with strategy.scope():
        student = student_config.build(len(data.vocabulary), name=name)
        trainer = NoisyStudent(teacher.model, student, name=f"{name}_noisy_student")
        trainer.compile(optimizer=keras.optimizers.Adam(fit.learning_rate))
    steps = fit.steps_per_epoch or max(1, len(data.unlabelled) // (fit.batch_size // 2))
    return fit_and_select(
        trainer,
        student,
        student_batches(data, frontend, fit, augmentation),
        validation_dataset(data, frontend, fit),
        frontend=frontend,
        fit=fit,
        steps_per_epoch=steps,
        run_dir=run_dir,
    )


def train_rounds(
    teacher: TrainedModel,
    student_config: ModelConfig,
    data: TaggingData,
    fit: FitConfig,
    augmentation: AugmentationConfig,
    *,
    rounds: int,
    run_dir: Path,
    strategy: tf.distribute.Strategy,
    name: str,
) -> list[TrainedModel]:
    """`rounds` rounds, each student teaching the next; every round's result, to be gated on validation."""
    results: list[TrainedModel] = []
    for round_index in range(1, rounds + 1):
        result = train_student(
            teacher,
            student_config,
            data,
            fit,
            augmentation,
            run_dir=Path(run_dir) / f"round{round_index}",
            strategy=strategy,
            name=name,
        )
        log.info("round %d: validation loss %.4f", round_index, result.best_val_loss)
        results.append(result)
        teacher = result
    return results
