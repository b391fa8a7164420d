"""`kill -9` with requests in flight: every result answered 200 is still there, identical, after a restart.

`RELIABILITY_CRASH_ANSWERS` (default 60) sets how many 200s come before the kill.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from support.load_generator import Answer, base_songs, run_clients
from support.reliability_helpers import api_client, running_server

pytestmark = pytest.mark.slow

CLIENTS = 8
ANSWERS_BEFORE_KILL = int(os.environ.get("RELIABILITY_CRASH_ANSWERS", "60"))

log = logging.getLogger(__name__)


def test_every_answered_result_survives_kill_9(models_dir: Path, tmp_path: Path) -> None:
    songs = base_songs(tmp_path / "songs")
    db = tmp_path / "results" / "tagger.db"
    answered = threading.Semaphore(0)
    with running_server(models_dir, tmp_path / "first", TAGGER_DB=str(db)) as first:

        def count_successes(answer: Answer) -> None:
            if answer.status == 200:
                answered.release()

        def kill_once_enough_are_answered() -> None:
            for _ in range(ANSWERS_BEFORE_KILL):
                if not answered.acquire(timeout=120):
                    break
            first.kill()

        killer = threading.Thread(target=kill_once_enough_are_answered)
        killer.start()
        answers = run_clients(
            first.base_url, songs, clients=CLIENTS, keep_going=lambda: True, on_answer=count_successes
        )
        killer.join()
    # Every client ran until its connection failed: the kill came while they were sending.
    assert sum(answer.status is None for answer in answers) == CLIENTS
    kept = [answer.body for answer in answers if answer.status == 200]
    assert len(kept) >= ANSWERS_BEFORE_KILL and all(answer.status in (200, None) for answer in answers)

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert stored >= len({body["id"] for body in kept})  # type: ignore[index]

    with (
        running_server(models_dir, tmp_path / "second", TAGGER_DB=str(db)) as second,
        api_client(second) as http,
    ):
        missing_or_changed = [
            body["id"]  # type: ignore[index]
            for body in kept
            if http.get(f"/tags/{body['id']}").json() != body  # type: ignore[index]
        ]
    log.info(
        "kill -9 with %d clients sending: %d results answered 200, all retrieved identical",
        CLIENTS,
        len(kept),
    )
    assert not missing_or_changed, missing_or_changed[:5]
