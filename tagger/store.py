"""The results store: every computed tagging result keyed by result id, in one SQLite file (one server)
or in PostgreSQL (`tagger/store_postgres.py`, several replicas), both through the row codec below.

WAL journal with `synchronous=FULL`: a commit returns only after the WAL is fsynced, so a result
the API has answered survives `kill -9` and a power cut alike. The cost, one fsync per new
song, is small next to running the model on it. Ids are only ever SQL parameters, never paths.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tagger.decode_report import decode_report, encode_report
from tagger.predictions import TagRecord
from tagger.profiles import Profile, ProfileKind

# Each entry upgrades the schema by one version (SQLite's `user_version`); a new database runs them all.
MIGRATIONS = (
    """
    CREATE TABLE results (
        id TEXT PRIMARY KEY,
        model_name TEXT NOT NULL,
        model_version INTEGER NOT NULL,
        tags TEXT NOT NULL,            -- JSON list, the model's vocabulary in score order
        duration REAL NOT NULL,        -- seconds of decoded audio
        chunk_seconds REAL NOT NULL,
        hop_seconds REAL NOT NULL,
        times BLOB NOT NULL,           -- float64 (n_windows,) window start seconds
        taggram BLOB NOT NULL,         -- float32 (n_windows, n_tags)
        scores BLOB NOT NULL,          -- float32 (n_tags,)
        embedding BLOB NOT NULL,       -- float32 (D,)
        created_at REAL NOT NULL       -- unix seconds
    )
    """,
    "ALTER TABLE results RENAME COLUMN chunk_seconds TO window_seconds",
    "ALTER TABLE results ADD COLUMN decode TEXT",  # JSON DecodeReport of a damaged file; NULL when clean
    """
    CREATE TABLE profiles (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,            -- artist, curator, playlist
        ids TEXT NOT NULL,             -- JSON list of result ids
        model_name TEXT NOT NULL,      -- every track's model version (checked on save)
        model_version INTEGER NOT NULL,
        updated_at REAL NOT NULL       -- unix seconds
    )
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The stored columns, in `encode_record` order; every backend stores a record as this row.
RECORD_COLUMNS = (
    "id",
    "model_name",
    "model_version",
    "tags",
    "duration",
    "window_seconds",
    "hop_seconds",
    "times",
    "taggram",
    "scores",
    "embedding",
    "created_at",
    "decode",
)


def encode_record(record: TagRecord) -> tuple[Any, ...]:
    """`record` as a row of `RECORD_COLUMNS`: JSON text and little-endian array bytes."""
    return (
        record.id,
        record.model_name,
        record.model_version,
        json.dumps(record.tags),
        record.duration,
        record.window_seconds,
        record.hop_seconds,
        record.times.astype("<f8").tobytes(),
        record.taggram.astype("<f4").tobytes(),
        record.scores.astype("<f4").tobytes(),
        record.embedding.astype("<f4").tobytes(),
        record.created_at,
        encode_report(record.decode),
    )


def decode_record(row: Sequence[Any]) -> TagRecord:
    """The record a row of `RECORD_COLUMNS` holds."""
    values = dict(zip(RECORD_COLUMNS, row, strict=True))
    tags = json.loads(values["tags"])
    times = np.frombuffer(values["times"], dtype="<f8")
    return TagRecord(
        id=values["id"],
        model_name=values["model_name"],
        model_version=values["model_version"],
        tags=tags,
        duration=values["duration"],
        window_seconds=values["window_seconds"],
        hop_seconds=values["hop_seconds"],
        times=times,
        taggram=np.frombuffer(values["taggram"], dtype="<f4").reshape(times.size, len(tags)),
        scores=np.frombuffer(values["scores"], dtype="<f4"),
        embedding=np.frombuffer(values["embedding"], dtype="<f4"),
        created_at=values["created_at"],
        decode=decode_report(values["decode"]),
    )


class ResultStore(Protocol):
    """Where results live, by id. Every backend keeps an acknowledged `save` through a crash."""

    def save(self, record: TagRecord) -> None:
        """Store `record`; a result already stored under its id is kept (same id, same result)."""

    def get(self, result_id: str) -> TagRecord | None:
        """The stored result, or `None`."""

    def since(self, cursor: int, limit: int) -> list[tuple[int, TagRecord]]:
        """Up to `limit` results stored after position `cursor` (0: the first), in storage order, each with
        its position: how an index built from the store catches up with what others wrote."""

    def save_profile(self, profile: Profile) -> None:
        """Create the profile, or replace the one of that name."""

    def get_profile(self, name: str) -> Profile | None:
        """The profile of that name, or `None`."""

    def delete_profile(self, name: str) -> bool:
        """Delete the profile; whether there was one."""

    def profiles(self, kind: ProfileKind | None = None) -> list[Profile]:
        """Every profile (of `kind`, if given), by name."""

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_store(location: str | Path) -> ResultStore:
    """The store at `location` (TAGGER_DB): a `postgresql://` URL is PostgreSQL, a path an SQLite file."""
    if is_postgres_url(location):
        from tagger.store_postgres import PostgresStore  # psycopg is imported only when it is used

        return PostgresStore(str(location))
    return SQLiteStore(Path(location))


class SQLiteStore:
    """Thread-safe access to the results table (one connection, one lock: writes are rare and short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._migrate(path)

    def _migrate(self, path: Path) -> None:
        """Bring the schema to `SCHEMA_VERSION`, one transaction per step (a crash leaves a valid version)."""
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} has results schema version {version}; this server reads up to {SCHEMA_VERSION}"
            )
        for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._connection:
                self._connection.execute("BEGIN IMMEDIATE")
                self._connection.execute(statement)
                self._connection.execute(f"PRAGMA user_version={number}")

    def save(self, record: TagRecord) -> None:
        """Insert `record`; a result already stored under its id is kept (same id, same result)."""
        row = encode_record(record)
        with self._lock:
            self._connection.execute(
                f"INSERT OR IGNORE INTO results ({', '.join(RECORD_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(row))})",
                row,
            )

    def get(self, result_id: str) -> TagRecord | None:
        with self._lock:
            row = self._connection.execute(
                f"SELECT {', '.join(RECORD_COLUMNS)} FROM results WHERE id = ?", (result_id,)
            ).fetchone()
        return None if row is None else decode_record(row)

    def since(self, cursor: int, limit: int) -> list[tuple[int, TagRecord]]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT rowid, {', '.join(RECORD_COLUMNS)} FROM results "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (cursor, limit),
            ).fetchall()
        return [(row[0], decode_record(row[1:])) for row in rows]

    def save_profile(self, profile: Profile) -> None:
        with self._lock:
            self._connection.execute(
                f"INSERT OR REPLACE INTO profiles ({', '.join(PROFILE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                encode_profile(profile),
            )

    def get_profile(self, name: str) -> Profile | None:
        with self._lock:
            row = self._connection.execute(
                f"SELECT {', '.join(PROFILE_COLUMNS)} FROM profiles WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else decode_profile(row)

    def delete_profile(self, name: str) -> bool:
        with self._lock:
            return self._connection.execute("DELETE FROM profiles WHERE name = ?", (name,)).rowcount > 0

    def profiles(self, kind: ProfileKind | None = None) -> list[Profile]:
        with self._lock:
            rows = self._connection.execute(
                f"SELECT {', '.join(PROFILE_COLUMNS)} FROM profiles "
                "WHERE ? IS NULL OR kind = ? ORDER BY name",
                (kind, kind),
            ).fetchall()
        return [decode_profile(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()


# The stored profile columns, in `encode_profile` order; every backend stores a profile as this row.
PROFILE_COLUMNS = ("name", "kind", "ids", "model_name", "model_version", "updated_at")


def encode_profile(profile: Profile) -> tuple[Any, ...]:
    """`profile` as a row of `PROFILE_COLUMNS` (its result ids as a JSON list)."""
    return (
        profile.name,
        profile.kind,
        json.dumps(profile.ids),
        profile.model_name,
        profile.model_version,
        profile.updated_at,
    )


def decode_profile(row: Sequence[Any]) -> Profile:
    name, kind, ids, model_name, model_version, updated_at = row
    return Profile(name, kind, json.loads(ids), model_name, model_version, updated_at)
