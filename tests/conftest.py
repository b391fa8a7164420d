"""Test-wide set-up: TensorFlow kept quiet; the tiny exported models, PostgreSQL and the damaged corpus.

Helpers live in `tests/support` (on pytest's `pythonpath`).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.damaged_audio import DamagedFile, damaged_files
from support.debian_music import debian_music
from support.postgres_server import PostgresServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`tiny` and `tiny_fast`, exported once per session with training.export (real Kapre + TF models)."""
    from support.tiny_model import export_tiny_models  # imports Keras: only when a test needs the models

    return export_tiny_models(tmp_path_factory.mktemp("saved_models"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the session; tests take a fresh database each (`database()`)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def damaged_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DamagedFile]:
    """The damaged-but-decodable corpus (tests/support/damaged_audio.py), made once per session."""
    return damaged_files(tmp_path_factory.mktemp("damaged"), debian_music()[0])
