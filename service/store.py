"""The results store: every computed tagging result in one SQLite file, keyed by result id.

WAL journal with `synchronous=FULL`: a commit returns only after the WAL is fsynced, so a result
the API has answered survives `kill -9` and a power cut alike. The cost, one fsync per new
song, is small next to running the model on it. Ids are only ever SQL parameters, never paths.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    tags TEXT NOT NULL,            -- JSON list, the model's vocabulary in score order
    duration REAL NOT NULL,        -- seconds of decoded audio
    chunk_seconds REAL NOT NULL,
    hop_seconds REAL NOT NULL,
    times BLOB NOT NULL,           -- float64 (n_chunks,) window start seconds
    taggram BLOB NOT NULL,         -- float32 (n_chunks, n_tags)
    scores BLOB NOT NULL,          -- float32 (n_tags,)
    embedding BLOB NOT NULL,       -- float32 (D,)
    created_at REAL NOT NULL       -- unix seconds
)
"""


@dataclass(frozen=True)
class TagRecord:
    """One song tagged by one model version at one hop: everything the API can answer about it."""

    id: str
    model_name: str
    model_version: int
    tags: list[str]
    duration: float
    chunk_seconds: float
    hop_seconds: float
    times: np.ndarray
    taggram: np.ndarray
    scores: np.ndarray
    embedding: np.ndarray
    created_at: float = field(default_factory=time.time)

    @property
    def n_chunks(self) -> int:
        return int(self.times.size)


class ResultStore:
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
            record.chunk_seconds,
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
                "SELECT id, model_name, model_version, tags, duration, chunk_seconds, hop_seconds, "
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
            chunk_seconds=row[5],
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
