"""Export a Keras tagging model to `saved_models/<name>/<version>/` with its metadata.

The SavedModel holds the whole graph, Kapre front end included (the mel filterbank becomes a
constant), so loading it needs only TensorFlow. Versions are written to a temporary directory
and renamed into place, so a server scanning the folder never sees half a model.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from tagger.model_format import (
    EMBEDDING_OUTPUT,
    SCORES_OUTPUT,
    SIGNATURE,
    FrontendSpec,
    ModelCard,
    ModelMetadata,
    write_metadata,
)


def export_model(
    model: keras.Model,
    *,
    output_dir: Path,
    name: str,
    tags: list[str],
    frontend: FrontendSpec,
    card: ModelCard,
    version: int | None = None,
    default_hop_samples: int | None = None,
    vocabularies: dict[str, tuple[int, int]] | None = None,
) -> Path:
    """Write `model` as the next (or the given) version of `name`; returns the version directory.

    `model` maps a (batch, window_samples) waveform to a dict with `scores` (batch, num_tags) and
    `embedding` (batch, embedding_size). `default_hop_samples` is the hop a song is read at when a
    request names none (`None`: one window). `vocabularies` names the column ranges of a multi-vocabulary
    model (`ModelMetadata.vocabularies`). The folder is readable by every user whatever the
    umask, so a server running as another user (the Docker image's) can load it.
    """
    scores, embedding = (model.output[SCORES_OUTPUT], model.output[EMBEDDING_OUTPUT])
    if scores.shape[-1] != len(tags):
        raise ValueError(f"The model has {scores.shape[-1]} outputs but {len(tags)} tags were given.")
    model_dir = Path(output_dir) / name
    if version is None:
        version = _next_version(model_dir)
    elif version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version}.")
    version_dir = model_dir / str(version)
    if version_dir.exists():
        raise FileExistsError(f"{version_dir} already exists; export a new version instead of overwriting.")

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE,
        fn=lambda waveform: model(waveform, training=False),
        input_signature=[tf.TensorSpec([None, frontend.window_samples], tf.float32, name="waveform")],
    )
    metadata = ModelMetadata(
        name=name,
        version=version,
        tags=list(tags),
        embedding_size=int(embedding.shape[-1]),
        frontend=frontend,
        card=card.model_copy(update={"parameters": model.count_params()}),
        default_hop_samples=default_hop_samples,
        vocabularies=vocabularies,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_dir))
    try:
        archive.write_out(str(staging), verbose=False)
        write_metadata(staging, metadata)
        _make_world_readable(staging)
        staging.rename(version_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version_dir


def _make_world_readable(root: Path) -> None:
    """Directories 0755, files 0644: `mkdtemp` creates 0700, and the umask may strip more."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _next_version(model_dir: Path) -> int:
    existing = [int(p.name) for p in model_dir.glob("*") if p.name.isdigit()] if model_dir.exists() else []
    return max(existing, default=0) + 1


def export_untrained(preset: str, output_dir: Path, *, num_tags: int) -> Path:
    """A zoo preset with random weights and tags `tag0…`, exported: for benchmarks and test fixtures."""
    from training.zoo import PRESETS, build_preset

    return export_model(
        build_preset(preset, num_tags=num_tags),
        output_dir=output_dir,
        name=preset,
        tags=[f"tag{index}" for index in range(num_tags)],
        frontend=PRESETS[preset].frontend,
        card=ModelCard(architecture=preset, training_data="none: random weights"),
    )
