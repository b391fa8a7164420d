"""The exported model format: TensorFlow Serving's `<name>/<version>/` layout plus our metadata.

Written by `training.export`, read by the service and the batch tools. It needs only the
standard library and pydantic, so reading a model's metadata never imports Keras or Kapre.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

# TF Serving ignores `assets.extra/`, and it travels with the SavedModel wherever it is copied.
METADATA_FILE = Path("assets.extra") / "tagger.json"
SAVED_MODEL_FILE = "saved_model.pb"
SIGNATURE = "serving_default"
SCORES_OUTPUT = "scores"
EMBEDDING_OUTPUT = "embedding"


@dataclass(frozen=True)
class FrontendSpec:
    """How raw audio becomes a log-mel spectrogram, and how long one model input is.

    Defaults are the Music Tagging Transformer's (Won et al., ISMIR 2021): 22.05 kHz,
    1024-point FFT, hop 512, 128 HTK mels without filterbank normalisation, power 2, dB.
    """

    sample_rate: int = 22_050
    window_samples: int = 220_500
    n_fft: int = 1024
    hop_length: int = 512
    window: Literal["hann_window", "hamming_window"] = "hann_window"
    center: bool = True
    pad_mode: Literal["reflect", "constant"] = "reflect"
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: Literal["htk", "slaney"] = "htk"
    mel_norm: Literal["slaney"] | None = None
    power: Literal[1, 2] = 2
    log: Literal["db", "log10_1p"] = "db"
    db_amin: float = 1e-10
    log_multiplier: float = 10_000.0

    def __post_init__(self) -> None:
        if self.window_samples < self.n_fft and not self.center:
            raise ValueError(
                f"`window_samples` must be at least `n_fft` without centring. "
                f"Received: window_samples={self.window_samples}, n_fft={self.n_fft}."
            )
        if self.center and self.pad_mode == "reflect" and self.window_samples <= self.n_fft // 2:
            raise ValueError(
                f"Reflect padding needs `window_samples` > n_fft // 2. "
                f"Received: window_samples={self.window_samples}, n_fft={self.n_fft}."
            )
        if self.hop_length <= 0 or self.hop_length > self.n_fft:
            raise ValueError(f"`hop_length` must be in (0, n_fft]. Received: hop_length={self.hop_length}.")

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    @property
    def num_frames(self) -> int:
        """Spectrogram frames per window."""
        padded = self.window_samples + (self.n_fft // 2) * 2 if self.center else self.window_samples
        return 1 + (padded - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FrontendSpec:
        return cls(**values)


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
    frontend: FrontendSpec
    card: ModelCard
    # Samples between window starts when a request names no hop; `None`: one window (no overlap). The
    # musicnn ports step 187 frames, one frame less than their window, as musicnn's own tagger does.
    default_hop_samples: int | None = Field(None, gt=0)
    # A model answering several vocabularies in one pass: name -> [first, end) columns of `tags`, whose
    # names are "<vocabulary>:<tag>" (see `tagger.vocabulary`). `None`: one vocabulary.
    vocabularies: dict[str, tuple[int, int]] | None = None

    @model_validator(mode="after")
    def _vocabularies_name_their_tags(self) -> ModelMetadata:
        for name, (first, end) in (self.vocabularies or {}).items():
            if not 0 <= first < end <= len(self.tags) or not all(
                tag.startswith(f"{name}:") for tag in self.tags[first:end]
            ):
                raise ValueError(
                    f"vocabulary {name!r} must name tags '{name}:…' in [{first}, {end}) of `tags`"
                )
        return self

    @field_validator("frontend", mode="before")
    @classmethod
    def _accept_chunk_samples(cls, value: Any) -> Any:
        """Models exported before "window" replaced "chunk" stored `chunk_samples`; read them unchanged."""
        if isinstance(value, dict) and "chunk_samples" in value:
            value = {("window_samples" if k == "chunk_samples" else k): v for k, v in value.items()}
        return value

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def window_samples(self) -> int:
        return self.frontend.window_samples

    @property
    def window_seconds(self) -> float:
        return self.frontend.window_seconds


def write_metadata(version_dir: Path, metadata: ModelMetadata) -> None:
    path = Path(version_dir) / METADATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(metadata.model_dump_json(indent=2))


def read_metadata(version_dir: Path) -> ModelMetadata:
    return ModelMetadata.model_validate_json((Path(version_dir) / METADATA_FILE).read_text())
