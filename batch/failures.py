"""Per-file failures of batch runs, in a `failures` table of the result store's SQLite file.

One row per (path, model version, hop): the latest attempt's error class and reason. A file that
later succeeds (fixed or replaced) loses its row, so the table always lists what is still missing.
The API never reads this table; it lives in the same file so a catalogue's results and its gaps
are kept, copied and backed up together.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.song import TagPlan

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    path TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    hop_seconds REAL NOT NULL,
    error TEXT NOT NULL,           -- exception class, e.g. UndecodableAudioError, FileNotFoundError
    reason TEXT NOT NULL,          -- its message, for the person fixing the file
    failed_at REAL NOT NULL,       -- unix seconds
    PRIMARY KEY (path, model_name, model_version, hop_seconds)
)
"""


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

    def __init__(self, db: Path, plan: TagPlan) -> None:
        db.parent.mkdir(parents=True, exist_ok=True)
        self._scope = (plan.model.name, plan.model.version, plan.hop_seconds)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(SCHEMA)

    def record(self, failure: Failure) -> None:
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                (failure.path, *self._scope, failure.error, failure.reason, time.time()),
            )

    def resolve(self, path: Path) -> None:
        """Forget an earlier failure of `path`: it has been tagged now."""
        with self._lock:
            self._connection.execute(
                "DELETE FROM failures WHERE path = ? AND model_name = ? AND model_version = ? "
                "AND hop_seconds = ?",
                (str(path), *self._scope),
            )

    def failures(self) -> list[Failure]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT path, error, reason FROM failures WHERE model_name = ? AND model_version = ? "
                "AND hop_seconds = ? ORDER BY path",
                self._scope,
            ).fetchall()
        return [Failure(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
