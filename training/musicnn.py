"""musicnn (Pons & Serra, 2019) in Keras 3: the four released tagging networks on our Kapre front end.

`python -m training import-musicnn` builds these and fills them from the TF1 checkpoints shipped in
the `musicnn` wheel, so the layer structure here follows musicnn 0.1.0's `models.py` exactly
(same padding, BatchNorm epsilon 1e-3, pooling and concatenation order). Two deliberate changes:
the mid-end's "conv2d over (time, features, 1) with a full-width kernel, then transpose" is the
Conv1D it is equivalent to, and the input is the waveform, not a precomputed spectrogram.

Input: why a window is 48,128 samples and is not centred. musicnn computes one log-mel spectrogram
over the whole file (librosa, `center=True`: 256 zeros before the first sample; hop 256) and cuts
it into non-overlapping 187-frame patches, so frame j of patch k reads samples
256·(187k + j) - 256 ... + 255. The service runs the model on windows of the waveform instead.

Centring every window on its own (186·256 = 47,616 samples give 187 frames; windows every
187·256 = 47,872 samples) puts each frame on musicnn's centre, but the first and last frame of
every window see zeros where musicnn sees the neighbouring audio. On three 30 s excerpts of real
music that moved tag activations by up to 0.025 (also 0.025 with 47,871 samples, the longest window
that still gives 187 centred frames); only the first window was exact.

So the front end does not centre: a window is 186·256 + 512 = 48,128 samples, exactly the samples
one patch's frames read, and the service centres the whole song once as librosa does, with n_fft/2
zeros in front (service/tagging.py, for every model whose front end does not centre). Windows every
47,872 samples (`hop` = 2.992 s, shorter than the 3.008 s window) are then musicnn's patches sample
for sample: tests/test_musicnn_parity.py measures activations within 2e-4 of musicnn's (mean
difference under 2e-5), over HTTP too. That residue includes musicnn's rounding of the mel
spectrogram to float16 before the log, which we do not reproduce: it moves activations by < 1e-4.

Outputs: `scores` are the 50 sigmoid tag activations; `embedding` is musicnn's 'penultimate'
feature (the 200-unit dense layer after its BatchNorm) for the musicnn models, and the flattened
last pooling layer ('pool5', 2 x 128 = 256 values) for the VGG baselines, which have no hidden
dense layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from tagger.model_format import FrontendSpec
from training.blocks import tagging_model
from training.frontend import build_frontend

MUSICNN_FRONTEND = FrontendSpec(
    sample_rate=16_000,
    window_samples=186 * 256 + 512,
    n_fft=512,
    hop_length=256,
    window="hann_window",
    center=False,
    pad_mode="constant",  # unused per window; documents that the song is padded with zeros
    n_mels=96,
    mel_scale="slaney",
    mel_norm="slaney",
    power=2,
    log="log10_1p",
    log_multiplier=10_000.0,
)
# Window starts that line up with musicnn's patches, in the song padded with n_fft/2 leading zeros.
MUSICNN_HOP_SAMPLES = 187 * 256

# TensorFlow 1's `tf.layers.batch_normalization` default, which the checkpoints were trained with.
BATCH_NORM_EPSILON = 1e-3


@dataclass(frozen=True)
class MusicnnConfig:
    """Sizes of the musicnn network; defaults are the released MTT_musicnn and MSD_musicnn."""

    num_tags: int = 50
    timbral_filters: int = 204  # int(1.6 * 128)
    timbral_frames: int = 7
    timbral_mel_fractions: tuple[float, ...] = (0.4, 0.7)  # filter heights: 38 and 67 of 96 mel bins
    temporal_filters: int = 51  # int(1.6 * 32)
    temporal_lengths: tuple[int, ...] = (128, 64, 32)
    midend_filters: int = 64
    midend_frames: int = 7
    num_midend_layers: int = 3
    backend_units: int = 200
    dropout: float = 0.5


@dataclass(frozen=True)
class VggConfig:
    """Sizes of musicnn's VGG-like baseline; defaults are the released MTT_vgg and MSD_vgg."""

    num_tags: int = 50
    filters: int = 128
    # (pool size, strides) after each 3x3 convolution, over (time, frequency).
    pools: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
        ((4, 1), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((4, 4), (4, 4)),
    )
    conv_dropout: float = 0.25
    dropout: float = 0.5


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=name)


def normalised_spectrogram(frontend: FrontendSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Waveform input and its log-mel spectrogram (batch, frames, mels, 1) after musicnn's input BatchNorm."""
    waveform = keras.Input(shape=(frontend.window_samples,), name="waveform")
    spectrogram = build_frontend(frontend)(waveform)
    return waveform, batch_norm("input_bn")(spectrogram)


def max_over_frequency(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """(batch, frames, bins, channels) -> (batch, frames, channels): musicnn's pitch-invariant pooling."""
    _, frames, bins, channels = x.shape
    x = keras.layers.MaxPooling2D(pool_size=(1, bins), name=f"{name}_pool")(x)
    return keras.layers.Reshape((frames, channels), name=f"{name}_squeeze")(x)


def timbral_block(x: keras.KerasTensor, filters: int, frames: int, bins: int, name: str) -> keras.KerasTensor:
    """Vertical filters spanning `bins` mel bins: timbre, wherever it sits in pitch."""
    x = keras.layers.ZeroPadding2D(((frames // 2, frames // 2), (0, 0)), name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, (frames, bins), activation="relu", name=f"{name}_conv")(x)
    return max_over_frequency(batch_norm(f"{name}_bn")(x), name)


def temporal_block(x: keras.KerasTensor, filters: int, length: int, name: str) -> keras.KerasTensor:
    """Horizontal filters `length` frames long on each mel bin: rhythm and tempo patterns."""
    x = keras.layers.Conv2D(filters, (length, 1), padding="same", activation="relu", name=f"{name}_conv")(x)
    return max_over_frequency(batch_norm(f"{name}_bn")(x), name)


def midend_layer(x: keras.KerasTensor, filters: int, frames: int, name: str) -> keras.KerasTensor:
    x = keras.layers.Conv1D(filters, frames, padding="same", activation="relu", name=f"{name}_conv")(x)
    return batch_norm(f"{name}_bn")(x)


def midend(frontend_features: keras.KerasTensor, config: MusicnnConfig) -> keras.KerasTensor:
    """Stacked 1D convolutions, residual after the first, densely connected: (batch, frames, all features)."""
    features = [frontend_features]
    x = midend_layer(frontend_features, config.midend_filters, config.midend_frames, "midend_1")
    features.append(x)
    for index in range(2, config.num_midend_layers + 1):
        residual = midend_layer(x, config.midend_filters, config.midend_frames, f"midend_{index}")
        x = keras.layers.Add(name=f"midend_{index}_residual")([residual, x])
        features.append(x)
    return keras.layers.Concatenate(name="midend_features")(features)


def temporal_pooling(x: keras.KerasTensor) -> keras.KerasTensor:
    """Max and mean over time, flattened feature by feature (max_0, mean_0, max_1, ...) as in musicnn."""
    _, _, channels = x.shape
    statistics = [
        keras.layers.Reshape((channels, 1), name=f"{kind}_pool_column")(pool(name=f"{kind}_pool")(x))
        for kind, pool in (
            ("max", keras.layers.GlobalMaxPooling1D),
            ("mean", keras.layers.GlobalAveragePooling1D),
        )
    ]
    x = keras.layers.Concatenate(name="pool_statistics")(statistics)
    return keras.layers.Flatten(name="pooled")(x)


def tagging_head(x: keras.KerasTensor, num_tags: int, dropout: float, name: str) -> keras.KerasTensor:
    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_tags, activation="sigmoid", name=name)(x)


def build_musicnn(
    config: MusicnnConfig = MusicnnConfig(),
    frontend: FrontendSpec = MUSICNN_FRONTEND,
    name: str = "musicnn",
) -> keras.Model:
    """(batch, window_samples) waveform -> {scores (batch, num_tags), embedding (batch, backend_units)}."""
    waveform, x = normalised_spectrogram(frontend)
    timbral = [
        timbral_block(
            x, config.timbral_filters, config.timbral_frames, int(fraction * frontend.n_mels), f"timbral_{i}"
        )
        for i, fraction in enumerate(config.timbral_mel_fractions, start=1)
    ]
    temporal = [
        temporal_block(x, config.temporal_filters, length, f"temporal_{i}")
        for i, length in enumerate(config.temporal_lengths, start=1)
    ]
    x = keras.layers.Concatenate(name="frontend_features")(timbral + temporal)
    x = temporal_pooling(midend(x, config))
    x = batch_norm("pooled_bn")(x)
    x = keras.layers.Dropout(config.dropout, name="pooled_dropout")(x)
    x = keras.layers.Dense(config.backend_units, activation="relu", name="penultimate_dense")(x)
    embedding = batch_norm("penultimate")(x)
    scores = tagging_head(embedding, config.num_tags, config.dropout, name="tags")
    return tagging_model(waveform, scores, embedding, name)


def vgg_block(
    x: keras.KerasTensor, filters: int, pool: tuple[int, int], strides: tuple[int, int], name: str
) -> keras.KerasTensor:
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.MaxPooling2D(pool, strides=strides, name=f"{name}_pool")(x)


def build_vgg(
    config: VggConfig = VggConfig(), frontend: FrontendSpec = MUSICNN_FRONTEND, name: str = "vgg"
) -> keras.Model:
    """(batch, window_samples) waveform -> {scores (batch, num_tags), embedding (batch, last pool, flat)}."""
    waveform, x = normalised_spectrogram(frontend)
    for index, (pool, strides) in enumerate(config.pools, start=1):
        if index > 1:
            x = keras.layers.Dropout(config.conv_dropout, name=f"vgg_{index}_dropout")(x)
        x = vgg_block(x, config.filters, pool, strides, f"vgg_{index}")
    embedding = keras.layers.Flatten(name="pool5")(x)
    scores = tagging_head(embedding, config.num_tags, config.dropout, name="tags")
    return tagging_model(waveform, scores, embedding, name)


# Builders by architecture, each called as `builder(name=...)` with its released sizes. musicnn names
# its checkpoints `<dataset>_<architecture>`: MTT (MagnaTagATune) or MSD (Million Song Dataset).
ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"musicnn": build_musicnn, "vgg": build_vgg}
