"""Slimming a released musicnn VGG into a narrower student trunk: the kept channels are the strongest, and
keeping every channel is the identity (the student's head then reproduces the teacher exactly)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tagger.model_format import SCORES_OUTPUT
from training.import_musicnn import musicnn_package_dir
from training.musicnn import MUSICNN_FRONTEND, VggConfig
from training.slimming import musicnn_vgg_teacher, start_from_teacher, strongest_channels
from training.student import build_student

HEADS = {"msd": 50, "mtt": 50}


@pytest.fixture(scope="module")
def teacher() -> keras.Model:
    return musicnn_vgg_teacher(musicnn_package_dir() / "MSD_vgg")


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """Two windows of a chirp and noise: real signal shapes, not silence."""
    time = np.arange(MUSICNN_FRONTEND.window_samples) / MUSICNN_FRONTEND.sample_rate
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 300 * time) * time)
    noise = np.random.default_rng(0).normal(0, 0.1, time.shape)
    return np.stack([chirp, noise]).astype(np.float32)


def test_keeping_every_channel_reproduces_the_teacher(teacher: keras.Model, windows: np.ndarray) -> None:
    student = build_student("vgg", MUSICNN_FRONTEND, HEADS, name="full", filters=128)
    start_from_teacher(student, "MSD_vgg", VggConfig(filters=128), "msd_head")
    expected = teacher(windows, training=False)[SCORES_OUTPUT]
    scores = student(windows, training=False)[SCORES_OUTPUT]
    np.testing.assert_allclose(scores[:, :50], expected, atol=1e-5)


def test_a_narrower_student_keeps_the_strongest_channels(teacher: keras.Model) -> None:
    student = build_student("vgg", MUSICNN_FRONTEND, HEADS, name="slim", filters=64)
    start_from_teacher(student, "MSD_vgg", VggConfig(filters=64), "msd_head")
    gamma, beta, mean, variance = teacher.get_layer("vgg_3_bn").get_weights()
    strength = np.abs(gamma) / np.sqrt(variance + 1e-3)
    kept = strongest_channels(teacher.get_layer("vgg_3_bn"), 64)
    assert len(kept) == 64 and strength[kept].min() >= np.delete(strength, kept).max()
    np.testing.assert_array_equal(student.get_layer("vgg_3_bn").get_weights()[0], gamma[kept])
    previous = strongest_channels(teacher.get_layer("vgg_2_bn"), 64)
    np.testing.assert_array_equal(
        student.get_layer("vgg_3_conv").get_weights()[0],
        teacher.get_layer("vgg_3_conv").get_weights()[0][:, :, previous][..., kept],
    )
