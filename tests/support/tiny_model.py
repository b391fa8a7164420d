"""A tiny real tagging model for the service tests: Kapre front end, one conv, two heads, exported."""

from __future__ import annotations

from pathlib import Path

import keras

from support.service_helpers import DEFAULT_MODEL, OTHER_MODEL
from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, FrontendSpec, ModelCard
from training.export import export_model
from training.frontend import build_frontend

TAGS = ["rock", "jazz", "piano", "calm", "drums", "electronic"]


def export_tiny_model(
    models_dir: Path, *, name: str, sample_rate: int, window_samples: int, seed: int
) -> Path:
    """Random-weight model mapping (batch, window_samples) audio to 6 sigmoid tags and an 8-d embedding."""
    keras.utils.set_random_seed(seed)
    frontend = FrontendSpec(
        sample_rate=sample_rate,
        window_samples=window_samples,
        n_fft=256,
        hop_length=128,
        n_mels=16,
        log="log10_1p",
    )
    waveform = keras.Input(shape=(window_samples,), name="waveform")
    x = build_frontend(frontend)(waveform)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    embedding = keras.layers.Dense(8, activation="tanh", name="embedding")(x)
    scores = keras.layers.Dense(len(TAGS), activation="sigmoid", name="scores")(embedding)
    model = keras.Model(waveform, {SCORES_OUTPUT: scores, EMBEDDING_OUTPUT: embedding}, name=name)
    card = ModelCard(architecture="tiny conv (test fixture)", training_data="none: random weights")
    return export_model(model, output_dir=models_dir, name=name, tags=TAGS, frontend=frontend, card=card)


def export_tiny_models(models_dir: Path) -> Path:
    """The test suite's two served models: `tiny` (16 kHz, 1 s windows) and `tiny_fast` (8 kHz, 0.5 s)."""
    export_tiny_model(models_dir, name=DEFAULT_MODEL, sample_rate=16_000, window_samples=16_000, seed=1)
    export_tiny_model(models_dir, name=OTHER_MODEL, sample_rate=8_000, window_samples=4_000, seed=2)
    return models_dir
