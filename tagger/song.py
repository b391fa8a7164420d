"""One song through one model: the steps every tagging path shares (the API, the batch CLI, Beam).

file → decode (`tagger.audio`) → song-level centring for front ends that do not centre their
windows → windows (`tagger.windows`) → [the caller's batched model calls] → `TagRecord`
(taggram, mean-pooled song vector and embedding). The result id depends only on the file's
SHA-256, the model version and the hop, so a track tagged by one path is found by the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tagger.arrays import FloatArray, IntArray
from tagger.audio import MIN_DECODED_SHARE, AudioSource, decode_audio
from tagger.decode_report import DecodeReport
from tagger.model_format import ModelMetadata
from tagger.predictions import TagRecord, WindowPrediction
from tagger.windows import hop_samples, song_windows


@dataclass(frozen=True)
class TagPlan:
    """A validated tagging request: which model, and the hop between window starts in samples."""

    model: ModelMetadata
    hop_samples: int

    @classmethod
    def for_model(cls, model: ModelMetadata, hop_seconds: float | None) -> TagPlan:
        """The plan at `hop_seconds` (`None`: the model's default hop); raises `InvalidHopError`."""
        hop = hop_samples(
            hop_seconds,
            window_samples=model.window_samples,
            sample_rate=model.sample_rate,
            default=model.default_hop_samples,
        )
        return cls(model, hop)

    @property
    def hop_seconds(self) -> float:
        return self.hop_samples / self.model.sample_rate

    def result_id(self, content_sha256: str) -> str:
        """Same audio, model version and hop give the same id, so results are computed once."""
        key = f"{content_sha256}\n{self.model.name}\n{self.model.version}\n{self.hop_samples}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SongWindows:
    """A decoded song cut into the model's input windows."""

    duration: float  # seconds of decoded audio
    windows: list[FloatArray]  # (window_samples,) float32 each
    starts: IntArray  # (n_windows,) start sample of each window
    decode: DecodeReport | None = None  # what was skipped to decode a damaged file


def decode_windows(
    source: AudioSource,
    plan: TagPlan,
    *,
    min_seconds: float,
    max_seconds: float | None,
    min_decoded_share: float = MIN_DECODED_SHARE,
) -> SongWindows:
    """Decode `source` at the model's rate and cut it into windows; raises `AudioError` subclasses."""
    model = plan.model
    audio = decode_audio(
        source,
        sample_rate=model.sample_rate,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        min_decoded_share=min_decoded_share,
    )
    duration = audio.samples.size / model.sample_rate
    windows, starts = song_windows(audio.samples, model.frontend, hop=plan.hop_samples)
    return SongWindows(duration, windows, starts, audio.report)


def build_record(
    result_id: str,
    plan: TagPlan,
    *,
    duration: float,
    starts: IntArray,
    predictions: Sequence[WindowPrediction],
    decode: DecodeReport | None = None,
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
        window_seconds=model.window_seconds,
        hop_seconds=plan.hop_seconds,
        times=starts / model.sample_rate,
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=embeddings.mean(axis=0),
        decode=decode,
    )
