"""Average song-level results over a set of tracks: an artist's songs, the tracks a curator accepted.

The mean of the stored song vectors and embeddings, every track weighing the same (not by
duration): the artist- and curator-level vectors a recommender compares. Shared by
`POST /aggregate` and `python -m batch aggregate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tagger.arrays import FloatArray
from tagger.errors import MixedModelsError
from tagger.predictions import TagRecord
from tagger.store import ResultStore


@dataclass(frozen=True)
class TrackSetMean:
    model_name: str
    model_version: int
    tags: list[str]
    count: int
    scores: FloatArray  # (n_tags,) mean song vector
    embedding: FloatArray  # (D,) mean embedding


def lookup(store: ResultStore, ids: Iterable[str]) -> tuple[list[TagRecord], list[str]]:
    """(stored results, ids with no result); each id counts once, in first-seen order."""
    found: list[TagRecord] = []
    missing: list[str] = []
    for result_id in dict.fromkeys(ids):
        record = store.get(result_id)
        if record is None:
            missing.append(result_id)
        else:
            found.append(record)
    return found, missing


def mean_of(records: Sequence[TagRecord], *, model_name: str | None = None) -> TrackSetMean:
    """The mean over `records`, which must share one model version (and be of `model_name` if given)."""
    if not records:
        raise ValueError("there is nothing to average: no stored results")
    models = sorted({(record.model_name, record.model_version) for record in records})
    if len(models) > 1:
        names = ", ".join(f"{name} v{version}" for name, version in models)
        raise MixedModelsError(f"the results come from {len(models)} models ({names}); average one at a time")
    ((name, version),) = models
    if model_name is not None and name != model_name:
        raise MixedModelsError(f"the results are from model {name!r}, not {model_name!r}")
    return TrackSetMean(
        model_name=name,
        model_version=version,
        tags=records[0].tags,
        count=len(records),
        scores=np.mean([record.scores for record in records], axis=0, dtype=np.float64),
        embedding=np.mean([record.embedding for record in records], axis=0, dtype=np.float64),
    )
