"""Per-file failures of batch runs, in a `failures` table beside the results (SQLite file or PostgreSQL).

One row per (path, model version, hop): the latest attempt's error class and reason. A file that
later succeeds (fixed or replaced) loses its row, so the table always lists what is still missing.
The API never reads this table; it lives in the same database so a catalogue's results and its gaps
are kept, copied and backed up together.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagger.errors import TaggerError
from tagger.song import TagPlan
from tagger.store import is_postgres_url

logger = logging.getLogger(__name__)

# Portable SQL (SQLite ≥ 3.24 and PostgreSQL) with `?` parameters; `%s` for psycopg.
SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    path TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    hop_seconds DOUBLE PRECISION NOT NULL,
    error TEXT NOT NULL,           -- exception class, e.g. UndecodableAudioError, FileNotFoundError
    reason TEXT NOT NULL,          -- its message, for the person fixing the file
    failed_at DOUBLE PRECISION NOT NULL,  -- unix seconds
    PRIMARY KEY (path, model_name, model_version, hop_seconds)
)
"""
RECORD = (
    "INSERT INTO failures VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (path, model_name, model_version, hop_seconds) DO UPDATE SET "
    "error = excluded.error, reason = excluded.reason, failed_at = excluded.failed_at"
)
RESOLVE = "DELETE FROM failures WHERE path = ? AND model_name = ? AND model_version = ? AND hop_seconds = ?"
LIST = (
    "SELECT path, error, reason FROM failures WHERE model_name = ? AND model_version = ? "
    "AND hop_seconds = ? ORDER BY path"
)


@dataclass(frozen=True)
class Failure:
    """Why one file has no result: the error's class and message."""

    path: str
    error: str
    reason: str


def failure_of(path: object, error: Exception) -> Failure:
    """Describe (and log) why `path` failed; an error that is not a known input problem gets its traceback."""
    if isinstance(error, (TaggerError, OSError)):
        logger.warning("%s: %s", path, error)
    else:
        logger.error("%s: unexpected error", path, exc_info=error)
    return Failure(str(path), type(error).__name__, str(error))


class FailureLog:
    """Thread-safe writes to the failures table, scoped to one model version and hop."""

    def __init__(self, db: str | Path, plan: TagPlan) -> None:
        self._scope = (plan.model.name, plan.model.version, plan.hop_seconds)
        self._lock = threading.Lock()
        self._connection: Any
        if is_postgres_url(db):
            import psycopg  # only a PostgreSQL result store needs it

            self._connection = psycopg.connect(str(db), autocommit=True)
            self._parameter = "%s"
        else:
            Path(db).parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._parameter = "?"
        self._execute(SCHEMA)

    def _execute(self, statement: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self._connection.execute(statement.replace("?", self._parameter), parameters)
            return list(cursor.fetchall()) if cursor.description else []

    def record(self, failure: Failure) -> None:
        self._execute(RECORD, (failure.path, *self._scope, failure.error, failure.reason, time.time()))

    def resolve(self, path: Path) -> None:
        """Forget an earlier failure of `path`: it has been tagged now."""
        self._execute(RESOLVE, (str(path), *self._scope))

    def failures(self) -> list[Failure]:
        return [Failure(*row) for row in self._execute(LIST, self._scope)]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
