"""The model repository: which models are exported, which version of each is served, and how one is loaded.

One answer to "which version" for every path (the API, the batch CLI, Beam and training's
tools): the highest numbered version directory that is complete (`saved_model.pb` and our
metadata), as TensorFlow Serving picks it. One way to load: `load_model` picks the engine
(`tagger/engine_choice.py`) and applies the runtime settings (device, threads, precision) first, so
the API, the batch CLI and Beam workers run a model identically. A model that cannot be read or
loaded is reported by name with its reason and skipped; it never takes the others down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tagger.engine_choice import choose_engine
from tagger.errors import ModelNotFoundError
from tagger.model_format import METADATA_FILE, SAVED_MODEL_FILE, ModelMetadata, read_metadata
from tagger.settings import Runtime

if TYPE_CHECKING:
    from tagger.inference import ServingModel

logger = logging.getLogger(__name__)


def newest_complete_version(versions: Iterable[str], is_complete: Callable[[str], bool]) -> str | None:
    """The highest numbered entry of `versions` (folder names) for which `is_complete` holds."""
    for version in sorted((v for v in versions if v.isdigit()), key=int, reverse=True):
        if is_complete(version):
            return version
    return None


@dataclass(frozen=True)
class ModelVersion:
    """One exported model version: where it is and what its metadata says."""

    path: Path
    metadata: ModelMetadata

    @property
    def name(self) -> str:
        return self.metadata.name


@dataclass(frozen=True)
class Catalog:
    """The newest readable version of every model, and why any other model was skipped."""

    models: dict[str, ModelVersion] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # model name -> reason


class ModelRepository:
    """A folder in TensorFlow Serving's layout: `<models_dir>/<name>/<version>/`."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)

    def catalog(self) -> Catalog:
        """Every model's newest complete version; one that cannot be read is listed with its reason."""
        if not self.models_dir.is_dir():
            raise ModelNotFoundError(f"models directory {str(self.models_dir)!r} does not exist")
        catalog = Catalog()
        for model_dir in sorted(p for p in self.models_dir.iterdir() if p.is_dir()):
            try:
                version = self._newest(model_dir)
                if version is not None:
                    catalog.models[model_dir.name] = version
            except (OSError, ValueError, ValidationError) as error:
                reason = f"cannot read {model_dir}: {type(error).__name__}: {error}"
                logger.error("skipping model %s: %s", model_dir.name, reason)
                catalog.unreadable[model_dir.name] = reason
        return catalog

    def resolve(self, name: str) -> ModelVersion:
        """The version of `name` the API would serve; raises `ModelNotFoundError`."""
        model_dir = self.models_dir / name
        version = self._newest(model_dir) if model_dir.is_dir() else None
        if version is None:
            found = sorted(self.catalog().models) if self.models_dir.is_dir() else []
            raise ModelNotFoundError(
                f"no model {name!r} in {str(self.models_dir)!r} (found: {found or 'none'})"
            )
        return version

    def _newest(self, model_dir: Path) -> ModelVersion | None:
        newest = newest_complete_version(
            (entry.name for entry in model_dir.iterdir()),
            lambda version: all(
                (model_dir / version / part).is_file() for part in (SAVED_MODEL_FILE, METADATA_FILE)
            ),
        )
        if newest is None:
            return None
        return ModelVersion(model_dir / newest, read_metadata(model_dir / newest))


def load_model(version_dir: Path, runtime: Runtime) -> ServingModel:
    """Load an exported version for serving on `runtime`'s engine, with its threads and precision applied.

    Each engine is imported here, on first use: the OpenVINO path never imports TensorFlow.
    """
    model: ServingModel
    if choose_engine(runtime.engine) == "openvino":
        from tagger.openvino_engine import OpenVINOModel

        model = OpenVINOModel(version_dir, threads=runtime.intra_op_threads)
    else:
        from tagger.tensorflow_engine import TensorFlowModel, configure_tensorflow

        model = TensorFlowModel(version_dir, device=configure_tensorflow(runtime))
    logger.info(
        "loaded %s v%d with %s on %s (%d intra-op / %d inter-op threads, GPU mixed precision %s)",
        model.metadata.name,
        model.metadata.version,
        model.engine,
        model.device,
        runtime.intra_op_threads,
        runtime.inter_op_threads,
        "on" if runtime.gpu_mixed_precision else "off",
    )
    return model
