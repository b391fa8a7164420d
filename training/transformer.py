"""The Music Tagging Transformer (Won, Choi, Serra, ISMIR 2021): a small residual CNN front end
whose per-frame features become tokens for a BERT-style encoder that classifies through [CLS].

Faithful to the authors' code except for two documented points: Keras's `MultiHeadAttention` with
`use_bias=False` also drops the output projection's bias (the reference keeps it: 1,024 fewer
parameters in the paper model), and the [CLS] token and position table start from a truncated
normal with stddev 0.02 (BERT) rather than a unit normal. Our spectrogram is (batch, time, freq, 1),
so the paper's (freq, time) pools (2,2), (2,2), (2,1) are written (time, freq) here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from tagger.model_format import FrontendSpec
from training.blocks import residual_block, spectrogram_input, tagging_model

# (time, freq) max-pool after each of the three residual blocks; time shrinks 4x, frequency 8x.
FRONT_END_POOLS = ((2, 2), (2, 2), (1, 2))
TIME_REDUCTION = 4


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the Music Tagging Transformer; the defaults are the paper's 4.6 M-parameter teacher.

    The paper's distilled 0.5 M student is not specified anywhere; conv_channels=64, attention_width=64,
    ffn_width=256 gives 0.49 M with 50 tags (see `training.zoo`).
    """

    conv_channels: int = 128
    attention_width: int = 256
    num_layers: int = 4
    num_heads: int = 8
    ffn_width: int = 1024
    dropout: float = 0.1
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if self.attention_width % self.num_heads:
            raise ValueError(
                f"`attention_width` must be divisible by `num_heads`. "
                f"Received: attention_width={self.attention_width}, num_heads={self.num_heads}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={self.dropout}.")


@keras.saving.register_keras_serializable(package="tagger")
class ClassTokenPositionEmbedding(keras.layers.Layer):
    """Prepends a learned [CLS] token and adds a learned position embedding (BERT, ViT).

    Args:
        max_tokens: longest input sequence the position table covers, not counting [CLS].

    Input shape: (batch, tokens, width) with tokens <= max_tokens.
    Output shape: (batch, tokens + 1, width).
    """

    def __init__(self, max_tokens: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_tokens < 1:
            raise ValueError(f"`max_tokens` must be positive. Received: max_tokens={max_tokens}")
        self.max_tokens = max_tokens

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        _, num_tokens, width = input_shape
        if num_tokens is not None and num_tokens > self.max_tokens:
            raise ValueError(
                f"The sequence is longer than the position table. "
                f"Received: tokens={num_tokens}, max_tokens={self.max_tokens}."
            )
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(width,), initializer=initializer, name="class_token")
        self.position_embedding = self.add_weight(
            shape=(self.max_tokens + 1, width), initializer=initializer, name="position_embedding"
        )

    def call(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        batch_size, num_tokens, width = ops.shape(inputs)
        class_tokens = ops.broadcast_to(self.class_token, (batch_size, 1, width))
        tokens = ops.concatenate([class_tokens, inputs], axis=1)
        return tokens + self.position_embedding[: num_tokens + 1]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch_size, num_tokens, width = input_shape
        return batch_size, None if num_tokens is None else num_tokens + 1, width

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_tokens": self.max_tokens}


def build_transformer(
    frontend: FrontendSpec,
    config: TransformerConfig,
    num_tags: int,
    name: str = "music_tagging_transformer",
) -> keras.Model:
    """(batch, window_samples) -> {"scores": (batch, num_tags), "embedding": (batch, attention_width)}.

    The embedding is the layer-normalised [CLS] output that the tag classifier reads.
    """
    num_tokens = frontend.num_frames // TIME_REDUCTION
    if num_tokens > config.max_tokens:
        raise ValueError(
            f"A {frontend.window_seconds:g} s window makes {num_tokens} tokens but the position table holds "
            f"{config.max_tokens}; use a shorter window or a larger `max_tokens`. "
            f"Received: window_samples={frontend.window_samples}, max_tokens={config.max_tokens}."
        )
    waveform, x = spectrogram_input(frontend)

    # CNN front end: three residual blocks, each followed by max-pooling.
    for index, pool_size in enumerate(FRONT_END_POOLS, start=1):
        x = residual_block(x, config.conv_channels, name=f"front_block{index}")
        x = keras.layers.MaxPooling2D(pool_size, name=f"front_block{index}_pool")(x)

    # One token per remaining time step: flatten frequency x channels (as ViT does), project to the width.
    _, num_steps, num_bins, channels = x.shape
    x = keras.layers.Reshape((num_steps, num_bins * channels), name="tokens")(x)
    x = keras.layers.Dense(config.attention_width, name="token_projection")(x)
    x = ClassTokenPositionEmbedding(config.max_tokens, name="class_token_position")(x)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)

    # Pre-LayerNorm encoder: x + MHA(LN(x)), then x + FFN(LN(x)).
    for index in range(1, config.num_layers + 1):
        x = _encoder_layer(x, config, name=f"encoder{index}")

    # Classify through the [CLS] token.
    embedding = keras.layers.LayerNormalization(name="embedding")(x[:, 0])
    scores = keras.layers.Dense(num_tags, activation="sigmoid", name="scores", dtype="float32")(embedding)
    return tagging_model(waveform, scores, embedding, name)


def _encoder_layer(x: keras.KerasTensor, config: TransformerConfig, name: str) -> keras.KerasTensor:
    attention_input = keras.layers.LayerNormalization(name=f"{name}_attention_norm")(x)
    attention = keras.layers.MultiHeadAttention(
        config.num_heads,
        key_dim=config.attention_width // config.num_heads,
        use_bias=False,
        name=f"{name}_attention",
    )(attention_input, attention_input)
    attention = keras.layers.Dropout(config.dropout, name=f"{name}_attention_dropout")(attention)
    x = keras.layers.Add(name=f"{name}_attention_residual")([x, attention])

    hidden = keras.layers.LayerNormalization(name=f"{name}_ffn_norm")(x)
    hidden = keras.layers.Dense(config.ffn_width, activation="gelu", name=f"{name}_ffn_expand")(hidden)
    hidden = keras.layers.Dropout(config.dropout, name=f"{name}_ffn_dropout1")(hidden)
    hidden = keras.layers.Dense(config.attention_width, name=f"{name}_ffn_contract")(hidden)
    hidden = keras.layers.Dropout(config.dropout, name=f"{name}_ffn_dropout2")(hidden)
    return keras.layers.Add(name=f"{name}_ffn_residual")([x, hidden])
