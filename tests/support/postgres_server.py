"""A throwaway PostgreSQL 15 server for tests and benchmarks: initdb in a temporary folder, a free port.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the `postgres` system user
(Debian's package creates it); otherwise as the current user. Only 127.0.0.1 and its own socket folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from support.server_process import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "tagger"


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresServer:
    """A server to `start()`, `stop()` and start again (same data and port), then `destroy()`."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and the server user must reach its folder.
        self.directory = Path(tempfile.mkdtemp(prefix="tagger-pg-"))
        self.data = self.directory / "data"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(BIN / "initdb", "-D", self.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")

    def _run(self, *command: object) -> None:
        subprocess.run(
            [*_as_server_user(), *map(str, command)], check=True, capture_output=True, cwd=self.directory
        )

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            BIN / "pg_ctl", "start", "-w", "-D", self.data, "-l", self.directory / "server.log", "-o", options
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast`: a clean shutdown; `immediate`: a crash (no checkpoint; the next start replays the WAL)."""
        self._run(BIN / "pg_ctl", "stop", "-w", "-m", mode, "-D", self.data)

    def destroy(self) -> None:
        subprocess.run(
            [*_as_server_user(), str(BIN / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data)],
            capture_output=True,
            cwd=self.directory,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """The URL of a new, empty database on this server."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def rows(self, url: str, query: str) -> list[tuple[object, ...]]:
        with psycopg.connect(url) as connection:
            return connection.execute(query).fetchall()
