"""Core test fixtures: a new, empty results store on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.postgres_server import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a new, empty store lives: an SQLite file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "results.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()
