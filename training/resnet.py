"""The short-chunk ResNet (Won et al., "Evaluation of CNN-based automatic music tagging models", SMC 2020):
seven strided residual blocks over a 3.69 s log-mel spectrogram, the thesis's "simple but strong" baseline.

Parameter count: this faithful port of the authors' `ShortChunkCNN_Res` has 12.1 M parameters with
50 tags (12.10 M trainable plus 12 k BatchNorm statistics), as an independent count of the reference code
also gives. The thesis and patent tables quote 13.5 M for their ResNet without saying what differs;
nothing in the published architecture reaches that number, so we keep the code's 12.1 M.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tagger.model_format import FrontendSpec
from training.blocks import batch_norm, residual_block, spectrogram_input, tagging_model

# Block widths in units of `base_channels` (128, 128, 256, 256, 256, 256, 512 in the paper).
CHANNEL_MULTIPLIERS = (1, 1, 2, 2, 2, 2, 4)
# Every block halves time and frequency, so seven of them fold up to 2**7 = 128 mel bins into one.
MAX_MEL_BINS = 2 ** len(CHANNEL_MULTIPLIERS)

# The reference front end (torchaudio defaults): 16 kHz, 59,049 samples = 3.69 s, 512-point FFT,
# hop 256, 128 HTK mels without normalisation, power 2, dB, centred with reflect padding.
SHORT_CHUNK_FRONTEND = FrontendSpec(sample_rate=16_000, window_samples=59_049, n_fft=512, hop_length=256)


@dataclass(frozen=True)
class ResNetConfig:
    """Sizes of the short-chunk ResNet; the defaults are the paper's. The head is 4 x base_channels wide."""

    base_channels: int = 128
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.base_channels < 1:
            raise ValueError(
                f"`base_channels` must be positive. Received: base_channels={self.base_channels}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={self.dropout}.")


def build_resnet(
    frontend: FrontendSpec, config: ResNetConfig, num_tags: int, name: str = "short_chunk_resnet"
) -> keras.Model:
    """(batch, window_samples) -> {"scores": (batch, num_tags), "embedding": (batch, 4 * base_channels)}.

    The embedding is the ReLU output of the penultimate dense layer, before dropout.
    """
    if frontend.n_mels > MAX_MEL_BINS:
        raise ValueError(
            f"Seven stride-2 blocks fold at most {MAX_MEL_BINS} mel bins into one. "
            f"Received: n_mels={frontend.n_mels}."
        )
    waveform, x = spectrogram_input(frontend)
    for index, multiplier in enumerate(CHANNEL_MULTIPLIERS, start=1):
        x = residual_block(x, multiplier * config.base_channels, strides=2, name=f"block{index}")

    # Frequency is 1 by now, so the global max is over time: it summarises windows longer than 3.69 s.
    x = keras.layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = keras.layers.Dense(4 * config.base_channels, name="dense")(x)
    x = batch_norm("dense_bn")(x)
    embedding = keras.layers.ReLU(name="embedding")(x)
    x = keras.layers.Dropout(config.dropout, name="dropout")(embedding)
    scores = keras.layers.Dense(num_tags, activation="sigmoid", name="scores", dtype="float32")(x)
    return tagging_model(waveform, scores, embedding, name)
