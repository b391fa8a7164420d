"""Load and soak on 127.0.0.1: many clients for a bounded time, then the numbers that must hold.

No 5xx (every answer 200), resident memory flat after warm-up, and every answer equal to a sequential
run of the same audio (same ids for the same bytes, scores within 1e-5 whatever the batch they ran in).
`RELIABILITY_SOAK_SECONDS` (default 30) and `RELIABILITY_SOAK_CLIENTS` (default 16) set the size of the
run; docs/reliability.md has a long one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from support.load_generator import Answer, base_songs, run_clients, tag
from support.reliability_helpers import KIB_PER_MIB, api_client, memory_kib, running_server, server_errors
from support.service_helpers import DEFAULT_MODEL, metric

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "30"))
SOAK_CLIENTS = int(os.environ.get("RELIABILITY_SOAK_CLIENTS", "16"))
SCORE_TOLERANCE = 1e-5
# Between one third of the run and its end, resident memory may move by allocator noise, not by a leak.
RSS_GROWTH_TOLERANCE_MIB = 24
MEMORY_SAMPLE_SECONDS = 0.5

log = logging.getLogger(__name__)


def _close(answer: Answer, reference: Answer, key: str) -> bool:
    assert answer.body is not None and reference.body is not None
    return np.allclose(answer.body[key], reference.body[key], rtol=0, atol=SCORE_TOLERANCE)


def test_soak(models_dir: Path, tmp_path: Path) -> None:
    songs = base_songs(tmp_path / "songs")
    with (
        running_server(models_dir, tmp_path / "server", TAGGER_MAX_WAIT_MS="10") as server,
        api_client(server) as http,
    ):
        reference = {name: tag(http, upload) for name, upload in songs.items()}  # one at a time
        assert {answer.status for answer in reference.values()} == {200}
        rss_before = memory_kib(server)
        memory: list[tuple[float, int]] = []
        finished = threading.Event()
        started = time.monotonic()

        def sample_memory() -> None:
            while not finished.wait(MEMORY_SAMPLE_SECONDS):
                memory.append((time.monotonic() - started, memory_kib(server)))

        sampler = threading.Thread(target=sample_memory)
        sampler.start()
        answers = run_clients(
            server.base_url,
            songs,
            clients=SOAK_CLIENTS,
            keep_going=lambda: time.monotonic() - started < SOAK_SECONDS,
        )
        elapsed = time.monotonic() - started
        finished.set()
        sampler.join()
        rss_end = memory_kib(server)
        rss_third = next(rss for at, rss in memory if at >= SOAK_SECONDS / 3)
        computed = metric(http, "tagger_results_total", model=DEFAULT_MODEL, source="computed")
        errors = server_errors(http)

    failed = [(a.upload.filename, a.status, a.error or a.body) for a in answers if a.status != 200]
    fresh = [a for a in answers if a.upload.filename != songs[a.upload.song].filename]
    repeats = [a for a in answers if a.upload.filename == songs[a.upload.song].filename]
    log.info(
        "soak: %d requests (%d fresh, %d repeats) from %d clients in %.0f s (%.1f/s), %d non-200, "
        "%d 5xx; RSS before %.0f MiB, at 1/3 %.0f MiB, end %.0f MiB, peak %.0f MiB",
        len(answers), len(fresh), len(repeats), SOAK_CLIENTS, elapsed, len(answers) / elapsed,
        len(failed), errors, rss_before / KIB_PER_MIB, rss_third / KIB_PER_MIB, rss_end / KIB_PER_MIB,
        max(rss for _, rss in memory) / KIB_PER_MIB,
    )  # fmt: skip
    assert not failed, failed[:5]
    assert errors == 0
    assert fresh and repeats
    assert computed >= len(fresh) + len(songs), "fresh uploads must run the model, not hit the store"
    # Same audio, same answer: the batch a window ran in (with other requests' windows) changes nothing.
    mismatched = [
        a.upload.filename
        for a in answers
        if not (
            _close(a, reference[a.upload.song], "scores") and _close(a, reference[a.upload.song], "embedding")
        )
    ]
    assert not mismatched, mismatched[:5]
    assert all(a.body["id"] == reference[a.upload.song].body["id"] for a in repeats)  # type: ignore[index]
    fresh_ids = {a.body["id"] for a in fresh}  # type: ignore[index]
    assert len(fresh_ids) == len(fresh) and not fresh_ids & {r.body["id"] for r in reference.values()}  # type: ignore[index]
    growth = (rss_end - rss_third) / KIB_PER_MIB
    assert growth < RSS_GROWTH_TOLERANCE_MIB, f"resident memory grew {growth:.0f} MiB after warm-up"
