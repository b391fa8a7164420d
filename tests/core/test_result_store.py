"""The result store contract, run against both backends (SQLite file, real PostgreSQL 15 server), then
what is particular to each: SQLite's WAL and `user_version` migrations, PostgreSQL's locked migrations."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest

from support.postgres_server import PostgresServer
from tagger import store_postgres
from tagger.decode_report import DecodeReport
from tagger.errors import StoreUnavailableError
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
        hop_seconds=0.1,
        times=np.array([0.0, 0.1, 0.2]),
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=rng.random(5, dtype=np.float32),
    )


def test_round_trip_is_exact_and_survives_reopening(location: str) -> None:
    record = make_record("ab" * 16, seed=0)
    store = open_store(location)
    store.save(record)
    store.close()

    reopened = open_store(location)
    loaded = reopened.get(record.id)
    reopened.close()
    assert loaded is not None
    for name in RECORD_COLUMNS[:7]:
        assert getattr(loaded, name) == getattr(record, name)
    for name in ("times", "taggram", "scores", "embedding"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(record, name))
    assert loaded.created_at == record.created_at


def test_the_decode_report_of_a_damaged_file_round_trips(location: str) -> None:
    report = DecodeReport(skipped_frames=3, skipped_seconds=0.078, missing_seconds=1.5, warning="damaged")
    store = open_store(location)
    store.save(dataclasses.replace(make_record("ab" * 16, seed=0), decode=report))
    store.save(make_record("cd" * 16, seed=1))
    damaged, clean = store.get("ab" * 16), store.get("cd" * 16)
    assert damaged is not None and damaged.decode == report
    assert clean is not None and clean.decode is None


def test_unknown_id_is_none_and_a_second_save_keeps_the_first(location: str) -> None:
    store = open_store(location)
    assert store.get("0" * 32) is None
    store.save(make_record("cd" * 16, seed=1))
    store.save(make_record("cd" * 16, seed=2))
    loaded = store.get("cd" * 16)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.embedding, make_record("cd" * 16, seed=1).embedding)
    store.close()


def test_since_lists_new_results_in_storage_order_after_a_cursor(location: str) -> None:
    store = open_store(location)
    ids = [f"{n:032x}" for n in (7, 3, 9)]
    for seed, result_id in enumerate(ids):
        store.save(make_record(result_id, seed=seed))
    store.save(make_record(ids[0], seed=5))  # already stored: no new position
    first = store.since(0, limit=2)
    assert [record.id for _, record in first] == ids[:2]
    rest = store.since(first[-1][0], limit=10)
    assert [record.id for _, record in rest] == ids[2:]
    assert store.since(rest[-1][0], limit=10) == []
    store.close()


def test_concurrent_saves_of_one_id_through_two_stores_keep_one_row(location: str) -> None:
    """Two stores on one database (two replicas), 16 threads saving the same result at once."""
    stores = [open_store(location), open_store(location)]
    barrier = threading.Barrier(16)

    def save(n: int) -> None:
        barrier.wait()
        stores[n % 2].save(make_record("ee" * 16, seed=n))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(save, range(16)))
    assert [record.id for _, record in stores[0].since(0, limit=100)] == ["ee" * 16]
    for store in stores:
        store.close()


def test_a_reader_following_since_misses_nothing_while_writers_race(location: str) -> None:
    """A replica's index catches up with `since` while others write: every result arrives exactly once."""
    writers, per_writer = 4, 15
    reader_store = open_store(location)
    done = threading.Event()
    seen: list[str] = []

    def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # read before the last poll, so that poll sees every write
            for position, record in reader_store.since(cursor, limit=7):
                assert position > cursor
                cursor = position
                seen.append(record.id)
            if finished and not reader_store.since(cursor, limit=1):
                return

    def write(writer: int) -> None:
        store = open_store(location)
        for n in range(per_writer):
            store.save(make_record(f"{writer:016x}{n:016x}", seed=n))
        store.close()

    reader = threading.Thread(target=follow)
    reader.start()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    done.set()
    reader.join(timeout=60)
    reader_store.close()
    assert sorted(seen) == sorted(f"{w:016x}{n:016x}" for w in range(writers) for n in range(per_writer))


def test_the_sqlite_database_stays_in_wal_mode(tmp_path: Path) -> None:
    open_store(tmp_path / "results.db").close()
    connection = sqlite3.connect(tmp_path / "results.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_sqlite_database_is_migrated_and_keeps_its_results(tmp_path: Path) -> None:
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


def test_a_sqlite_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="schema version"):
        open_store(path)


def test_replicas_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.database()
    barrier = threading.Barrier(6)

    def start(_: int) -> None:
        barrier.wait()
        open_store(url).close()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(start, range(6)))
    versions = postgres.rows(url, "SELECT version FROM tagger_schema ORDER BY version")
    assert versions == [(n,) for n in range(1, store_postgres.SCHEMA_VERSION + 1)]


def test_a_postgres_database_from_a_newer_version_is_refused(postgres: PostgresServer) -> None:
    url = postgres.database()
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("INSERT INTO tagger_schema VALUES (%s)", (store_postgres.SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="schema version"):
        open_store(url)


def test_an_unreachable_postgres_server_is_store_unavailable(postgres: PostgresServer) -> None:
    closed_port = postgres.url().replace(str(postgres.port), "1")
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        open_store(closed_port)
