"""The musicnn port piece by piece: checkpoint tensors land where musicnn used them; the import is idempotent.

Whole-network parity against musicnn's own tagger is tests/test_musicnn_parity.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tagger.model_format import ModelCard, ModelMetadata, read_metadata, write_metadata
from training.import_musicnn import MODEL_NAMES, musicnn_package_dir, read_tags
from training.musicnn import ARCHITECTURES, MUSICNN_FRONTEND, build_musicnn, build_vgg
from training.musicnn_checkpoint import (
    MUSICNN_SCOPES,
    SCOPES,
    VGG_SCOPES,
    checkpoint_weights,
    load_musicnn_weights,
    read_checkpoint,
)

# Reports what a fresh process imported while running the command, to prove what it did not load.
RUN_AND_LIST_IMPORTS = """
import json, sys
from training.__main__ import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "imported": sorted({"tensorflow", "keras", "musicnn"} & set(sys.modules))}))
"""


@pytest.fixture(scope="module")
def msd_weights() -> dict[str, np.ndarray]:
    return checkpoint_weights(read_checkpoint(musicnn_package_dir() / "MSD_musicnn"))


@pytest.fixture(scope="module")
def msd_musicnn(msd_weights: dict[str, np.ndarray]) -> keras.Model:
    model = build_musicnn(name="MSD_musicnn")
    load_musicnn_weights(model, msd_weights, MUSICNN_SCOPES)
    return model


def test_every_release_has_a_builder_and_a_complete_scope_table() -> None:
    assert {name.split("_")[1] for name in MODEL_NAMES} == set(ARCHITECTURES) == set(SCOPES)
    for name in MODEL_NAMES:
        architecture = name.split("_")[1]
        weights = checkpoint_weights(read_checkpoint(musicnn_package_dir() / name))
        # Raises unless every checkpoint variable fills exactly one weight and no weight is left out.
        load_musicnn_weights(ARCHITECTURES[architecture](name=name), weights, SCOPES[architecture])


def test_first_timbral_kernel_is_the_checkpoint_tensor(msd_musicnn: keras.Model, msd_weights: dict) -> None:
    kernel = msd_musicnn.get_layer("timbral_1_conv").kernel.numpy()
    assert kernel.shape == (7, 38, 1, 204)  # (frames, mel bins, in, filters), as TF1 stores conv2d kernels
    np.testing.assert_array_equal(kernel, msd_weights["conv2d/kernel"])


def test_midend_conv1d_computes_musicnn_full_width_conv2d(
    msd_musicnn: keras.Model, msd_weights: dict
) -> None:
    """musicnn pads 3 frames, applies a (7, 561) conv2d over (time, features, 1), ReLU: one output column."""
    features = np.random.default_rng(0).normal(size=(2, 187, 561)).astype(np.float32)
    ours = msd_musicnn.get_layer("midend_1_conv")(features).numpy()

    padded = np.pad(features, ((0, 0), (3, 3), (0, 0)))[..., None]
    theirs = tf.nn.conv2d(padded, msd_weights["conv2d_5/kernel"], strides=1, padding="VALID")
    theirs = tf.nn.relu(theirs + msd_weights["conv2d_5/bias"]).numpy()
    assert theirs.shape == (2, 187, 1, 64)
    np.testing.assert_allclose(ours, theirs[:, :, 0, :], rtol=1e-4, atol=1e-4)


def test_pooled_statistics_are_ordered_as_musicnn_flattens_them(msd_musicnn: keras.Model) -> None:
    """musicnn flattens concat([max, mean], axis=2) of two (batch, features, 1): max_0, mean_0, max_1, ..."""
    pooling = keras.Model(
        msd_musicnn.get_layer("midend_features").output, msd_musicnn.get_layer("pooled").output
    )
    features = np.random.default_rng(1).normal(size=(2, 187, 753)).astype(np.float32)
    theirs = np.stack([features.max(axis=1), features.mean(axis=1)], axis=2).reshape(2, -1)
    np.testing.assert_allclose(pooling(features).numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_vgg_first_kernel_is_the_checkpoint_tensor() -> None:
    weights = checkpoint_weights(read_checkpoint(musicnn_package_dir() / "MTT_vgg"))
    model = build_vgg(name="MTT_vgg")
    load_musicnn_weights(model, weights, VGG_SCOPES)
    np.testing.assert_array_equal(model.get_layer("vgg_1_conv").kernel.numpy(), weights["1CNN/kernel"])
    assert model.output["embedding"].shape == (None, 256)  # musicnn's 'pool5': 2 frames x 1 band x 128


def test_loading_refuses_a_layer_without_scope(msd_weights: dict) -> None:
    scopes = {layer: scope for layer, scope in MUSICNN_SCOPES.items() if layer != "tags"}
    with pytest.raises(ValueError, match=r"no checkpoint scope: \['tags'\]"):
        load_musicnn_weights(build_musicnn(), msd_weights, scopes)


def test_loading_refuses_unused_checkpoint_variables(msd_weights: dict) -> None:
    weights = {**msd_weights, "dense_2/kernel": np.zeros((50, 50), np.float32)}
    with pytest.raises(ValueError, match=r"left unused: \['dense_2/kernel'\]"):
        load_musicnn_weights(build_musicnn(), weights, MUSICNN_SCOPES)


def test_loading_refuses_swapped_layers(msd_weights: dict) -> None:
    scopes = {**MUSICNN_SCOPES, "timbral_1_conv": "conv2d_1", "timbral_2_conv": "conv2d"}
    with pytest.raises(ValueError, match=r"'conv2d_1/kernel' has shape \(7, 67, 1, 204\)"):
        load_musicnn_weights(build_musicnn(), msd_weights, scopes)


def test_tags_are_read_from_musicnn_configuration_as_syntax() -> None:
    source = (musicnn_package_dir() / "configuration.py").read_text()
    for variable in ("MTT_LABELS", "MSD_LABELS"):
        tags = read_tags(musicnn_package_dir(), variable)
        assert len(tags) == len(set(tags)) == 50
        assert all(f"'{tag}'" in source for tag in tags)
    with pytest.raises(ValueError, match="does not assign NO_SUCH_LABELS"):
        read_tags(musicnn_package_dir(), "NO_SUCH_LABELS")


def run_command(*arguments: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_IMPORTS, "import-musicnn", *arguments],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_command_exports_a_model_card_and_skips_what_exists(tmp_path: Path) -> None:
    first = run_command("--output", str(tmp_path), "--models", "MTT_vgg")
    assert first["code"] == 0 and "musicnn" not in first["imported"]

    metadata = read_metadata(tmp_path / "MTT_vgg" / "1")
    assert metadata.tags == read_tags(musicnn_package_dir(), "MTT_LABELS")
    assert metadata.frontend == MUSICNN_FRONTEND and metadata.embedding_size == 256
    assert (
        metadata.card.license == "ISC" and "musicnn 0.1.0 by Jordi Pons, Xavier Serra" in metadata.card.source
    )
    assert "MagnaTagATune" in metadata.card.training_data
    assert 0.5 < metadata.card.metrics["reported_roc_auc"] < 1 and metadata.card.parameters > 0

    # Nothing missing: no TensorFlow import at all, which keeps `make serve` fast.
    again = run_command("--output", str(tmp_path), "--models", "MTT_vgg")
    assert again == {"code": 0, "imported": []}
    assert sorted(p.name for p in (tmp_path / "MTT_vgg").iterdir()) == ["1"]


def test_command_ports_only_the_missing_models(tmp_path: Path) -> None:
    """Every model but one already exported (stand-ins with valid metadata): only that one is built."""
    for name in MODEL_NAMES:
        if name != "MSD_vgg":
            version_dir = tmp_path / name / "1"
            version_dir.mkdir(parents=True)
            (version_dir / "saved_model.pb").write_bytes(b"stand-in")
            card = ModelCard(architecture="stand-in", training_data="none")
            write_metadata(
                version_dir,
                ModelMetadata(name=name, version=1, tags=[], embedding_size=1, frontend={}, card=card),
            )
    result = run_command("--output", str(tmp_path))
    assert result["code"] == 0
    assert (tmp_path / "MSD_vgg" / "1" / "saved_model.pb").stat().st_size > 1000
    assert (tmp_path / "MSD_musicnn" / "1" / "saved_model.pb").read_bytes() == b"stand-in"
