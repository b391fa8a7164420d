"""SIGTERM: uploads in flight are finished and answered, new connections are refused, the process exits.

Two uploads are in flight, each with half its body sent: one client finishes sending after the
signal and gets its 200; the other never does, and the server stops anyway once
TAGGER_SHUTDOWN_TIMEOUT_S has passed.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from support.audio_files import make_audio
from support.reliability_helpers import read_response, running_server
from support.server_process import ServerProcess
from support.service_helpers import API_KEY

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT_S = 4.0
BOUNDARY = "shutdown"


def _start_upload(server: ServerProcess, song: bytes) -> tuple[socket.socket, bytes]:
    """Open a connection and send the headers and the first half of a multipart upload; returns the rest."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="song.wav"\r\n\r\n'.encode()
        + song
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"X-API-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\n".encode()
        + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode()
        + body[: len(body) // 2]
    )
    return sock, body[len(body) // 2 :]


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_requests_in_flight_and_refuses_new_ones(models_dir: Path, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "song.wav", seconds=2.0, sample_rate=16_000).read_bytes()
    with running_server(
        models_dir,
        tmp_path / "server",
        TAGGER_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        TAGGER_LOG_LEVEL="info",
    ) as server:
        assert server.process is not None
        finishing, rest = _start_upload(server, song)
        stalled, _never_sent = _start_upload(server, song)
        time.sleep(0.5)  # both requests have reached the app
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        deadline = signalled + 5
        while not _refuses_connections(server.port):
            assert time.monotonic() < deadline, "new connections were still accepted after SIGTERM"
            time.sleep(0.05)
        finishing.sendall(rest)
        status, body = read_response(finishing)
        assert status == 200, body
        assert len(str(body["id"])) == 32

        exit_code = server.process.wait(timeout=SHUTDOWN_TIMEOUT_S + 20)
        stopped_after = time.monotonic() - signalled
        finishing.close()
        stalled.close()
    assert exit_code == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down
    assert SHUTDOWN_TIMEOUT_S <= stopped_after < SHUTDOWN_TIMEOUT_S + 15, stopped_after
    assert "timeout graceful shutdown exceeded" in server.log()
