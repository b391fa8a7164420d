"""Profiles: named sets of stored results (an artist's tracks, a curator's accepted ones, a playlist).

A profile's vector is its "identity" in the users' report: the mean of its tracks' song vectors by
default, or the report's other two aggregations, chosen per request:

- `majority`: every track votes for its highest-scoring tag; the vector is each tag's share of the votes;
- `softmax`: every track's scores become a distribution over tags (softmax of the sigmoid's logits,
  i.e. each tag's odds over the sum of odds), averaged over the tracks.

Embeddings have no votes or odds: a profile's embedding is always the mean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from tagger.arrays import FloatArray
from tagger.errors import EmptyProfileError, ProfileModelsError, ProfileNotFoundError, ResultNotFoundError
from tagger.predictions import TagRecord
from tagger.similarity import Space

if TYPE_CHECKING:  # the store module imports `Profile` from here
    from tagger.store import ResultStore

ProfileKind = Literal["artist", "curator", "playlist"]
Aggregation = Literal["mean", "majority", "softmax"]
LOGIT_CLIP = 1e-6  # keeps the logit of a score of exactly 0 or 1 finite


@dataclass(frozen=True)
class Profile:
    name: str
    kind: ProfileKind
    ids: list[str]
    model_name: str
    model_version: int
    updated_at: float = field(default_factory=time.time)


def new_profile(
    name: str, kind: ProfileKind, ids: Sequence[str], records: Sequence[TagRecord | None]
) -> Profile:
    """The profile of `ids` (their `records`, `None` where not stored), checked: stored, one model version."""
    if not ids:
        raise EmptyProfileError(f"profile {name!r} has no tracks")
    missing = [result_id for result_id, record in zip(ids, records, strict=True) if record is None]
    if missing:
        raise ResultNotFoundError(f"no stored result with id {', '.join(map(repr, missing))}")
    found = [record for record in records if record is not None]
    models = sorted({(record.model_name, record.model_version) for record in found})
    if len(models) > 1:
        names = ", ".join(f"{model} v{version}" for model, version in models)
        raise ProfileModelsError(
            f"profile {name!r} mixes results of {names}; a profile's tracks must come from one model version"
        )
    ((model_name, model_version),) = models
    return Profile(name, kind, list(dict.fromkeys(ids)), model_name, model_version)


def profile_vector(records: Sequence[TagRecord], space: Space, aggregation: Aggregation) -> FloatArray:
    """The profile's identity in `space` (see the module docstring for the aggregations)."""
    if not records:
        raise EmptyProfileError("the profile has no stored tracks")
    if space == "embedding" or aggregation == "mean":
        vectors = np.stack(
            [record.embedding if space == "embedding" else record.scores for record in records]
        )
        mean: FloatArray = vectors.mean(axis=0, dtype=np.float64)
        return mean
    scores = np.stack([record.scores for record in records]).astype(np.float64)
    if aggregation == "majority":
        votes = np.bincount(scores.argmax(axis=1), minlength=scores.shape[1])
        return votes / len(records)
    clipped = np.clip(scores, LOGIT_CLIP, 1 - LOGIT_CLIP)
    logits = np.log(clipped / (1 - clipped))
    odds = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax: FloatArray = (odds / odds.sum(axis=1, keepdims=True)).mean(axis=0)
    return softmax


def save_profile(store: ResultStore, name: str, kind: ProfileKind, ids: Sequence[str]) -> Profile:
    """Create or replace profile `name`, once its tracks are checked (stored, one model version)."""
    profile = new_profile(name, kind, ids, [store.get(result_id) for result_id in ids])
    store.save_profile(profile)
    return profile


def stored_profile(store: ResultStore, name: str) -> Profile:
    profile = store.get_profile(name)
    if profile is None:
        raise ProfileNotFoundError(f"no profile named {name!r}")
    return profile


def profile_records(store: ResultStore, profile: Profile) -> list[TagRecord]:
    """The profile's stored tracks (results are never deleted, so all of them)."""
    return [record for result_id in profile.ids if (record := store.get(result_id)) is not None]


def matching_profiles(
    store: ResultStore,
    profile: Profile,
    space: Space,
    aggregation: Aggregation,
    *,
    kind: ProfileKind | None = None,
    k: int,
) -> list[tuple[Profile, float]]:
    """The `k` other profiles (of `kind` if given, of the same model version) nearest `profile` by cosine."""
    query = profile_vector(profile_records(store, profile), space, aggregation)
    scored = [
        (other, cosine(query, profile_vector(profile_records(store, other), space, aggregation)))
        for other in store.profiles(kind)
        if other.name != profile.name
        and (other.model_name, other.model_version) == (profile.model_name, profile.model_version)
    ]
    return sorted(scored, key=lambda pair: -pair[1])[:k]


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Cosine similarity; 0 when either vector is all zeros (it points nowhere)."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 0.0 if norms == 0 else float(np.dot(a, b) / norms)
