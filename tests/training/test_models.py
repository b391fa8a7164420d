"""The zoo: paper-sized parameter counts, the output contract on the tiny presets, and the typed errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tagger.model_format import FrontendSpec
from training.resnet import SHORT_CHUNK_FRONTEND, ResNetConfig
from training.transformer import ClassTokenPositionEmbedding, TransformerConfig
from training.zoo import PRESETS, build_model, build_preset

NUM_TAGS = 50
TINY_PRESETS = ["transformer_tiny", "resnet_tiny"]


@pytest.mark.parametrize(
    ("preset", "expected", "tolerance"),
    [
        ("transformer", 4_600_000, 0.05),  # Won et al. 2021, Table 3.11: 4.6 M
        ("transformer_compact", 1_100_000, 0.05),  # the authors' compact student, thesis count ≈ 1.1 M
        ("transformer_student", 500_000, 0.05),  # the distilled student: 0.5 M
        ("resnet", 12_100_000, 0.01),  # the reference code's count (the tables' 13.5 M: see training.resnet)
        ("resnet_student", 3_040_000, 0.01),  # half width (the tables' distilled ResNet: 3.4 M)
    ],
)
def test_paper_sized_parameter_counts(preset: str, expected: int, tolerance: float) -> None:
    model = build_preset(preset, NUM_TAGS)
    assert model.count_params() == pytest.approx(expected, rel=tolerance)


def test_transformer_tokens_follow_the_paper_layout() -> None:
    """10 s -> 431 frames -> 107 tokens of 128 channels x 16 mel bins, plus [CLS]."""
    model = build_preset("transformer", NUM_TAGS)
    assert model.get_layer("tokens").output.shape == (None, 107, 128 * 16)
    assert model.get_layer("class_token_position").output.shape == (None, 108, 256)
    assert model.get_layer("encoder1_attention").get_weights()[0].shape == (256, 8, 32)  # 8 heads of 32


def test_resnet_folds_frequency_into_one_bin() -> None:
    model = build_preset("resnet", NUM_TAGS)
    assert model.get_layer("block7_relu2").output.shape == (None, 2, 1, 512)
    assert model.output["embedding"].shape == (None, 512)


@pytest.fixture(scope="module", params=TINY_PRESETS)
def tiny(request: pytest.FixtureRequest) -> tuple[str, keras.Model, np.ndarray]:
    """A tiny preset, its model, and a batch of three windows of noise at a music-like level."""
    model = build_preset(request.param, NUM_TAGS)
    rng = np.random.default_rng(0)
    waveform = 0.1 * rng.standard_normal(
        (3, PRESETS[request.param].frontend.window_samples), dtype=np.float32
    )
    return request.param, model, waveform


def test_output_contract(tiny: tuple[str, keras.Model, np.ndarray]) -> None:
    preset, model, waveform = tiny
    outputs = model(waveform, training=False)
    config = PRESETS[preset].config
    assert isinstance(config, TransformerConfig | ResNetConfig)  # every preset is one of these two
    embedding_size = (
        config.attention_width if isinstance(config, TransformerConfig) else 4 * config.base_channels
    )

    assert model.name == preset
    assert set(outputs) == {"scores", "embedding"}
    assert outputs["scores"].shape == (3, NUM_TAGS)
    assert outputs["embedding"].shape == (3, embedding_size)
    scores = outputs["scores"].numpy()
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()
    assert np.isfinite(outputs["embedding"].numpy()).all()


def test_examples_in_a_batch_are_independent(tiny: tuple[str, keras.Model, np.ndarray]) -> None:
    _, model, waveform = tiny
    batched = model(waveform, training=False)["scores"].numpy()
    one_by_one = np.concatenate(
        [model(waveform[i : i + 1], training=False)["scores"].numpy() for i in range(3)]
    )
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert np.abs(batched[0] - batched[1]).max() > 0  # different inputs, different scores


def test_every_weight_is_trained(tiny: tuple[str, keras.Model, np.ndarray]) -> None:
    """A gradient reaches every trainable weight, the [CLS] token and position table included."""
    _, model, waveform = tiny
    labels = tf.constant(np.random.default_rng(1).integers(0, 2, (3, NUM_TAGS)), tf.float32)
    with tf.GradientTape() as tape:
        scores = model(waveform, training=True)["scores"]
        loss = keras.losses.binary_crossentropy(labels, scores)
    gradients = tape.gradient(loss, model.trainable_weights)
    untrained = [
        w.path
        for w, g in zip(model.trainable_weights, gradients, strict=True)
        if g is None or not np.any(g.numpy())
    ]
    assert untrained == []


def test_keras_file_round_trip(tiny: tuple[str, keras.Model, np.ndarray], tmp_path: Path) -> None:
    _, model, waveform = tiny
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    for name, expected in model(waveform, training=False).items():
        np.testing.assert_allclose(restored(waveform, training=False)[name], expected, atol=1e-6)


def test_build_model_applies_sizes() -> None:
    frontend = PRESETS["transformer_tiny"].frontend
    model = build_model(
        "transformer", frontend, 7, conv_channels=4, attention_width=16, num_layers=1, num_heads=2
    )
    assert model.name == "transformer"
    assert model.output["scores"].shape == (None, 7)
    assert model.output["embedding"].shape == (None, 16)
    assert [layer.name for layer in model.layers if layer.name.endswith("_attention")] == [
        "encoder1_attention"
    ]


def test_too_many_tokens_is_refused() -> None:
    frontend = dataclasses.replace(FrontendSpec(), window_samples=22_050)  # 44 frames -> 11 tokens
    build_model(
        "transformer", frontend, NUM_TAGS, conv_channels=4, attention_width=8, num_heads=2, max_tokens=11
    )
    with pytest.raises(ValueError, match=r"11 tokens .* max_tokens=10"):
        build_model(
            "transformer", frontend, NUM_TAGS, conv_channels=4, attention_width=8, num_heads=2, max_tokens=10
        )


def test_position_table_refuses_a_longer_sequence() -> None:
    layer = ClassTokenPositionEmbedding(max_tokens=4)
    assert layer(keras.Input((4, 8))).shape == (None, 5, 8)
    with pytest.raises(ValueError, match="tokens=5, max_tokens=4"):
        ClassTokenPositionEmbedding(max_tokens=4)(keras.Input((5, 8)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_preset("vgg", NUM_TAGS), r"known ones are \['resnet', 'resnet_student'.*preset='vgg'"),
        (
            lambda: build_model("crnn", FrontendSpec(), NUM_TAGS),
            r"\['resnet', 'transformer', 'vgg'\].*'crnn'",
        ),
        (
            lambda: build_model("resnet", SHORT_CHUNK_FRONTEND, NUM_TAGS, width=3),
            r"base_channels.*\['width'\]",
        ),
        (lambda: TransformerConfig(attention_width=100, num_heads=8), "divisible by `num_heads`"),
        (lambda: TransformerConfig(dropout=1.0), "dropout"),
        (lambda: ClassTokenPositionEmbedding(max_tokens=0), "max_tokens=0"),
        (
            lambda: build_model("resnet", dataclasses.replace(SHORT_CHUNK_FRONTEND, n_mels=160), NUM_TAGS),
            "n_mels=160",
        ),
    ],
    ids=["preset", "architecture", "size", "heads", "dropout", "table", "mels"],
)
def test_bad_arguments_raise_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
