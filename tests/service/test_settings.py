"""Batch sizes and precision per device: the GPU settings exist and are harmless on a CPU-only machine."""

from __future__ import annotations

import pytest
import tensorflow as tf
from pydantic import ValidationError

from tagger.settings import Runtime, Settings
from tagger.tensorflow_engine import configure_tensorflow


def test_batch_size_follows_the_device_and_the_batching_switch() -> None:
    settings = Settings(max_batch_size=16, gpu_max_batch_size=64)
    assert settings.batch_size_for("/CPU:0") == 16
    assert settings.batch_size_for("/GPU:0") == 64
    assert Settings(batching=False, gpu_max_batch_size=64).batch_size_for("/GPU:0") == 1


def test_gpu_batch_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValidationError, match="power of 2"):
        Settings(gpu_max_batch_size=48)


def test_mixed_precision_is_left_off_without_a_gpu() -> None:
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    assert configure_tensorflow(Runtime(1, 1, gpu_mixed_precision=True)) == "/CPU:0"
    assert not tf.config.optimizer.get_experimental_options().get("auto_mixed_precision", False)
