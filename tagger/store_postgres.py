"""The results store in PostgreSQL, shared by every API replica and the batch tools (`TAGGER_DB=postgresql://…`).

Rows are the shared codec's (`tagger.store.RECORD_COLUMNS`), so a column added there needs only a migration
here. Guarantees:
- durable: every write commits with `synchronous_commit=on`, so an answered result survives a crash;
- one row per id: `INSERT … ON CONFLICT DO NOTHING` keeps the first of two identical uploads;
- `since` never skips a row: writers take one advisory lock per transaction, so positions (an identity
  column) become visible in order, and a reader that has seen position n has seen everything before it.
  The cost: one commit (one fsync) at a time across the fleet, about one per new song;
- an unreachable server is `StoreUnavailableError` (503, retry later); the pool reconnects by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg.rows import TupleRow

from tagger.errors import StoreUnavailableError
from tagger.predictions import TagRecord
from tagger.profiles import Profile, ProfileKind
from tagger.store import (
    PROFILE_COLUMNS,
    RECORD_COLUMNS,
    decode_profile,
    decode_record,
    encode_profile,
    encode_record,
)

logger = logging.getLogger(__name__)

# Each entry upgrades the schema by one version, recorded in `tagger_schema`; a new database runs them all.
MIGRATIONS = (
    """
    CREATE TABLE results (
        position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,  -- storage order, for `since`
        id TEXT PRIMARY KEY,
        model_name TEXT NOT NULL,
        model_version INTEGER NOT NULL,
        tags TEXT NOT NULL,
        duration DOUBLE PRECISION NOT NULL,
        window_seconds DOUBLE PRECISION NOT NULL,
        hop_seconds DOUBLE PRECISION NOT NULL,
        times BYTEA NOT NULL,
        taggram BYTEA NOT NULL,
        scores BYTEA NOT NULL,
        embedding BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )
    """,
    "ALTER TABLE results ADD COLUMN decode TEXT",  # JSON DecodeReport of a damaged file; NULL when clean
    """
    CREATE TABLE profiles (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        ids TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version INTEGER NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Advisory lock keys (any bigint, unique to this application): one for migrations, one serialising writes.
MIGRATION_LOCK = 0x7461_6767_6572_0001
WRITE_LOCK = 0x7461_6767_6572_0002
POOL_SIZE = 8
# A request waits this long for a connection before it is answered 503; long enough for a busy pool.
POOL_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 5

_COLUMNS = ", ".join(RECORD_COLUMNS)
_PROFILE_COLUMNS = ", ".join(PROFILE_COLUMNS)
_INSERT = (
    f"INSERT INTO results ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(RECORD_COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)


@contextmanager
def unavailable_as_503(url: str) -> Iterator[None]:
    """A lost or refused connection becomes `StoreUnavailableError`; a bug in our SQL stays a 500."""
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
        logger.warning("PostgreSQL at %s is unavailable: %s", redacted(url), error)
        raise StoreUnavailableError("the results database is unavailable; retry later") from error


def redacted(url: str) -> str:
    """`url` without its password, for logs and messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _configure(connection: psycopg.Connection[TupleRow]) -> None:
    """Every pooled connection: autocommit, and a commit returns only once it is on disk."""
    connection.autocommit = True
    connection.execute("SET synchronous_commit = on")


class PostgresStore:
    """A `ResultStore` on a connection pool; thread-safe (each call borrows its own connection)."""

    def __init__(self, url: str) -> None:
        self._url = url
        with unavailable_as_503(url), psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
            _configure(connection)
            migrate(connection)
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=POOL_TIMEOUT_S,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
            configure=_configure,
            # A connection is checked when borrowed, so one broken by a server restart is replaced, not used.
            check=psycopg_pool.ConnectionPool.check_connection,
            open=True,
            name="tagger-results",
        )

    def save(self, record: TagRecord) -> None:
        row = encode_record(record)
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                connection.execute(_INSERT, row)

    def get(self, result_id: str) -> TagRecord | None:
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM results WHERE id = %s", (result_id,)).fetchone()
        return None if row is None else decode_record(row)

    def since(self, cursor: int, limit: int) -> list[tuple[int, TagRecord]]:
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            rows = connection.execute(
                f"SELECT position, {_COLUMNS} FROM results WHERE position > %s ORDER BY position LIMIT %s",
                (cursor, limit),
            ).fetchall()
        return [(row[0], decode_record(row[1:])) for row in rows]

    def save_profile(self, profile: Profile) -> None:
        values = ", ".join(["%s"] * len(PROFILE_COLUMNS))
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in PROFILE_COLUMNS[1:])
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            connection.execute(
                f"INSERT INTO profiles ({_PROFILE_COLUMNS}) VALUES ({values}) "
                f"ON CONFLICT (name) DO UPDATE SET {updates}",
                encode_profile(profile),
            )

    def get_profile(self, name: str) -> Profile | None:
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            row = connection.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else decode_profile(row)

    def delete_profile(self, name: str) -> bool:
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            return connection.execute("DELETE FROM profiles WHERE name = %s", (name,)).rowcount > 0

    def profiles(self, kind: ProfileKind | None = None) -> list[Profile]:
        with unavailable_as_503(self._url), self._pool.connection() as connection:
            rows = connection.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE %s::text IS NULL OR kind = %s ORDER BY name",
                (kind, kind),
            ).fetchall()
        return [decode_profile(row) for row in rows]

    def close(self) -> None:
        self._pool.close()


def migrate(connection: psycopg.Connection[TupleRow]) -> None:
    """Bring the schema to `SCHEMA_VERSION` under an advisory lock: replicas starting together take turns."""
    connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS tagger_schema (version INTEGER NOT NULL)")
        row = connection.execute("SELECT max(version) FROM tagger_schema").fetchone()
        version = row[0] if row is not None and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the results database has schema version {version}; this server reads up to {SCHEMA_VERSION}"
            )
        for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
            with connection.transaction():
                connection.execute(statement)
                connection.execute("INSERT INTO tagger_schema (version) VALUES (%s)", (number,))
            logger.info("results schema migrated to version %d", number)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
