"""Service test fixtures: tiny real models exported with training.export, real audio, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server_process import ServerProcess
from support.service_helpers import API_KEY, server_settings


@pytest.fixture(scope="session")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One shared server for the HTTP tests (each test uses its own audio, so results do not collide)."""
    directory = tmp_path_factory.mktemp("server")
    process = ServerProcess(server_settings(models_dir, directory / "tagger.db"), directory / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as http:
        yield http
