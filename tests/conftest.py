"""Test-wide set-up: keep TensorFlow quiet. Helpers live in `tests/support` (on pytest's `pythonpath`)."""

import os
from collections.abc import Iterator

import pytest

from support.postgres_server import PostgresServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the session; tests take a fresh database each (`database()`)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.destroy()
