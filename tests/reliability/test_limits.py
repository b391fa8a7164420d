"""Limits and backpressure over real HTTP: the upload cap while the body streams, a full queue, a timeout."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support.audio_files import make_audio
from support.reliability_helpers import (
    GUARDED_UPLOAD_MB,
    KIB_PER_MIB,
    api_client,
    memory_kib,
    read_response,
    reset_peak_memory,
    running_server,
)
from support.server_process import ServerProcess
from support.service_helpers import API_KEY, DEFAULT_MODEL, MAX_BATCH_SIZE, metric

PIECE_BYTES = 64 * 1024
PIECE_INTERVAL_S = 0.005
# Windows a batch waits for company, the request timeout, and the queue room of the backpressure server.
SLOW_WAIT_S = 6.0
TIMEOUT_S = 3.0
QUEUE_ROOM = 8
CONCURRENT_UPLOADS = 6


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_oversized_upload_is_refused_while_it_streams(guarded_server: ServerProcess) -> None:
    """A body 3× the cap, sent slowly with no length announced: 413 arrives long before the client is done."""
    limit = GUARDED_UPLOAD_MB * 2**20
    planned = 3 * limit
    before = memory_kib(guarded_server)
    reset_peak_memory(guarded_server)
    with socket.create_connection(("127.0.0.1", guarded_server.port)) as sock:
        sock.sendall(
            b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"X-API-Key: {API_KEY}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=slow\r\nTransfer-Encoding: chunked\r\n\r\n"
            + _chunk(b'--slow\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n')
        )
        sent = 0
        piece = _chunk(os.urandom(PIECE_BYTES))
        while sent < planned and not select.select([sock], [], [], 0)[0]:
            sock.sendall(piece)
            sent += PIECE_BYTES
            time.sleep(PIECE_INTERVAL_S)
        status, response = read_response(sock)
    growth = (memory_kib(guarded_server, "VmHWM") - before) / KIB_PER_MIB
    assert status == 413 and "larger than the 8 MB limit" in str(response["detail"]), response
    assert sent < 1.5 * limit, f"the answer came after {sent / 2**20:.1f} MB of a {limit / 2**20:g} MB cap"
    # Streamed to a temporary file: the server never held the cap's worth of body in memory.
    assert growth < GUARDED_UPLOAD_MB / 2, f"peak memory grew {growth:.1f} MiB during the upload"


@pytest.fixture(scope="module")
def slow_server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Batches wait 6 s for company, requests time out after 3 s, and 8 windows fill the queue."""
    with running_server(
        models_dir,
        tmp_path_factory.mktemp("slow"),
        TAGGER_MAX_WAIT_MS=str(int(SLOW_WAIT_S * 1000)),
        TAGGER_REQUEST_TIMEOUT_S=str(TIMEOUT_S),
        TAGGER_MAX_QUEUED_WINDOWS=str(QUEUE_ROOM),
    ) as server:
        yield server


def test_full_queue_is_503_and_a_timed_out_request_drops_its_windows(
    slow_server: ServerProcess, tmp_path: Path
) -> None:
    """Six concurrent 5-6 window songs into an 8-window queue: the first in waits, the others are refused.

    The one queued waits for a batch that never fills, so it times out (503) and its windows leave
    the queue at once: no batch ever runs for them.
    """
    songs = [make_audio(tmp_path / f"s{i}.wav", seconds=5.0 + i / 10) for i in range(CONCURRENT_UPLOADS)]
    with api_client(slow_server) as http:
        batches_before = metric(http, "tagger_batch_size_count", model=DEFAULT_MODEL)

        def post(path: Path) -> httpx.Response:
            with api_client(slow_server) as client:
                return client.post("/tag", files={"file": (path.name, path.read_bytes())})

        with ThreadPoolExecutor(CONCURRENT_UPLOADS) as pool:
            responses = list(pool.map(post, songs))
        assert metric(http, "tagger_queue_depth", model=DEFAULT_MODEL) == 0

        details = sorted(response.json()["detail"] for response in responses)
        assert {response.status_code for response in responses} == {503}
        assert all(response.headers["retry-after"] == "5" for response in responses)
        assert sum("items are already waiting" in detail for detail in details) == CONCURRENT_UPLOADS - 1
        assert sum(f"longer than the {TIMEOUT_S:g} s limit" in detail for detail in details) == 1

        time.sleep(SLOW_WAIT_S - TIMEOUT_S + 1)  # past the moment the abandoned batch would have run
        assert metric(http, "tagger_batch_size_count", model=DEFAULT_MODEL) == batches_before

        # Still healthy: a song of a full batch of windows runs at once.
        full = make_audio(tmp_path / "full.wav", seconds=float(MAX_BATCH_SIZE), sample_rate=16_000)
        response = http.post("/tag", files={"file": (full.name, full.read_bytes())})
        assert response.status_code == 200 and response.json()["n_windows"] == MAX_BATCH_SIZE
