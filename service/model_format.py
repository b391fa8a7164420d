"""The exported model format: TensorFlow Serving's `<name>/<version>/` layout plus our metadata.

Written by `training.export`, read by the service and the batch tools. It needs only the
standard library and pydantic, so reading a model's metadata never imports Keras or Kapre.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

# TF Serving ignores `assets.extra/`, and it travels with the SavedModel wherever it is copied.
METADATA_FILE = Path("assets.extra") / "tagger.json"
SIGNATURE = "serving_default"
SCORES_OUTPUT = "scores"
EMBEDDING_OUTPUT = "embedding"


class ModelCard(BaseModel):
    """What a person needs to know before trusting the model's tags."""

    architecture: str
    training_data: str
    source: str = ""
    license: str = ""
    parameters: int = 0
    metrics: dict[str, Any] = Field(default_factory=dict)


class ModelMetadata(BaseModel):
    """Everything besides the graph: the vocabulary and how audio must be prepared for it."""

    name: str
    version: int
    tags: list[str]
    embedding_size: int
    frontend: dict[str, Any]
    card: ModelCard

    @property
    def sample_rate(self) -> int:
        return int(self.frontend["sample_rate"])

    @property
    def chunk_samples(self) -> int:
        return int(self.frontend["chunk_samples"])

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_samples / self.sample_rate


def write_metadata(version_dir: Path, metadata: ModelMetadata) -> None:
    path = Path(version_dir) / METADATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metadata.model_dump_json(indent=2))


def read_metadata(version_dir: Path) -> ModelMetadata:
    return ModelMetadata.model_validate_json((Path(version_dir) / METADATA_FILE).read_text())


def latest_versions(models_dir: Path) -> dict[str, Path]:
    """Newest complete version directory of every model under `models_dir`, by name."""
    latest: dict[str, Path] = {}
    for model_dir in sorted(p for p in Path(models_dir).iterdir() if p.is_dir()):
        versions = [
            v
            for v in model_dir.iterdir()
            if v.name.isdigit() and (v / "saved_model.pb").is_file() and (v / METADATA_FILE).is_file()
        ]
        if versions:
            latest[model_dir.name] = max(versions, key=lambda v: int(v.name))
    return latest
