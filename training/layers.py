"""Small Keras layers the front end needs and Kapre does not have."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tagger")
class CenterPad(keras.layers.Layer):
    """Pads `padding` samples on both sides of the time axis, like librosa's `center=True`.

    Args:
        padding: samples added at each end (usually `n_fft // 2`).
        mode: `"reflect"` (torchaudio's default) or `"constant"` (librosa ≥ 0.10's default).

    Input shape: (batch, time, channels). Output shape: (batch, time + 2 * padding, channels).
    """

    def __init__(self, padding: int, mode: str = "reflect", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("reflect", "constant"):
            raise ValueError(f"`mode` must be 'reflect' or 'constant'. Received: mode={mode!r}")
        self.padding = padding
        self.mode = mode

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        paddings = [[0, 0], [self.padding, self.padding], [0, 0]]
        return tf.pad(inputs, paddings, mode=self.mode.upper())

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, time, channels = input_shape
        return batch, None if time is None else time + 2 * self.padding, channels

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


@keras.saving.register_keras_serializable(package="tagger")
class Square(keras.layers.Layer):
    """Magnitude to power spectrogram, before the mel filterbank (as librosa and torchaudio do)."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.math.square(inputs)


@keras.saving.register_keras_serializable(package="tagger")
class LogCompression(keras.layers.Layer):
    """`log10(multiplier * x + 1)`: musicnn's log-mel compression (multiplier 10 000)."""

    def __init__(self, multiplier: float = 10_000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiplier = multiplier

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.math.log1p(self.multiplier * inputs) / tf.math.log(tf.constant(10.0, inputs.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiplier": self.multiplier}
