"""The search index over a real SQLite store: catch-up, exclusions, and snapshots that survive a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.predictions import TagRecord
from tagger.similarity import SimilarityIndex
from tagger.store import ResultStore, open_store


def song(result_id: str, embedding: list[float], version: int = 1) -> TagRecord:
    scores = np.abs(np.array(embedding[:4], dtype=np.float32))
    return TagRecord(
        id=result_id,
        model_name="tiny",
        model_version=version,
        tags=["a", "b", "c", "d"],
        duration=2.0,
        window_seconds=1.0,
        hop_seconds=1.0,
        times=np.array([0.0]),
        taggram=scores[None, :],
        scores=scores,
        embedding=np.array(embedding, dtype=np.float32),
    )


def fill(store: ResultStore) -> None:
    store.save(song("q" * 32, [1, 0, 0, 0, 0]))
    store.save(song("t" * 32, [1, 0, 0, 0, 0]))  # an exact duplicate of the query
    store.save(song("n" * 32, [0.9, 0.1, 0, 0, 0]))
    store.save(song("f" * 32, [0, 0, 1, 0, 0]))
    store.save(song("o" * 32, [1, 0, 0, 0, 0], version=2))  # another model version


def test_nearest_leaves_out_the_query_its_twins_and_other_versions(tmp_path: Path) -> None:
    store = open_store(tmp_path / "tagger.db")
    fill(store)
    index = SimilarityIndex(store)
    found = index.similar(song("q" * 32, [1, 0, 0, 0, 0]), "embedding", 10)
    assert [item.id for item in found] == ["n" * 32, "f" * 32]
    assert found[0].score > 0.99 and abs(found[1].score) < 1e-6
    store.save(song("m" * 32, [0.95, 0.05, 0, 0, 0]))  # stored by anyone: found at the next query
    assert [item.id for item in index.similar(song("q" * 32, [1, 0, 0, 0, 0]), "embedding", 1)] == ["m" * 32]
    store.close()


def test_a_snapshot_is_restored_then_caught_up_and_refused_for_another_database(tmp_path: Path) -> None:
    store = open_store(tmp_path / "tagger.db")
    fill(store)
    index = SimilarityIndex(store)
    index.catch_up()
    index.save(tmp_path / "tagger.index")
    store.save(song("m" * 32, [0.95, 0.05, 0, 0, 0]))

    restored = SimilarityIndex(store)
    assert restored.restore(tmp_path / "tagger.index")
    assert len(restored.models()[("tiny", 1)].ids) == 5  # 4 from the snapshot, then 1 caught up
    found = restored.similar(song("q" * 32, [1, 0, 0, 0, 0]), "embedding", 2)
    assert [item.id for item in found] == ["m" * 32, "n" * 32]
    store.close()

    other = open_store(tmp_path / "other.db")
    other.save(song("x" * 32, [0, 1, 0, 0, 0]))
    assert not SimilarityIndex(other).restore(tmp_path / "tagger.index")
    assert not SimilarityIndex(other).restore(tmp_path / "missing.index")
    other.close()
