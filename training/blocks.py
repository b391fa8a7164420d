"""What every zoo model shares: the normalised spectrogram input, the residual block, the output dict.

Written once here so the ResNet and the Transformer front end cannot drift apart.
"""

from __future__ import annotations

import keras

from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, FrontendSpec
from training.frontend import build_frontend


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5), which the reference models trained with.

    Keras's own default momentum (0.99) makes the moving statistics lag far behind in short runs.
    """
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def spectrogram_input(frontend: FrontendSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The waveform input and its batch-normalised log-mel spectrogram, (batch, frames, n_mels, 1).

    The reference models normalise with a BatchNorm on the spectrogram instead of dataset statistics.
    """
    waveform = keras.Input(shape=(frontend.window_samples,), name="waveform")
    spectrogram = build_frontend(frontend)(waveform)
    return waveform, batch_norm("spectrogram_bn")(spectrogram)


def residual_block(x: keras.KerasTensor, channels: int, *, strides: int = 1, name: str) -> keras.KerasTensor:
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut, then ReLU (`Res_2d` of Won et al., ICASSP 2020).

    As in the reference code, the shortcut is a 3x3 convolution + BN (not the usual 1x1) whenever the
    block changes the shape, and the convolutions keep their biases.
    """
    shortcut = x
    x = keras.layers.Conv2D(channels, 3, strides=strides, padding="same", name=f"{name}_conv1")(x)
    x = batch_norm(f"{name}_bn1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(x)
    x = batch_norm(f"{name}_bn2")(x)
    if strides != 1 or shortcut.shape[-1] != channels:
        shortcut = keras.layers.Conv2D(
            channels, 3, strides=strides, padding="same", name=f"{name}_shortcut_conv"
        )(shortcut)
        shortcut = batch_norm(f"{name}_shortcut_bn")(shortcut)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_relu2")(x)


def tagging_model(
    waveform: keras.KerasTensor, scores: keras.KerasTensor, embedding: keras.KerasTensor, name: str
) -> keras.Model:
    """The contract every zoo model keeps and `training.export` relies on: waveform -> {scores, embedding}."""
    return keras.Model(waveform, {SCORES_OUTPUT: scores, EMBEDDING_OUTPUT: embedding}, name=name)
