"""Service test fixtures: tiny real models exported with training.export, real audio, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server_process import ServerProcess
from support.service_helpers import API_KEY, DEFAULT_MODEL, OTHER_MODEL, server_settings
from support.tiny_model import export_tiny_model


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("saved_models")
    export_tiny_model(directory, name=DEFAULT_MODEL, sample_rate=16_000, window_samples=16_000, seed=1)
    export_tiny_model(directory, name=OTHER_MODEL, sample_rate=8_000, window_samples=4_000, seed=2)
    return directory


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
