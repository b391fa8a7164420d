"""Export: the SavedModel serves in a TensorFlow-only process exactly as the Keras model did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from support.audio_files import make_audio
from tagger.audio import load_audio
from tagger.model_format import FrontendSpec, ModelCard, read_metadata
from tagger.repository import ModelRepository
from training.export import export_model
from training.zoo import PRESETS, build_preset

TAGS = ["rock", "jazz", "piano", "female vocal", "ambient"]
CARD = ModelCard(architecture="tiny test model", training_data="none: random weights", license="MIT")

# Runs in a fresh interpreter with nothing but TensorFlow and NumPy: what a serving host has.
SERVE_IN_FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf

serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
outputs = serve(waveform=tf.constant(np.load(sys.argv[2])))
np.savez(sys.argv[3], **{name: value.numpy() for name, value in outputs.items()})
imported = sorted({name.split(".")[0] for name in sys.modules} & {"kapre", "librosa"})
print(json.dumps(imported))
"""


def music_batch(tmp_path: Path, frontend: FrontendSpec) -> np.ndarray:
    """Two different windows of decoded music, as the service would feed them."""
    path = make_audio(tmp_path / "music.mp3", seconds=2 * frontend.window_seconds + 0.5, sample_rate=44_100)
    waveform = load_audio(path, sample_rate=frontend.sample_rate)
    return np.stack([waveform[: frontend.window_samples], waveform[-frontend.window_samples :]])


def export_tiny(preset: str, output_dir: Path, version: int | None = None) -> tuple[keras.Model, Path]:
    model = build_preset(preset, len(TAGS))
    version_dir = export_model(
        model,
        output_dir=output_dir,
        name=preset,
        tags=TAGS,
        frontend=PRESETS[preset].frontend,
        card=CARD,
        version=version,
    )
    return model, version_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    return export_tiny("transformer_tiny", tmp_path_factory.mktemp("saved_models"))


@pytest.mark.parametrize("preset", ["transformer_tiny", "resnet_tiny"])
def test_saved_model_serves_like_keras_without_kapre_or_librosa(preset: str, tmp_path: Path) -> None:
    model, version_dir = export_tiny(preset, tmp_path / "saved_models")
    waveform = music_batch(tmp_path, PRESETS[preset].frontend)
    np.save(tmp_path / "waveform.npy", waveform)

    result = subprocess.run(
        [sys.executable, "-c", SERVE_IN_FRESH_PROCESS, str(version_dir), "waveform.npy", "outputs.npz"],
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []

    served = np.load(tmp_path / "outputs.npz")
    expected = model(waveform, training=False)
    assert set(served.files) == {"scores", "embedding"}
    for name in served.files:
        assert served[name].shape == tuple(expected[name].shape)
        assert np.abs(served[name] - expected[name].numpy()).max() <= 1e-5


def test_metadata_round_trip(exported: tuple[keras.Model, Path]) -> None:
    model, version_dir = exported
    metadata = read_metadata(version_dir)

    assert version_dir.name == "1"
    assert (metadata.name, metadata.version) == ("transformer_tiny", 1)
    assert metadata.tags == TAGS
    assert metadata.embedding_size == model.output["embedding"].shape[-1]
    assert metadata.frontend == PRESETS["transformer_tiny"].frontend
    assert metadata.window_samples == PRESETS["transformer_tiny"].frontend.window_samples
    assert metadata.card == CARD.model_copy(update={"parameters": model.count_params()})
    assert ModelRepository(version_dir.parent.parent).resolve("transformer_tiny").path == version_dir


def test_existing_version_is_never_overwritten(exported: tuple[keras.Model, Path]) -> None:
    model, version_dir = exported
    saved_model = version_dir / "saved_model.pb"
    before = (saved_model.stat().st_mtime_ns, saved_model.read_bytes())
    with pytest.raises(FileExistsError, match="already exists"):
        export_model(
            model,
            output_dir=version_dir.parent.parent,
            name=version_dir.parent.name,
            tags=TAGS,
            frontend=PRESETS["transformer_tiny"].frontend,
            card=CARD,
            version=int(version_dir.name),
        )
    assert (saved_model.stat().st_mtime_ns, saved_model.read_bytes()) == before
    assert sorted(p.name for p in version_dir.parent.iterdir()) == [
        version_dir.name
    ]  # no staging left behind


def test_versions_increment_past_the_newest(tmp_path: Path) -> None:
    _, explicit = export_tiny("transformer_tiny", tmp_path, version=3)
    _, automatic = export_tiny("transformer_tiny", tmp_path)
    assert (explicit.name, automatic.name) == ("3", "4")
    assert read_metadata(automatic).version == 4
    assert ModelRepository(tmp_path).resolve("transformer_tiny").path == automatic


@pytest.mark.parametrize(
    ("tags", "version", "message"),
    [(TAGS[:3], None, "3 tags"), (TAGS, 0, "version=0")],
    ids=["tag-count", "version"],
)
def test_bad_export_arguments_raise_value_error(
    exported: tuple[keras.Model, Path], tmp_path: Path, tags: list[str], version: int | None, message: str
) -> None:
    model, _ = exported
    with pytest.raises(ValueError, match=message):
        export_model(
            model,
            output_dir=tmp_path,
            name="refused",
            tags=tags,
            frontend=PRESETS["transformer_tiny"].frontend,
            card=CARD,
            version=version,
        )
    assert not (tmp_path / "refused").exists()
