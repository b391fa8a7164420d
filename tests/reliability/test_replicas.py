"""Two real API processes (A and B) on one real PostgreSQL database, as replicas behind a load balancer.

A result computed on one replica is served by the other; identical uploads racing on both store one row;
PostgreSQL crashing (immediate shutdown) and restarting under load answers 503 (with Retry-After), never
500, loses nothing it acknowledged, and the replicas recover on their own; `kill -9` of a replica under
load loses no result it acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import httpx
import numpy as np
import pytest

from support.load_generator import Upload, base_songs, upload_for, with_junk_chunk
from support.postgres_server import PostgresServer
from support.reliability_helpers import api_client, responses_served, running_server
from support.server_process import ServerProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replicas:
    url: str  # the shared database
    a: ServerProcess
    b: ServerProcess
    songs: dict[str, Upload]


@pytest.fixture(scope="module")
def replicas(
    postgres: PostgresServer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    url = postgres.database()
    directory = tmp_path_factory.mktemp("replicas")
    songs = base_songs(directory / "songs")
    with (
        running_server(models_dir, directory / "a", TAGGER_DB=url) as a,
        running_server(models_dir, directory / "b", TAGGER_DB=url) as b,
    ):
        yield Replicas(url, a, b, songs)


def stored_ids(postgres: PostgresServer, url: str) -> set[str]:
    return {str(row[0]) for row in postgres.rows(url, "SELECT id FROM results")}


def status_count(server: ServerProcess, status: str) -> float:
    with api_client(server) as http:
        return sum(n for (_, code), n in responses_served(http).items() if code == status)


def test_a_result_tagged_on_one_replica_is_served_by_the_other(
    replicas: Replicas, postgres: PostgresServer
) -> None:
    upload = replicas.songs["mp3"]
    with api_client(replicas.a) as on_a, api_client(replicas.b) as on_b:
        tagged = (
            on_a.post("/tag", files={"file": (upload.filename, upload.content)}).raise_for_status().json()
        )
        assert on_b.get(f"/tags/{tagged['id']}").raise_for_status().json() == tagged
        taggram = on_b.get(f"/taggram/{tagged['id']}").raise_for_status().json()
        np.testing.assert_allclose(np.mean(taggram["scores"], axis=0), tagged["scores"], atol=1e-6)
        again = on_b.post("/tag", files={"file": (upload.filename, upload.content)}).raise_for_status().json()
    assert again == tagged
    assert tagged["id"] in stored_ids(postgres, replicas.url)
    with api_client(replicas.a) as on_a, api_client(replicas.b) as on_b:
        # B's search index catches up with what A stored: A's results are B's neighbours.
        other = replicas.songs["c"]
        neighbour = (
            on_a.post("/tag", files={"file": (other.filename, other.content)}).raise_for_status().json()
        )
        found = on_b.get(f"/similar/{tagged['id']}", params={"k": 50}).raise_for_status().json()
        assert neighbour["id"] in [item["id"] for item in found["results"]]
    computed_on_b = [
        line
        for line in httpx.get(f"{replicas.b.base_url}/metrics").text.splitlines()
        if line.startswith("tagger_results_total") and 'source="computed"' in line
    ]
    assert all(line.endswith(" 0.0") for line in computed_on_b), "B answered from the shared store"


def test_identical_uploads_racing_on_both_replicas_store_one_row(
    replicas: Replicas, postgres: PostgresServer
) -> None:
    content = with_junk_chunk(replicas.songs["c"].content, 900_001)  # bytes no other test uploads
    before = stored_ids(postgres, replicas.url)
    barrier = threading.Barrier(16)
    answers: list[httpx.Response] = []

    def send(n: int) -> None:
        with api_client(replicas.a if n % 2 else replicas.b) as http:
            barrier.wait()
            answers.append(http.post("/tag", files={"file": ("same.wav", content)}))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200] * 16
    bodies = [answer.json() for answer in answers]
    assert all(body == bodies[0] for body in bodies)
    assert stored_ids(postgres, replicas.url) - before == {bodies[0]["id"]}


@dataclass
class Load:
    """Clients uploading distinct songs to both replicas until stopped; what each answer was."""

    replicas: Replicas
    answers: list[tuple[int | None, str | None, str | None]]  # status, result id, Retry-After
    stop: threading.Event

    @property
    def acknowledged(self) -> set[str]:
        return {result_id for status, result_id, _ in self.answers if status == 200 and result_id}

    def count(self, status: int | None) -> int:
        return sum(answer[0] == status for answer in self.answers)


@pytest.fixture
def load(replicas: Replicas) -> Iterator[Load]:
    state = Load(replicas, [], threading.Event())
    numbers = count(1_000 * int(time.time()))
    lock = threading.Lock()

    def client(server: ServerProcess) -> None:
        with api_client(server, timeout=60) as http:
            while not state.stop.is_set():
                with lock:
                    upload = upload_for(replicas.songs, next(numbers))
                try:
                    response = http.post("/tag", files={"file": (upload.filename, upload.content)})
                except httpx.TransportError:
                    state.answers.append((None, None, None))
                    time.sleep(0.1)  # that replica is gone; keep the others busy
                    continue
                body = response.json()
                state.answers.append(
                    (response.status_code, body.get("id"), response.headers.get("retry-after"))
                )

    threads = [threading.Thread(target=client, args=(server,)) for server in (replicas.a, replicas.b) * 3]
    for thread in threads:
        thread.start()
    yield state
    state.stop.set()
    for thread in threads:
        thread.join(timeout=120)


def wait_until(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout} s")
        time.sleep(0.05)


@pytest.mark.slow
def test_postgres_crashing_under_load_gives_503_then_recovers_with_no_500(
    replicas: Replicas, postgres: PostgresServer, load: Load
) -> None:
    """An immediate shutdown is a database crash: what it had acknowledged must come back from its WAL."""
    wait_until(lambda: load.count(200) >= 10)
    postgres.stop("immediate")
    wait_until(lambda: load.count(503) >= 6)  # both replicas refuse while the database is down
    postgres.start()
    served_before = load.count(200)
    wait_until(lambda: load.count(200) >= served_before + 20)  # recovered without a restart
    load.stop.set()
    time.sleep(1)

    statuses = {status for status, _, _ in load.answers}
    assert statuses <= {200, 503}, statuses
    assert all(retry_after for status, _, retry_after in load.answers if status == 503)
    assert status_count(replicas.a, "500") == status_count(replicas.b, "500") == 0
    assert load.acknowledged <= stored_ids(postgres, replicas.url), "every 200 is in the database"
    log.info("PostgreSQL crash under load: %d × 200, %d × 503", load.count(200), load.count(503))


@pytest.mark.slow
def test_kill_9_of_a_replica_under_load_loses_no_acknowledged_result(
    replicas: Replicas, postgres: PostgresServer, load: Load
) -> None:
    """Runs last in this module: replica A does not come back."""
    wait_until(lambda: load.count(200) >= 30)
    replicas.a.kill()
    served_before = load.count(200)
    wait_until(lambda: load.count(200) >= served_before + 10)  # B goes on serving
    load.stop.set()
    time.sleep(1)

    assert load.acknowledged <= stored_ids(postgres, replicas.url)
    with api_client(replicas.b) as http:
        unreadable = [rid for rid in load.acknowledged if http.get(f"/tags/{rid}").status_code != 200]
    assert not unreadable, unreadable[:5]
    assert status_count(replicas.b, "500") == 0
    log.info(
        "kill -9 of A under load: %d acknowledged, all on B; %d requests cut off",
        len(load.acknowledged),
        load.count(None),
    )
