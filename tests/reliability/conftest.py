"""Reliability fixtures: a tiny real model and one shared guarded server (key, limits, debug logs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.reliability_helpers import GUARDED_UPLOAD_MB, running_server
from support.server_process import ServerProcess


@pytest.fixture(scope="session")
def guarded_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server hostile input, access control and contract fuzzing run against; logs at debug level."""
    directory = tmp_path_factory.mktemp("guarded")
    (directory / "uploads").mkdir()
    with running_server(
        models_dir,
        directory,
        TAGGER_MAX_UPLOAD_MB=str(GUARDED_UPLOAD_MB),
        TAGGER_UPLOAD_DIR=str(directory / "uploads"),
        TAGGER_LOG_LEVEL="debug",
    ) as server:
        yield server
