"""Replicas on one PostgreSQL store: the store's own latency (SQLite vs PostgreSQL), then the service's
throughput and latency with one and with three API replicas.

Store: both backends on this machine's disk, fsync on (SQLite `synchronous=FULL`, PostgreSQL
`synchronous_commit=on`), a throwaway PostgreSQL 15 server over TCP on 127.0.0.1; musicnn-sized records
(50 tags, 30 s at 3 s windows), saves and reads interleaved backend by backend.

Service: three real servers (`python -m service`, MSD_musicnn, one TensorFlow thread each) on one
PostgreSQL database. "1 replica" sends every request to the first; "3 replicas" deals them round-robin
to all three, as the load balancer of docker/compose.scale.yaml does (the client plays the balancer here).
The two take turns, twice, so a drift in background load favours neither. Every upload is a different
file (same audio, another metadata tag), so each is computed, never answered from the store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import httpx
import numpy as np

from bench.report import markdown_table, spread
from bench.serve_load import process_cpu_seconds
from bench.serving import DEFAULT_MODEL, running_server
from bench.songs import real_excerpts, song_variants
from support.postgres_server import PostgresServer
from support.server_process import ServerProcess
from tagger.predictions import TagRecord
from tagger.store import ResultStore, open_store

TITLE = "Replicas on one PostgreSQL store"
STORE_OPERATIONS = 300
N_TAGS, N_WINDOWS, EMBEDDING = 50, 10, 200
REPLICAS = 3
CLIENTS = 6
REQUESTS = 24  # per configuration and round
ROUNDS = 2
SONG_SECONDS = 10.0
REPLICA_SETTINGS = {"TAGGER_TF_INTRA_OP_THREADS": "1", "TAGGER_DECODE_WORKERS": "1"}

logger = logging.getLogger(__name__)


def musicnn_sized(number: int) -> TagRecord:
    rng = np.random.default_rng(number)
    taggram = rng.random((N_WINDOWS, N_TAGS), dtype=np.float32)
    return TagRecord(
        id=f"{number:032x}",
        model_name=DEFAULT_MODEL,
        model_version=1,
        tags=[f"tag{i}" for i in range(N_TAGS)],
        duration=30.0,
        window_seconds=3.0,
        hop_seconds=3.0,
        times=np.arange(N_WINDOWS) * 3.0,
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=rng.random(EMBEDDING, dtype=np.float32),
    )


def store_latencies(stores: dict[str, ResultStore]) -> dict[str, dict[str, list[float]]]:
    """Seconds per save (a new id), get (a stored id) and since (100 records), backend after backend."""
    times: dict[str, dict[str, list[float]]] = {name: {"save": [], "get": [], "since": []} for name in stores}
    for number in range(STORE_OPERATIONS):
        for name, store in stores.items():
            record = musicnn_sized(number)
            for operation, call in (
                ("save", partial(store.save, record)),
                ("get", partial(store.get, record.id)),
                ("since", partial(store.since, max(0, number - 100), 100)),
            ):
                started = time.perf_counter()
                call()
                times[name][operation].append(time.perf_counter() - started)
    return times


def median_ms(times: dict[str, dict[str, list[float]]], backend: str, operation: str) -> str:
    return f"{statistics.median(times[backend][operation]) * 1e3:.1f}"


def store_table(times: dict[str, dict[str, list[float]]]) -> str:
    rows = []
    for operation in ("save", "get", "since"):
        medians = {name: statistics.median(by_operation[operation]) for name, by_operation in times.items()}
        rows.append(
            [
                {
                    "save": "save (new result, commit on disk)",
                    "get": "get by id",
                    "since": "since: 100 results",
                }[operation],
                *(spread(by_operation[operation], scale=1e3, digits=2) for by_operation in times.values()),
                *(
                    f"{np.percentile(by_operation[operation], 99) * 1e3:.2f}"
                    for by_operation in times.values()
                ),
                f"{medians['PostgreSQL'] / medians['SQLite']:.1f}×",
            ]
        )
    header = ["operation", "SQLite ms", "PostgreSQL ms", "SQLite p99 ms", "PostgreSQL p99 ms", "PG / SQLite"]
    return markdown_table(header, rows)


async def drive(servers: list[ServerProcess], songs: Iterator[Path]) -> tuple[list[float], float]:
    """`REQUESTS` uploads by `CLIENTS` concurrent clients, dealt round-robin over `servers`."""
    targets = itertools.cycle(servers)
    latencies: list[float] = []
    remaining = REQUESTS
    started = time.perf_counter()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            song, server = next(songs), next(targets)
            sent = time.perf_counter()
            response = await http.post(
                f"{server.base_url}/tag", files={"file": (song.name, song.read_bytes(), "audio/mpeg")}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - sent)

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=CLIENTS)) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return latencies, time.perf_counter() - started


def rss_mib(server: ServerProcess) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def service_table(servers: list[ServerProcess], songs: Iterator[Path]) -> str:
    configurations = {"1 replica": servers[:1], f"{REPLICAS} replicas": servers}
    latencies: dict[str, list[float]] = {name: [] for name in configurations}
    seconds = dict.fromkeys(configurations, 0.0)
    cpu = dict.fromkeys(configurations, 0.0)
    for _ in range(ROUNDS):
        for name, targets in configurations.items():
            before = sum(process_cpu_seconds(s.process.pid) for s in servers if s.process)
            measured, wall = asyncio.run(drive(targets, songs))
            cpu[name] += sum(process_cpu_seconds(s.process.pid) for s in servers if s.process) - before
            latencies[name] += measured
            seconds[name] += wall
            logger.info("%s: %d songs in %.1f s", name, len(measured), wall)
    throughput = {name: len(latencies[name]) / seconds[name] for name in configurations}
    rows = [
        [
            name,
            f"{throughput[name]:.2f}",
            f"{throughput[name] / throughput['1 replica']:.2f}×",
            spread(latencies[name], digits=2),
            f"{np.percentile(latencies[name], 99):.2f}",
            f"{cpu[name] / len(latencies[name]):.2f}",
        ]
        for name in configurations
    ]
    header = [
        "configuration",
        "songs/s",
        "vs 1 replica",
        "latency s, median (min–max)",
        "p99 s",
        "CPU s/song",
    ]
    memory = ", ".join(f"{rss_mib(server):.0f}" for server in servers)
    return (
        markdown_table(header, rows)
        + f"\n\n{CLIENTS} concurrent clients, {ROUNDS} × {REQUESTS} uploads of a {SONG_SECONDS:g} s MP3 per "
        f"configuration. Resident memory of the replicas afterwards: {memory} MiB."
    )


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as scratch_name, ExitStack() as stack:
        scratch = Path(scratch_name)
        postgres = PostgresServer().start()
        stack.callback(postgres.destroy)

        stores = {"SQLite": open_store(scratch / "store.db"), "PostgreSQL": open_store(postgres.database())}
        store_times = store_latencies(stores)
        for store in stores.values():
            store.close()

        url = postgres.database()
        servers = [
            stack.enter_context(
                running_server(scratch / f"replica{n}", {"TAGGER_DB": url, **REPLICA_SETTINGS})
            )
            for n in range(REPLICAS)
        ]
        (base,) = real_excerpts(scratch, SONG_SECONDS, count=1)
        songs = iter(song_variants(base, ROUNDS * 2 * REQUESTS))
        service = service_table(servers, songs)
    pg, lite = (
        {op: median_ms(store_times, name, op) for op in ("save", "get")} for name in ("PostgreSQL", "SQLite")
    )
    return f"""{__doc__.split(chr(10), 2)[2].strip()}

### Store latency ({STORE_OPERATIONS} operations each)

{store_table(store_times)}

### Service: one and {REPLICAS} replicas

{service}

**What a 2-core machine can and cannot show.** It shows that replicas on one PostgreSQL store are
correct together (tests/reliability/test_replicas.py) and what the shared store costs: a save took
{pg["save"]} ms and a read {pg["get"]} ms in PostgreSQL (medians; SQLite {lite["save"]} and {lite["get"]} ms),
against seconds per song end to end. It cannot show how replicas scale: three replicas share the same
two cores, with one TensorFlow thread each, so whatever they gain over one replica is bounded by the
second core and moves with the other jobs the load average above counts; each replica also costs its
own memory (the model and TensorFlow: the resident memory above). Replicas add throughput when each
has cores of its own: a larger machine, or several machines behind the balancer.
"""
