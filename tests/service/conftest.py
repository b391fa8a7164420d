"""Service test fixtures: tiny real models exported with training.export, real audio, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server_process import ServerProcess
from service_helpers import (
    API_KEY,
    DEFAULT_MODEL,
    MAX_BATCH_SIZE,
    MAX_DURATION_S,
    MAX_UPLOAD_MB,
    MIN_DURATION_S,
    OTHER_MODEL,
)
from service.settings import get_settings
from tiny_model import export_tiny_model


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("saved_models")
    export_tiny_model(directory, name=DEFAULT_MODEL, sample_rate=16_000, chunk_samples=16_000, seed=1)
    export_tiny_model(directory, name=OTHER_MODEL, sample_rate=8_000, chunk_samples=4_000, seed=2)
    return directory


def server_settings(models_dir: Path, db: Path, **overrides: str) -> dict[str, str]:
    return {
        "TAGGER_MODELS_DIR": str(models_dir),
        "TAGGER_DEFAULT_MODEL": DEFAULT_MODEL,
        "TAGGER_DB": str(db),
        "TAGGER_API_KEY": API_KEY,
        "TAGGER_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "TAGGER_MAX_DURATION_S": str(MAX_DURATION_S),
        "TAGGER_MIN_DURATION_S": str(MIN_DURATION_S),
        "TAGGER_MAX_BATCH_SIZE": str(MAX_BATCH_SIZE),
        # Long enough that concurrent test requests reliably meet in one batch.
        "TAGGER_MAX_WAIT_MS": "150",
        "TAGGER_TF_INTRA_OP_THREADS": "1",
        "TAGGER_DECODE_WORKERS": "2",
        **overrides,
    }


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


@pytest.fixture
def clean_settings() -> Iterator[None]:
    """For in-process apps: settings are re-read from the environment the test sets up."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
