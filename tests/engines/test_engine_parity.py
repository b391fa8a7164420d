"""OpenVINO scores every exported model like TensorFlow: the pretrained ports and the tiny test exports.

Both engines load the same SavedModel through `tagger.repository.load_model` and score the same
windows of a real recording (decoded and cut as the service does); batches of 1, 5 and 16 windows
exercise OpenVINO's split of a batch over its streams. Scores must agree within 1e-5 (the issue's
bound; measured ≤ 4e-7); embeddings within 2e-5 absolute: they are unbounded activations (up to ~3
for the ported models) summed in float32 in another order, measured ≤ 5e-6.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from support.debian_music import debian_music
from support.tiny_model import export_tiny_model
from tagger.arrays import FloatArray
from tagger.inference import ServingModel
from tagger.model_format import ModelCard, read_metadata
from tagger.repository import ModelRepository, load_model
from tagger.settings import EngineSetting, Runtime
from tagger.song import TagPlan, decode_windows
from training.export import export_model
from training.zoo import PRESETS, build_preset

REPO = Path(__file__).resolve().parents[2]
PRETRAINED = ModelRepository(REPO / "saved_models")
SCORE_TOLERANCE = 1e-5
EMBEDDING_TOLERANCE = 2e-5
BATCH_SIZES = (1, 5, 16)


def engine(version_dir: Path, name: EngineSetting) -> ServingModel:
    return load_model(version_dir, Runtime(intra_op_threads=2, inter_op_threads=1, engine=name))


def real_windows(version_dir: Path, count: int) -> list[FloatArray]:
    """The first `count` windows of a real recording, decoded and cut as the service does."""
    plan = TagPlan.for_model(read_metadata(version_dir), None)
    windows = decode_windows(debian_music()[0], plan, min_seconds=0, max_seconds=900).windows
    assert len(windows) >= count, f"the recording gives only {len(windows)} windows"
    return windows[:count]


def assert_engines_agree(version_dir: Path) -> None:
    tensorflow, openvino = engine(version_dir, "tensorflow"), engine(version_dir, "openvino")
    assert (tensorflow.engine, openvino.engine) == ("tensorflow", "openvino")
    windows = real_windows(version_dir, max(BATCH_SIZES))
    for size in BATCH_SIZES:
        expected, actual = tensorflow.predict(windows[:size]), openvino.predict(windows[:size])
        assert len(actual) == size
        scores = np.abs(np.stack([p.scores for p in expected]) - np.stack([p.scores for p in actual]))
        embeddings = np.abs(
            np.stack([p.embedding for p in expected]) - np.stack([p.embedding for p in actual])
        )
        assert scores.max() <= SCORE_TOLERANCE, f"batch {size}: scores differ by {scores.max():.2e}"
        assert embeddings.max() <= EMBEDDING_TOLERANCE, (
            f"batch {size}: embeddings differ by {embeddings.max():.2e}"
        )


@pytest.mark.parametrize("name", sorted(PRETRAINED.catalog().models))
def test_openvino_matches_tensorflow_on_the_pretrained_models(name: str) -> None:
    assert_engines_agree(PRETRAINED.resolve(name).path)


@pytest.mark.parametrize(("sample_rate", "window_samples"), [(16_000, 16_000), (8_000, 4_000)])
def test_openvino_matches_tensorflow_on_the_tiny_exports(
    tmp_path: Path, sample_rate: int, window_samples: int
) -> None:
    version_dir = export_tiny_model(
        tmp_path, name="tiny", sample_rate=sample_rate, window_samples=window_samples, seed=sample_rate
    )
    assert_engines_agree(version_dir)


@pytest.mark.xfail(
    strict=True,
    reason="known gap: OpenVINO differs from TensorFlow by ~2e-5 on transformer_tiny (dB front end with "
    "reflect pad, power 2, amin 1e-10, then attention); which op is responsible is not found yet",
)
def test_openvino_matches_tensorflow_on_the_transformer_front_end(tmp_path: Path) -> None:
    keras.utils.set_random_seed(3)
    version_dir = export_model(
        build_preset("transformer_tiny", num_tags=8),
        output_dir=tmp_path,
        name="transformer_tiny",
        tags=[f"tag{index}" for index in range(8)],
        frontend=PRESETS["transformer_tiny"].frontend,
        card=ModelCard(architecture="transformer_tiny", training_data="none: random weights (test fixture)"),
    )
    assert_engines_agree(version_dir)
