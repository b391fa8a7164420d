"""Search the stored results: nearest tracks by cosine, and tracks ranked by weighted tag scores.

One `ModelIndex` per model version (vectors of different versions are not comparable). Each holds
an HNSW graph (usearch) per space, the song embedding and the song-level tag vector, because exact
search reads every vector per query and misses the 50 ms p99 goal at 1 M tracks on 2 cores while the
graph answers in milliseconds (docs/benchmarks.md, "Similarity search": latency and recall@10).
Tag search scores every track (a weighted sum with filters cannot use a cosine graph); it is a
(n × 50) matrix-vector product.

The index catches up through `ResultStore.since` before every query, so a result is searchable as
soon as any process (the API, the batch CLI, another replica) has stored it. It is restored from a
snapshot at start rather than rebuilt, which takes far longer at scale (docs/similarity.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from usearch.index import Index

from tagger.arrays import FloatArray, IntArray
from tagger.errors import ResultNotFoundError, UnknownTagError
from tagger.predictions import TagRecord

if TYPE_CHECKING:  # the store module imports profiles, which import this module's `Space`
    from tagger.store import ResultStore

Space = Literal["embedding", "tags"]
ModelKey = tuple[str, int]  # (model name, version)

# A quarter of usearch's insertion effort (128), so a graph of 1 M vectors builds in minutes on 2 shared
# cores, and 16× its search effort (64): at 1 M that is still 8 ms p99 with the best recall measured
# (bench/similarity.py: recall@10 0.81 at 1 M, ≥ 0.986 up to 100 k; more insertion effort is next).
GRAPH_CONNECTIVITY = 16
GRAPH_EXPANSION_ADD = 32
GRAPH_EXPANSION_SEARCH = 1024
CATCH_UP_BATCH = 256
SNAPSHOT_MANIFEST = "index.json"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Neighbour:
    id: str
    score: float  # cosine similarity, or the weighted tag score for tag search


@dataclass(frozen=True)
class TagQuery:
    """Weighted tags (negative: away from that tag) and filters, over one model version's tracks."""

    weights: dict[str, float]
    k: int
    min_duration: float | None = None
    max_duration: float | None = None
    min_scores: dict[str, float] = field(default_factory=dict)


def fingerprint(record: TagRecord) -> bytes:
    """Identical song vectors and embeddings: the same audio, stored again (another hop, a lossless copy)."""
    return hashlib.blake2b(
        record.scores.astype("<f4").tobytes() + record.embedding.astype("<f4").tobytes(), digest_size=16
    ).digest()


def song_vector(record: TagRecord, space: Space) -> FloatArray:
    return record.embedding if space == "embedding" else record.scores


class _Growing:
    """A float32 matrix that grows by rows with amortised doubling (appending per result stays O(1))."""

    def __init__(self, width: int, rows: FloatArray | None = None) -> None:
        self._data = np.zeros((64, width), dtype=np.float32) if rows is None else rows.astype(np.float32)
        self.size = 0 if rows is None else len(rows)

    def append(self, row: FloatArray) -> None:
        if self.size == len(self._data):
            self._data = np.concatenate([self._data, np.zeros_like(self._data)])
        self._data[self.size] = row
        self.size += 1

    @property
    def rows(self) -> FloatArray:
        return self._data[: self.size]


class ModelIndex:
    """One model version's stored results: a cosine graph per space, raw tag scores and durations."""

    def __init__(self, tags: list[str], embedding_size: int) -> None:
        self.tags = tags
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self._fingerprints: list[bytes] = []
        self._graphs: dict[Space, Index] = {
            "embedding": new_graph(embedding_size),
            "tags": new_graph(len(tags)),
        }
        self._scores = _Growing(len(tags))
        self._durations = _Growing(1)

    def add(self, records: Sequence[TagRecord]) -> None:
        """Index `records` (those not indexed yet); a batch goes into the graphs at once, on every core."""
        new = list({record.id: record for record in records if record.id not in self.rows}.values())
        if not new:
            return
        rows = np.arange(len(self.ids), len(self.ids) + len(new))
        for space, graph in self._graphs.items():
            graph.add(rows, np.stack([song_vector(record, space) for record in new]).astype(np.float32))
        for record in new:
            self.rows[record.id] = len(self.ids)
            self.ids.append(record.id)
            self._fingerprints.append(fingerprint(record))
            self._scores.append(record.scores)
            self._durations.append(np.array([record.duration], dtype=np.float32))

    def save(self, folder: Path, stem: str) -> None:
        """Write the graphs and the arrays beside them to `folder/stem.*`."""
        for space, graph in self._graphs.items():
            graph.save(str(folder / f"{stem}.{space}.usearch"))
        np.savez(
            folder / f"{stem}.npz",
            ids=np.array(self.ids, dtype="U32"),
            fingerprints=np.array(self._fingerprints, dtype="S16"),
            scores=self._scores.rows,
            durations=self._durations.rows,
        )

    @classmethod
    def restore(cls, folder: Path, stem: str, tags: list[str]) -> ModelIndex:
        """The index `save` wrote (graphs loaded into memory)."""
        index = cls.__new__(cls)
        arrays = np.load(folder / f"{stem}.npz")
        index.tags = tags
        index.ids = arrays["ids"].tolist()
        index.rows = {result_id: row for row, result_id in enumerate(index.ids)}
        index._fingerprints = arrays["fingerprints"].tolist()
        index._scores = _Growing(len(tags), arrays["scores"])
        index._durations = _Growing(1, arrays["durations"])
        index._graphs = {}
        for space in ("embedding", "tags"):
            graph = Index.restore(str(folder / f"{stem}.{space}.usearch"))
            if graph is None or len(graph) != len(index.ids):
                raise ValueError(f"{folder / stem} {space} graph is missing or does not match its ids")
            index._graphs[space] = graph
        return index

    def vector(self, result_id: str, space: Space) -> FloatArray:
        """The song vector the graph holds for `result_id` (float32, exactly as stored)."""
        return np.asarray(self._graphs[space].get(self.rows[result_id]), dtype=np.float32)

    def nearest(
        self, query: FloatArray, space: Space, k: int, *, exclude: Collection[str] = ()
    ) -> list[Neighbour]:
        """The `k` nearest tracks by cosine, without `exclude`, exact duplicates of them or of each other."""
        excluded_prints = {self._fingerprints[self.rows[i]] for i in exclude if i in self.rows}
        graph, wanted = self._graphs[space], k + len(exclude) + 1
        while True:
            matches = graph.search(np.asarray(query, dtype=np.float32), min(wanted, len(self.ids)), threads=1)
            found = list(self._distinct(matches.keys, 1.0 - matches.distances, exclude, excluded_prints, k))
            if len(found) == k or wanted >= len(self.ids):
                return found
            wanted *= 4

    def search(self, query: TagQuery) -> list[Neighbour]:
        """Tracks by descending Σ weight × score, among those passing the filters (exact: every track)."""
        weights = np.zeros(len(self.tags), dtype=np.float32)
        for tag, weight in query.weights.items():
            weights[tag_position(self.tags, tag)] += weight
        scores, durations = self._scores.rows, self._durations.rows[:, 0]
        keep = np.ones(len(self.ids), dtype=bool)
        if query.min_duration is not None:
            keep &= durations >= query.min_duration
        if query.max_duration is not None:
            keep &= durations <= query.max_duration
        for tag, minimum in query.min_scores.items():
            keep &= scores[:, tag_position(self.tags, tag)] >= minimum
        candidates = np.flatnonzero(keep)
        totals = scores[candidates] @ weights
        order = np.argsort(-totals, kind="stable")
        return list(self._distinct(candidates[order], totals[order], (), set(), query.k))

    def _distinct(
        self,
        rows: IntArray,
        scores: FloatArray,
        exclude: Collection[str],
        excluded_prints: set[bytes],
        k: int,
    ) -> Iterator[Neighbour]:
        seen = set(excluded_prints)
        count = 0
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            result_id, printed = self.ids[row], self._fingerprints[row]
            if count == k:
                return
            if result_id in exclude or printed in seen:
                continue
            seen.add(printed)
            count += 1
            yield Neighbour(result_id, float(score))


def tag_position(tags: list[str], tag: str) -> int:
    """The column of `tag`: its exact name, else its only case-insensitive match."""
    if tag in tags:
        return tags.index(tag)
    folded = [i for i, name in enumerate(tags) if name.casefold() == tag.casefold()]
    if len(folded) != 1:
        raise UnknownTagError(f"unknown tag {tag!r}; this model's tags are {tags}")
    return folded[0]


def new_graph(dims: int) -> Index:
    """An empty cosine graph with the index's build and search effort (benchmarks build the same)."""
    return Index(
        ndim=dims,
        metric="cos",
        dtype="f32",
        connectivity=GRAPH_CONNECTIVITY,
        expansion_add=GRAPH_EXPANSION_ADD,
        expansion_search=GRAPH_EXPANSION_SEARCH,
    )


class SimilarityIndex:
    """Every model version's `ModelIndex`, kept up to date with the store; thread-safe."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cursor = 0
        self._last_id = ""  # the result at `_cursor`: a snapshot is valid only for a store that has it there
        self._models: dict[ModelKey, ModelIndex] = {}

    def save(self, folder: Path) -> None:
        """Snapshot the index into `folder` (replaced whole: written beside it, then renamed into place)."""
        staging = folder.with_name(folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with self._lock:
            models = []
            for number, ((name, version), index) in enumerate(self._models.items()):
                index.save(staging, str(number))
                models.append({"name": name, "version": version, "tags": index.tags, "stem": str(number)})
            manifest = {"cursor": self._cursor, "last_id": self._last_id, "models": models}
        (staging / SNAPSHOT_MANIFEST).write_text(json.dumps(manifest))
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)

    def restore(self, folder: Path) -> bool:
        """Load the snapshot in `folder` if it belongs to this store (then `catch_up` adds what is newer).

        A missing, unreadable or foreign snapshot (the database was replaced) is ignored: the index is
        then rebuilt from the store. Whether the snapshot was used.
        """
        try:
            manifest = json.loads((folder / SNAPSHOT_MANIFEST).read_text())
            cursor = manifest["cursor"]
            at_cursor = self._store.since(cursor - 1, 1) if cursor else []
            if [(position, record.id) for position, record in at_cursor] != (
                [(cursor, manifest["last_id"])] if cursor else []
            ):
                logger.warning("index snapshot %s is not of this database; rebuilding", folder)
                return False
            models = {
                (model["name"], model["version"]): ModelIndex.restore(folder, model["stem"], model["tags"])
                for model in manifest["models"]
            }
        except (OSError, ValueError, KeyError) as error:
            logger.warning("index snapshot %s unusable (%s); rebuilding", folder, error)
            return False
        with self._lock:
            self._models, self._cursor, self._last_id = models, manifest["cursor"], manifest["last_id"]
        return True

    def catch_up(self) -> int:
        """Add every result stored since the last call (by anyone); the number added."""
        added = 0
        with self._lock:
            while batch := self._store.since(self._cursor, CATCH_UP_BATCH):
                by_model: dict[ModelKey, list[TagRecord]] = {}
                for _, record in batch:
                    by_model.setdefault((record.model_name, record.model_version), []).append(record)
                for records in by_model.values():
                    self._model_for(records[0]).add(records)
                self._cursor, self._last_id = batch[-1][0], batch[-1][1].id
                added += len(batch)
        return added

    def _model_for(self, record: TagRecord) -> ModelIndex:
        key = (record.model_name, record.model_version)
        if key not in self._models:
            self._models[key] = ModelIndex(record.tags, record.embedding.size)
        return self._models[key]

    def models(self) -> dict[ModelKey, ModelIndex]:
        """Every model version's index, caught up (for offline use: not locked against later writes)."""
        self.catch_up()
        return dict(self._models)

    def stored(self, result_id: str) -> TagRecord:
        record = self._store.get(result_id)
        if record is None:
            raise ResultNotFoundError(f"no result with id {result_id!r}")
        return record

    def similar(self, record: TagRecord, space: Space, k: int) -> list[Neighbour]:
        """The stored tracks of `record`'s model version nearest to it."""
        model = (record.model_name, record.model_version)
        return self.nearest(model, song_vector(record, space), space, k, exclude=[record.id])

    def nearest(
        self, model: ModelKey, query: FloatArray, space: Space, k: int, *, exclude: Collection[str] = ()
    ) -> list[Neighbour]:
        self.catch_up()
        with self._lock:
            index = self._models.get(model)
            return [] if index is None else index.nearest(query, space, k, exclude=exclude)

    def search(self, model: ModelKey, tags: list[str], query: TagQuery) -> list[Neighbour]:
        """Tag search over `model`'s tracks; `tags` (its vocabulary) checks names even if none is stored."""
        for tag in [*query.weights, *query.min_scores]:
            tag_position(tags, tag)
        self.catch_up()
        with self._lock:
            index = self._models.get(model)
            return [] if index is None else index.search(query)
