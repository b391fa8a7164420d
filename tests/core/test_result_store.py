"""The SQLite results store: exact round trip, durable settings, first result kept, survives reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from tagger.predictions import TagRecord
from tagger.store import open_store


def make_record(result_id: str, seed: int) -> TagRecord:
    rng = np.random.default_rng(seed)
    taggram = rng.random((3, 4), dtype=np.float32)
    return TagRecord(
        id=result_id,
        model_name="tiny",
        model_version=2,
        tags=["a", "b", "c", "d"],
        duration=2.7,
        window_seconds=1.0,
        hop_seconds=1.0,
        times=np.array([0.0, 1.0, 2.0]),
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=rng.random(5, dtype=np.float32),
    )


def test_round_trip_is_exact_and_survives_reopening(tmp_path: Path) -> None:
    record = make_record("ab" * 16, seed=0)
    store = open_store(tmp_path / "results.db")
    store.save(record)
    store.close()

    loaded = open_store(tmp_path / "results.db").get(record.id)
    assert loaded is not None
    for name in ("id", "model_name", "model_version", "tags", "duration", "window_seconds", "hop_seconds"):
        assert getattr(loaded, name) == getattr(record, name)
    for name in ("times", "taggram", "scores", "embedding"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(record, name))


def test_unknown_id_is_none_and_a_second_save_keeps_the_first(tmp_path: Path) -> None:
    store = open_store(tmp_path / "results.db")
    assert store.get("0" * 32) is None
    store.save(make_record("cd" * 16, seed=1))
    store.save(make_record("cd" * 16, seed=2))
    loaded = store.get("cd" * 16)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.embedding, make_record("cd" * 16, seed=1).embedding)


def test_the_database_stays_in_wal_mode(tmp_path: Path) -> None:
    open_store(tmp_path / "results.db").close()
    connection = sqlite3.connect(tmp_path / "results.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
