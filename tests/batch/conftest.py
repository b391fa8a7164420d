"""Batch test fixtures: a tiny exported model (and the ported MSD_musicnn), a small catalogue of real
audio with a manifest, and one real server whose database the batch tools write into while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.batch_helpers import (
    MAX_SECONDS,
    MIN_SECONDS,
    MUSICNN,
    REPO,
    Catalogue,
    TaggedCatalogue,
    make_catalogue,
    run_batch,
)
from support.server_process import ServerProcess
from support.service_helpers import API_KEY, server_settings


@pytest.fixture(scope="session")
def models_dir(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test models, and the ported MSD_musicnn linked from saved_models/ (`make test` ports it)."""
    directory = tmp_path_factory.mktemp("batch_models")
    for model in models_dir.iterdir():
        (directory / model.name).symlink_to(model, target_is_directory=True)
    musicnn = REPO / "saved_models" / MUSICNN
    if not musicnn.is_dir():
        raise FileNotFoundError(f"{musicnn} is missing: run `make models`")
    (directory / MUSICNN).symlink_to(musicnn, target_is_directory=True)
    return directory


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    return make_catalogue(tmp_path_factory.mktemp("catalogue"))


@pytest.fixture(scope="session")
def server_env(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The server's TAGGER_* settings; the batch CLI run with them writes where the server reads."""
    return server_settings(models_dir, tmp_path_factory.mktemp("shared") / "tagger.db")


@pytest.fixture(scope="session")
def server(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(server_env, tmp_path_factory.mktemp("server") / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=120) as http:
        yield http


@pytest.fixture(scope="session")
def tagged(
    catalogue: Catalogue,
    server: ServerProcess,
    server_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> TaggedCatalogue:
    """Runs with the server's TAGGER_* environment (no --db, --models-dir, --model), while it serves."""
    limits = ("--min-duration", MIN_SECONDS, "--max-duration", MAX_SECONDS)
    (first,) = run_batch("tag", catalogue.folder, "--limit", 3, "--workers", 1, *limits, env=server_env)
    exports = {
        suffix: tmp_path_factory.mktemp("exports") / f"tracks.{suffix}" for suffix in ("jsonl", "parquet")
    }
    started = time.time()
    (second,) = run_batch(
        "tag", catalogue.manifest, *limits, *(f"--export={path}" for path in exports.values()), env=server_env
    )
    return TaggedCatalogue(first, second, started, Path(server_env["TAGGER_DB"]), exports)
