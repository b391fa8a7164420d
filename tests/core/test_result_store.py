"""The SQLite results store: exact round trip, durable settings, first result kept, migrations, catch-up."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tagger.decode_report import DecodeReport
from tagger.predictions import TagRecord
from tagger.store import MIGRATIONS, RECORD_COLUMNS, SCHEMA_VERSION, encode_record, open_store


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


def test_the_decode_report_of_a_damaged_file_round_trips(tmp_path: Path) -> None:
    report = DecodeReport(skipped_frames=3, skipped_seconds=0.078, missing_seconds=1.5, warning="damaged")
    store = open_store(tmp_path / "results.db")
    store.save(dataclasses.replace(make_record("ab" * 16, seed=0), decode=report))
    store.save(make_record("cd" * 16, seed=1))
    damaged, clean = store.get("ab" * 16), store.get("cd" * 16)
    assert damaged is not None and damaged.decode == report
    assert clean is not None and clean.decode is None


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


def test_since_lists_new_results_in_storage_order_after_a_cursor(tmp_path: Path) -> None:
    store = open_store(tmp_path / "results.db")
    ids = [f"{n:032x}" for n in (7, 3, 9)]
    for seed, result_id in enumerate(ids):
        store.save(make_record(result_id, seed=seed))
    store.save(make_record(ids[0], seed=5))  # already stored: no new position
    first = store.since(0, limit=2)
    assert [record.id for _, record in first] == ids[:2]
    rest = store.since(first[-1][0], limit=10)
    assert [record.id for _, record in rest] == ids[2:]
    assert store.since(rest[-1][0], limit=10) == []


def test_a_version_1_database_is_migrated_and_keeps_its_results(tmp_path: Path) -> None:
    """Databases written before "window" replaced "chunk" have a `chunk_seconds` column."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(MIGRATIONS[0])
    old.execute("PRAGMA user_version=1")
    record = make_record("ef" * 16, seed=3)
    row = encode_record(record)[: RECORD_COLUMNS.index("decode")]  # the columns version 1 had
    old.execute(f"INSERT INTO results VALUES ({', '.join('?' * len(row))})", row)
    old.commit()
    old.close()

    store = open_store(path)
    loaded = store.get(record.id)
    assert loaded is not None and loaded.window_seconds == record.window_seconds and loaded.decode is None
    np.testing.assert_array_equal(loaded.taggram, record.taggram)
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="schema version"):
        open_store(path)
