"""What a model says about audio: one window's prediction, and one song's stored result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tagger.arrays import FloatArray
from tagger.decode_report import DecodeReport


@dataclass(frozen=True)
class WindowPrediction:
    """The model's output for one window: tag scores (n_tags,) and embedding (D,)."""

    scores: FloatArray
    embedding: FloatArray


@dataclass(frozen=True)
class TagRecord:
    """One song tagged by one model version at one hop: everything the API can answer about it."""

    id: str
    model_name: str
    model_version: int
    tags: list[str]
    duration: float
    window_seconds: float
    hop_seconds: float
    times: FloatArray
    taggram: FloatArray
    scores: FloatArray
    embedding: FloatArray
    decode: DecodeReport | None = None  # set when the audio was damaged: what decoding skipped
    created_at: float = field(default_factory=time.time)

    @property
    def n_windows(self) -> int:
        return int(self.times.size)
