"""An exported tagging model as a Beam `ModelHandler`, so `RunInference` batches windows into it.

Beam 2.77's own TensorFlow handler does not fit: `apache_beam.ml.inference.tensorflow_inference`
imports `tensorflow_hub` (not a dependency of this project) and loads models with
`tf.keras.models.load_model`, which Keras 3 refuses for a SavedModel directory. This handler wraps
`tagger.inference.ServingModel` instead, so Beam runs the same engine (OpenVINO on CPU workers,
TensorFlow on GPU ones), with the same settings, as the API.

Models may live on any filesystem Beam knows (local, gs://, s3://, …): the launcher reads the
metadata there, and each worker copies the version directory to its local disk once and loads it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from tagger.errors import ModelNotFoundError
from tagger.inference import ServingModel
from tagger.model_format import METADATA_FILE, SAVED_MODEL_FILE, ModelMetadata
from tagger.repository import load_model, newest_complete_version
from tagger.settings import Runtime

logger = logging.getLogger(__name__)


def resolve_model(models_dir: str, name: str) -> tuple[str, ModelMetadata]:
    """(version directory, metadata) of the version of `name` the API would serve, on any Beam filesystem."""
    pattern = FileSystems.join(models_dir, name, "*", SAVED_MODEL_FILE)
    version_dirs = {
        path.rstrip("/").rsplit("/", 1)[-1]: path
        for path in (
            match.path[: -len(SAVED_MODEL_FILE) - 1]
            for match in FileSystems.match([pattern])[0].metadata_list
        )
    }
    newest = newest_complete_version(
        version_dirs, lambda v: FileSystems.exists(_metadata_path(version_dirs[v]))
    )
    if newest is None:
        raise ModelNotFoundError(f"no exported model {name!r} under {models_dir!r} (looked for {pattern})")
    version_dir = version_dirs[newest]
    with FileSystems.open(
        _metadata_path(version_dir), compression_type=CompressionTypes.UNCOMPRESSED
    ) as file:
        return version_dir, ModelMetadata.model_validate_json(file.read())


def _metadata_path(version_dir: str) -> str:
    return FileSystems.join(version_dir, *METADATA_FILE.parts)


def copy_to_local(source_dir: str, target: Path) -> None:
    """Copy every file below `source_dir` (any Beam filesystem) into `target`, keeping the layout."""
    prefix = source_dir.rstrip("/") + "/"
    for match in FileSystems.match([prefix + "**"])[0].metadata_list:
        destination = target / match.path[len(prefix) :]
        destination.parent.mkdir(parents=True, exist_ok=True)
        with FileSystems.open(match.path, compression_type=CompressionTypes.UNCOMPRESSED) as source:
            destination.write_bytes(source.read())


class SavedModelHandler(ModelHandler[np.ndarray, PredictionResult, ServingModel]):
    """Windows (window_samples,) float32 in; one `PredictionResult(window, WindowPrediction)` each out."""

    def __init__(self, version_dir: str, runtime: Runtime, *, max_batch_size: int) -> None:
        """`runtime` comes from the launcher's settings and travels with the pipeline to every worker."""
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self._version_dir = version_dir
        self._runtime = runtime

    def load_model(self) -> ServingModel:
        # The variables are read into memory by the load, so the local copy can go right after.
        with tempfile.TemporaryDirectory(prefix="tagger-model-") as local:
            copy_to_local(self._version_dir, Path(local))
            return load_model(Path(local), self._runtime)

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: ServingModel,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        predictions = model.predict(list(batch))
        return [
            PredictionResult(window, prediction)
            for window, prediction in zip(batch, predictions, strict=True)
        ]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(window.nbytes for window in batch)

    def get_metrics_namespace(self) -> str:
        return "music_tagger"
