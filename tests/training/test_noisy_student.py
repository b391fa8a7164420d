"""NoisyStudent: only the student learns, the teacher labels the clean crop, and the two are never swapped."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.augment import AugmentationConfig
from training.config import FitConfig, ModelConfig
from training.noisy_student import CLEAN, LABELLED, NOISY, NoisyStudent, train_student
from training.train import TaggingData, TrainedModel

NUM_TAGS = 4
TEACHER = ModelConfig("transformer_tiny", window_seconds=0.5)
STUDENT = ModelConfig(
    "transformer_tiny", sizes={"conv_channels": 4, "attention_width": 16}, window_seconds=0.5
)
WINDOW = TEACHER.frontend.window_samples


@pytest.fixture
def models() -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(0)
    return TEACHER.build(NUM_TAGS, name="teacher"), STUDENT.build(NUM_TAGS, name="student")


@pytest.fixture
def batch() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    clean = rng.normal(scale=0.1, size=(3, WINDOW)).astype(np.float32)
    inputs = {
        LABELLED: rng.normal(scale=0.1, size=(3, WINDOW)).astype(np.float32),
        CLEAN: clean,
        NOISY: (-0.5 * clean + rng.normal(scale=0.05, size=clean.shape)).astype(np.float32),
    }
    return inputs, (rng.random((3, NUM_TAGS)) < 0.5).astype(np.float32)


def snapshot(model: keras.Model) -> list[np.ndarray]:
    return [np.array(weight) for weight in model.weights]


def test_a_step_updates_the_student_and_leaves_the_teacher_untouched(models, batch) -> None:
    teacher, student = models
    trainer = NoisyStudent(teacher, student)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    teacher_before, student_before = snapshot(teacher), snapshot(student)

    logs = trainer.train_on_batch(*batch, return_dict=True)

    assert trainer.teacher is teacher and trainer.student is student
    assert {id(v) for v in trainer.trainable_variables} == {id(v) for v in student.trainable_variables}
    for before, after in zip(teacher_before, snapshot(teacher), strict=True):
        np.testing.assert_array_equal(before, after)  # trainable weights and BatchNorm statistics alike
    changed = [not np.array_equal(b, a) for b, a in zip(student_before, snapshot(student), strict=True)]
    assert sum(changed) > len(student.trainable_variables) / 2
    assert logs["loss"] == pytest.approx(logs["labelled_loss"] + logs["pseudo_label_loss"], rel=1e-5)


def bce(targets: tf.Tensor, predictions: tf.Tensor) -> float:
    return float(keras.losses.BinaryCrossentropy()(targets, predictions))


def scores(model: keras.Model, waveform: np.ndarray) -> tf.Tensor:
    return model(waveform, training=False)["scores"]


def test_the_loss_is_labels_plus_the_teachers_pseudo_labels_on_the_clean_crop(models, batch) -> None:
    teacher, student = models
    trainer = NoisyStudent(teacher, student)
    trainer.compile(optimizer=keras.optimizers.Adam())
    inputs, labels = batch
    loss = float(trainer.compute_loss(inputs, labels, trainer(inputs, training=False), training=False))

    expected = bce(labels, scores(student, inputs[LABELLED])) + bce(
        scores(teacher, inputs[CLEAN]), scores(student, inputs[NOISY])
    )
    assert loss == pytest.approx(expected, rel=1e-5)
    # What a swapped pair, or pseudo-labels taken from the augmented crop, would have computed instead.
    swapped = bce(labels, scores(teacher, inputs[LABELLED])) + bce(
        scores(student, inputs[CLEAN]), scores(teacher, inputs[NOISY])
    )
    labels_from_noisy = bce(labels, scores(student, inputs[LABELLED])) + bce(
        scores(teacher, inputs[NOISY]), scores(student, inputs[NOISY])
    )
    assert abs(loss - swapped) > 1e-4 and abs(loss - labels_from_noisy) > 1e-4


def test_validation_scores_the_student_on_labels_alone(models, batch) -> None:
    teacher, student = models
    trainer = NoisyStudent(teacher, student)
    trainer.compile(optimizer=keras.optimizers.Adam())
    inputs, labels = batch
    logs = trainer.test_on_batch(inputs[LABELLED], labels, return_dict=True)
    assert logs["loss"] == pytest.approx(bce(labels, scores(student, inputs[LABELLED])), rel=1e-5)
    assert logs["pseudo_label_loss"] == pytest.approx(
        bce(scores(teacher, inputs[LABELLED]), scores(student, inputs[LABELLED])), rel=1e-5
    )


def test_a_teacher_that_would_see_another_crop_is_refused(models, tmp_path: Path) -> None:
    teacher, _ = models
    other_crop = TrainedModel(
        teacher, ModelConfig("transformer_tiny").frontend, best_val_loss=0.0, seconds=0.0
    )
    data = TaggingData(["a"], [], [], [])
    with pytest.raises(ValueError, match="same crop"):
        train_student(
            other_crop,
            STUDENT,
            data,
            FitConfig(),
            AugmentationConfig(),
            run_dir=tmp_path,
            strategy=tf.distribute.get_strategy(),
            name="student",
        )
