"""The JSON shapes of the HTTP API (what the OpenAPI document describes)."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field, StringConstraints

from tagger.aggregate import TrackSetMean
from tagger.model_format import FrontendSpec, ModelCard
from tagger.predictions import TagRecord
from tagger.profiles import Profile

MAX_AGGREGATE_IDS = 10_000


class ErrorDetail(BaseModel):
    """Every error the service answers itself: one sentence for the person who sent the request."""

    detail: str


class ModelRef(BaseModel):
    name: str
    version: int


class TagScore(BaseModel):
    tag: str
    score: float


class DecodeInfo(BaseModel):
    """What decoding skipped in a damaged file; the tags describe the audio that decoded."""

    skipped_frames: int = Field(description="Packets or frames the decoder refused and skipped.")
    skipped_seconds: float = Field(description="Seconds of audio those frames held.")
    missing_seconds: float = Field(
        description="How much shorter the decoded audio is than the file announces (0 if it does not say)."
    )
    warning: str = Field(description="The same, in one sentence.")


class TagResult(BaseModel):
    """Song-level result: the mean over windows of the model's sigmoid scores and embeddings."""

    id: str = Field(
        description="Stable id of this audio + model version + hop; the same upload gets the same id."
    )
    model: ModelRef
    duration: float = Field(description="Seconds of decoded audio.")
    n_windows: int = Field(description="Windows the song was cut into (rows of the taggram).")
    window_seconds: float
    hop_seconds: float
    tags: list[str] = Field(description="The model's vocabulary, in the order of `scores`.")
    scores: list[float] = Field(description="Song-level score of every tag (mean over windows), in [0, 1].")
    top: list[TagScore] = Field(description="The `top_k` highest scores, highest first.")
    embedding: list[float] = Field(description="Mean over windows of the model's embedding.")
    taggram_url: str
    decode: DecodeInfo | None = Field(
        None, description="Set when the file was damaged and tagged from what decoded; null for a clean file."
    )

    @classmethod
    def from_record(cls, record: TagRecord, *, top_k: int, taggram_url: str) -> TagResult:
        order = np.argsort(-record.scores, kind="stable")[:top_k]
        return cls(
            id=record.id,
            model=ModelRef(name=record.model_name, version=record.model_version),
            duration=record.duration,
            n_windows=record.n_windows,
            window_seconds=record.window_seconds,
            hop_seconds=record.hop_seconds,
            tags=record.tags,
            scores=record.scores.tolist(),
            top=[TagScore(tag=record.tags[i], score=float(record.scores[i])) for i in order],
            embedding=record.embedding.tolist(),
            taggram_url=taggram_url,
            decode=None if record.decode is None else DecodeInfo(**record.decode.as_dict()),
        )


class Taggram(BaseModel):
    """Tags over time: one row of scores per window."""

    id: str
    model: ModelRef
    tags: list[str]
    times: list[float] = Field(description="Start second of each window.")
    window_seconds: float
    hop_seconds: float
    scores: list[list[float]] = Field(description="n_windows × n_tags sigmoid scores.")

    @classmethod
    def from_record(cls, record: TagRecord) -> Taggram:
        return cls(
            id=record.id,
            model=ModelRef(name=record.model_name, version=record.model_version),
            tags=record.tags,
            times=record.times.tolist(),
            window_seconds=record.window_seconds,
            hop_seconds=record.hop_seconds,
            scores=record.taggram.tolist(),
        )


class ModelInfo(BaseModel):
    name: str
    status: Literal["loading", "ready", "failed"]
    error: str | None = Field(None, description="Why the model failed to load (status `failed`).")
    version: int
    default: bool
    device: str | None = Field(description="Where the model runs (`/GPU:0`, `/CPU:0`); null unless ready.")
    tags: list[str]
    embedding_size: int
    sample_rate: int
    window_seconds: float
    frontend: FrontendSpec = Field(description="The mel front end inside the graph, as exported.")
    default_hop_seconds: float = Field(description="Seconds between windows when a request names no hop.")
    card: ModelCard


class UnreadableModel(BaseModel):
    """A model folder the server could not read: it is skipped, the others serve."""

    name: str
    status: Literal["failed"] = "failed"
    error: str


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "loading", "failed"] = Field(
        description="`ready` once every model has loaded or failed and the default model serves."
    )
    models: dict[str, int] = Field(description="Readable model names and versions.")
    failed: dict[str, str] = Field(default_factory=dict, description="Models skipped, with the reason.")
    detail: str | None = None


class AggregateRequest(BaseModel):
    """A set of tracks to average: an artist's songs, the tracks a curator accepted, …"""

    ids: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]] = Field(
        min_length=1,
        max_length=MAX_AGGREGATE_IDS,
        description="Result ids (from POST /tag or the batch tools); an id given twice counts once.",
    )
    model: str | None = Field(
        None, description="If given, every stored result must come from this model (422 otherwise)."
    )


class AggregateResult(BaseModel):
    """The mean song vector and embedding over the stored results, every track weighing the same."""

    model: ModelRef
    count: int = Field(description="Results averaged: the distinct requested ids that are stored.")
    tags: list[str]
    scores: list[float] = Field(description="Mean song-level score of every tag, in the order of `tags`.")
    embedding: list[float] = Field(description="Mean song-level embedding.")
    missing: list[str] = Field(description="Requested ids with no stored result, left out of the mean.")

    @classmethod
    def from_mean(cls, mean: TrackSetMean, *, missing: list[str]) -> AggregateResult:
        return cls(
            model=ModelRef(name=mean.model_name, version=mean.model_version),
            count=mean.count,
            tags=mean.tags,
            scores=mean.scores.tolist(),
            embedding=mean.embedding.tolist(),
            missing=missing,
        )


MAX_NEIGHBOURS = 1000
MAX_PROFILE_IDS = 10_000
ResultIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class Neighbour(BaseModel):
    id: str
    score: float = Field(description="Cosine similarity to the query (tag search: the weighted tag score).")


class SimilarResult(BaseModel):
    """Stored tracks of one model version, best first, without the query, its exact duplicates or repeats."""

    query: str | None = Field(description="The query's result id (null when the query is a profile).")
    model: ModelRef
    by: Literal["embedding", "tags"]
    results: list[Neighbour]


class SearchRequest(BaseModel):
    """Tracks whose tags best match weights: a negative weight pushes a tag away. Filters are optional."""

    weights: dict[str, float] = Field(
        min_length=1, description='Tag → weight, e.g. `{"guitar": 1, "Mellow": 0.5, "metal": -1}`.'
    )
    model: str | None = Field(None, description="Model name; the default model if omitted.")
    k: int = Field(10, ge=1, le=MAX_NEIGHBOURS)
    min_duration: float | None = Field(None, ge=0, description="Seconds.")
    max_duration: float | None = Field(None, ge=0, description="Seconds.")
    min_scores: dict[str, float] = Field(
        default_factory=dict, description="Tag → the lowest song-level score a track may have for it."
    )


class SearchResult(BaseModel):
    model: ModelRef
    results: list[Neighbour] = Field(description="By descending Σ weight × song-level score.")


class ProfileRequest(BaseModel):
    kind: Literal["artist", "curator", "playlist"]
    ids: list[ResultIdText] = Field(
        min_length=1,
        max_length=MAX_PROFILE_IDS,
        description="Stored result ids, all of one model version; an id given twice counts once.",
    )


class ProfileOut(BaseModel):
    name: str
    kind: Literal["artist", "curator", "playlist"]
    ids: list[str]
    model: ModelRef
    updated_at: float = Field(description="Unix seconds.")

    @classmethod
    def from_profile(cls, profile: Profile) -> ProfileOut:
        return cls(
            name=profile.name,
            kind=profile.kind,
            ids=profile.ids,
            model=ModelRef(name=profile.model_name, version=profile.model_version),
            updated_at=profile.updated_at,
        )


class ProfileMatch(BaseModel):
    name: str
    kind: Literal["artist", "curator", "playlist"]
    score: float = Field(description="Cosine similarity of the two profiles' vectors.")


class ProfileMatches(BaseModel):
    """Other profiles of the same model version, closest first."""

    profile: str
    by: Literal["embedding", "tags"]
    aggregation: Literal["mean", "majority", "softmax"]
    matches: list[ProfileMatch]
