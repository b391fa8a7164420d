"""The results store: every computed tagging result in one SQLite file, keyed by result id.

WAL journal with `synchronous=FULL`: a commit returns only after the WAL is fsynced, so a result
the API has answered survives `kill -9` and a power cut alike. The cost, one fsync per new
song, is small next to running the model on it. Ids are only ever SQL parameters, never paths.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from tagger.predictions import TagRecord

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    tags TEXT NOT NULL,            -- JSON list, the model's vocabulary in score order
    duration REAL NOT NULL,        -- seconds of decoded audio
    window_seconds REAL NOT NULL,
    hop_seconds REAL NOT NULL,
    times BLOB NOT NULL,           -- float64 (n_windows,) window start seconds
    taggram BLOB NOT NULL,         -- float32 (n_windows, n_tags)
    scores BLOB NOT NULL,          -- float32 (n_tags,)
    embedding BLOB NOT NULL,       -- float32 (D,)
    created_at REAL NOT NULL       -- unix seconds
)
"""


class ResultStore(Protocol):
    """Where results live, by id. Every backend keeps an acknowledged `save` through a crash."""

    def save(self, record: TagRecord) -> None:
        """Store `record`; a result already stored under its id is kept (same id, same result)."""

    def get(self, result_id: str) -> TagRecord | None:
        """The stored result, or `None`."""

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def open_store(location: Path) -> ResultStore:
    """The store at `location` (TAGGER_DB): a path is an SQLite file."""
    return SQLiteStore(location)


class SQLiteStore:
    """Thread-safe access to the results table (one connection, one lock: writes are rare and short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(
                f"{path} has results schema version {version}; this server reads {SCHEMA_VERSION}"
            )
        self._connection.execute(SCHEMA)
        self._connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def save(self, record: TagRecord) -> None:
        """Insert `record`; a result already stored under its id is kept (same id, same result)."""
        row = (
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
        )
        with self._lock:
            self._connection.execute(
                f"INSERT OR IGNORE INTO results VALUES ({', '.join('?' * len(row))})", row
            )

    def get(self, result_id: str) -> TagRecord | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT id, model_name, model_version, tags, duration, window_seconds, hop_seconds, "
                "times, taggram, scores, embedding, created_at FROM results WHERE id = ?",
                (result_id,),
            ).fetchone()
        if row is None:
            return None
        tags = json.loads(row[3])
        times = np.frombuffer(row[7], dtype="<f8")
        return TagRecord(
            id=row[0],
            model_name=row[1],
            model_version=row[2],
            tags=tags,
            duration=row[4],
            window_seconds=row[5],
            hop_seconds=row[6],
            times=times,
            taggram=np.frombuffer(row[8], dtype="<f4").reshape(times.size, len(tags)),
            scores=np.frombuffer(row[9], dtype="<f4"),
            embedding=np.frombuffer(row[10], dtype="<f4"),
            created_at=row[11],
        )

    def close(self) -> None:
        with self._lock:
            self._connection.close()
