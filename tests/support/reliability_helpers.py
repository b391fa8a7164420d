"""Helpers for the reliability tests: servers per scenario, a server's memory from /proc, status counts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.server_process import ServerProcess
from support.service_helpers import API_KEY, server_settings

KIB_PER_MIB = 1024
# The guarded server's upload cap: larger than the service tests' 1 MB so 8-channel 96 kHz audio is decoded.
GUARDED_UPLOAD_MB = 8


@contextmanager
def running_server(models_dir: Path, directory: Path, **overrides: str) -> Iterator[ServerProcess]:
    """A real `python -m service` on 127.0.0.1 with the service tests' settings plus `overrides`."""
    directory.mkdir(parents=True, exist_ok=True)
    db = overrides.pop("TAGGER_DB", str(directory / "tagger.db"))  # a path or a postgresql:// URL
    server = ServerProcess(server_settings(models_dir, db, **overrides), directory / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def api_client(server: ServerProcess, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=timeout)


def memory_kib(server: ServerProcess, field: str = "VmRSS") -> int:
    """`VmRSS` (resident now) or `VmHWM` (peak since start or the last `reset_peak_memory`), from /proc."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(f"{field} is not in /proc/{server.process.pid}/status")


def reset_peak_memory(server: ServerProcess) -> None:
    """Make VmHWM start again from the current RSS (Linux `clear_refs` 5), to measure one request's peak."""
    assert server.process is not None
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")


def responses_served(http: httpx.Client) -> dict[tuple[str, str], float]:
    """Responses the server has sent so far by (route template, status code), from its own /metrics."""
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(http.get("/metrics").raise_for_status().text):
        for sample in family.samples:
            if sample.name == "tagger_http_requests_total":
                key = (sample.labels["route"], sample.labels["status"])
                counts[key] = counts.get(key, 0) + sample.value
    return counts


def server_errors(http: httpx.Client) -> float:
    """5xx answers so far, except /readyz's 503 while the models loaded (the start-up poll sees those)."""
    return sum(
        count
        for (route, status), count in responses_served(http).items()
        if status.startswith("5") and route != "/readyz"
    )


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of one HTTP response read from a raw socket (for requests httpx cannot send)."""
    received = b""
    while data := sock.recv(65536):
        received += data
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            None,
        )
        if length is not None and len(body) >= length:
            return int(head.split(b" ", 2)[1]), json.loads(body)
    raise AssertionError(f"the connection closed without a complete answer: {received!r}")
