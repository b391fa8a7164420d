"""A real server for benchmarks (`python -m service` in a subprocess) and one timed POST /tag."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support.server_process import ServerProcess

DEFAULT_MODEL = "MSD_musicnn"


def models_dir() -> Path:
    return Path(os.environ.get("TAGGER_MODELS_DIR", "saved_models")).resolve()


@contextmanager
def running_server(scratch: Path, settings: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """A server on 127.0.0.1 that loads only `DEFAULT_MODEL` (a symlink), with a fresh results store."""
    only_default = scratch / "models"
    only_default.mkdir(parents=True, exist_ok=True)
    (only_default / DEFAULT_MODEL).symlink_to(models_dir() / DEFAULT_MODEL)
    environment = {
        "TAGGER_MODELS_DIR": str(only_default),
        "TAGGER_DEFAULT_MODEL": DEFAULT_MODEL,
        "TAGGER_DB": str(scratch / "results.db"),
        **(settings or {}),
    }
    server = ServerProcess(environment, scratch / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


def post_tag(
    http: httpx.Client, song: Path, params: dict[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    """Seconds from sending `song` to reading the whole 200 response of POST /tag, and its JSON."""
    content = song.read_bytes()
    started = time.perf_counter()
    response = http.post("/tag", params=params, files={"file": (song.name, content, "audio/mpeg")})
    response.raise_for_status()
    return time.perf_counter() - started, response.json()
