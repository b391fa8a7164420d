"""One song through one model: the steps every tagging path shares (the API, the batch CLI, Beam).

file → decode (`service.audio`) → song-level centring for front ends that do not centre their
windows → windows (`service.chunking`) → [the caller's batched model calls] → `TagRecord`
(taggram, mean-pooled song vector and embedding). The result id depends only on the file's
SHA-256, the model version and the hop, so a track tagged by one path is found by the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from service.audio import AudioSource, load_audio
from service.chunking import cut_chunks, hop_samples
from service.model_format import ModelMetadata
from service.store import TagRecord

if TYPE_CHECKING:  # importing service.inference loads TensorFlow, which id-only callers never need
    from service.inference import ChunkPrediction


@dataclass(frozen=True)
class TagPlan:
    """A validated tagging request: which model, which hop (in samples)."""

    model: ModelMetadata
    hop: int

    @classmethod
    def for_model(cls, model: ModelMetadata, hop_seconds: float | None) -> TagPlan:
        """The plan for `model` at `hop_seconds` (`None`: no overlap); raises `InvalidHopError`."""
        return cls(
            model, hop_samples(hop_seconds, chunk_samples=model.chunk_samples, sample_rate=model.sample_rate)
        )

    @property
    def hop_seconds(self) -> float:
        return self.hop / self.model.sample_rate

    def result_id(self, content_sha256: str) -> str:
        """Same audio, model version and hop give the same id, so results are computed once."""
        key = f"{content_sha256}\n{self.model.name}\n{self.model.version}\n{self.hop}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SongWindows:
    """A decoded song cut into the model's input windows."""

    duration: float  # seconds of decoded audio
    chunks: list[np.ndarray]  # (chunk_samples,) float32 each
    starts: np.ndarray  # (n_chunks,) start sample of each window


def decode_windows(
    source: AudioSource, plan: TagPlan, *, min_seconds: float, max_seconds: float | None
) -> SongWindows:
    """Decode `source` at the model's rate and cut it into windows; raises `AudioError` subclasses."""
    model = plan.model
    waveform = load_audio(
        source, sample_rate=model.sample_rate, min_seconds=min_seconds, max_seconds=max_seconds
    )
    duration = waveform.size / model.sample_rate
    if not model.frontend["center"]:
        # A front end that does not centre each window expects the song centred once, as librosa
        # does (see training/musicnn.py): frame j of window k is then centred on sample
        # k·hop + j·hop_length, as with a centring front end.
        waveform = np.pad(waveform, (model.frontend["n_fft"] // 2, 0))
    chunks, starts = cut_chunks(waveform, chunk_samples=model.chunk_samples, hop=plan.hop)
    return SongWindows(duration, chunks, starts)


def build_record(
    result_id: str,
    plan: TagPlan,
    *,
    duration: float,
    starts: np.ndarray,
    predictions: Sequence[ChunkPrediction],
) -> TagRecord:
    """The stored result: one taggram row per window and their means (the song-level vectors)."""
    taggram = np.stack([prediction.scores for prediction in predictions])
    embeddings = np.stack([prediction.embedding for prediction in predictions])
    model = plan.model
    return TagRecord(
        id=result_id,
        model_name=model.name,
        model_version=model.version,
        tags=model.tags,
        duration=duration,
        chunk_seconds=model.chunk_seconds,
        hop_seconds=plan.hop_seconds,
        times=starts / model.sample_rate,
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=embeddings.mean(axis=0),
    )
