"""The tagging service under concurrent load: throughput and latency, cross-request batching on and off.

Two real servers (`python -m service`, batching on and off) on 127.0.0.1 are driven in turn, level
by level, by N concurrent clients posting 30 s MP3s back to back; alternating the two servers at
each level keeps a drift in the machine's background load from favouring one of them. Every
request carries a different file (the same audio with a different metadata tag, so the same decode
and model work), so nothing is answered from the result store. The load generator runs on the
same machine and takes some of its CPU. A second table times the model alone per batch size,
which is what decides whether batching can help.

Models come from TAGGER_MODELS_DIR (default `saved_models/`): MSD_musicnn when it is there, else
the tests' tiny model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from service.inference import ServingModel, configure_tensorflow
from service.model_format import latest_versions
from service.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "service"))
from audio_files import make_audio  # noqa: E402
from server_process import ServerProcess  # noqa: E402
from service_helpers import metric  # noqa: E402

TITLE = "Service under load"
PREFERRED_MODEL = "MSD_musicnn"
CLIENT_LEVELS = (1, 4, 16)
REQUESTS_PER_CLIENT = 3
MIN_REQUESTS = 8
WARMUP_REQUESTS = 2
LEVEL_TIME_LIMIT_S = 120.0  # no new requests are started after this; the level reports what finished
SONG_SECONDS = 30.0
MODES = {"on": {"TAGGER_BATCHING": "true"}, "off": {"TAGGER_BATCHING": "false"}}
MODEL_BATCH_SIZES = (1, 2, 4, 8, 16, 32)
MODEL_RUNS = 10

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelResult:
    clients: int
    latencies: list[float]
    seconds: float
    batches: float
    windows: float
    cpu_seconds: float  # the server process's user + system time over the level

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms_per_song(self) -> float:
        return self.cpu_seconds / len(self.latencies) * 1e3

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1e3


def requests_at(clients: int) -> int:
    return max(MIN_REQUESTS, REQUESTS_PER_CLIENT * clients)


def pick_model(scratch: Path) -> tuple[Path, str, str]:
    """(models dir, model name, description): MSD_musicnn when exported, else a tiny stand-in."""
    models_dir = Path(os.environ.get("TAGGER_MODELS_DIR", "saved_models"))
    if models_dir.is_dir() and PREFERRED_MODEL in latest_versions(models_dir):
        return (
            models_dir.resolve(),
            PREFERRED_MODEL,
            f"`{PREFERRED_MODEL}` from `{models_dir}` (ported musicnn, 16 kHz, 3 s windows)",
        )
    from tiny_model import export_tiny_model  # builds with Keras; only needed without a real model

    export_tiny_model(scratch, name="tiny", sample_rate=16_000, chunk_samples=48_000, seed=0)
    return (
        scratch,
        "tiny",
        (
            f"the tests' tiny random-weight model (Kapre front end + one conv, 16 kHz, 3 s windows), because "
            f"`{models_dir}/{PREFERRED_MODEL}` did not exist; rerun when it does"
        ),
    )


def song_variants(base: Path, count: int) -> list[Path]:
    """`count` copies of `base` that differ only in a metadata comment (stream copy, no re-encode)."""
    variants = []
    for index in range(count):
        target = base.with_name(f"{base.stem}-{index}{base.suffix}")
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(base),
                "-c",
                "copy",
                "-metadata",
                f"comment=variant {index}",
                str(target),
            ],
            check=True,
        )
        variants.append(target)
    return variants


async def drive(
    base_url: str, songs: Iterator[Path], *, clients: int, requests: int
) -> tuple[list[float], float]:
    """Latencies of `requests` posts made by `clients` concurrent clients, and the wall time they took."""
    latencies: list[float] = []
    remaining = requests
    started = time.perf_counter()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() - started < LEVEL_TIME_LIMIT_S:
            remaining -= 1
            song = next(songs)
            sent = time.perf_counter()
            response = await http.post("/tag", files={"file": (song.name, song.read_bytes(), "audio/mpeg")})
            response.raise_for_status()
            latencies.append(time.perf_counter() - sent)

    async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies, time.perf_counter() - started


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: unlike wall time, barely moved by other processes' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_level(server: ServerProcess, model: str, songs: Iterator[Path], clients: int) -> LevelResult:
    assert server.process is not None
    with httpx.Client(base_url=server.base_url, timeout=600) as http:
        batches = metric(http, "tagger_batch_size_count", model=model)
        windows = metric(http, "tagger_batch_size_sum", model=model)
        cpu = process_cpu_seconds(server.process.pid)
        latencies, seconds = asyncio.run(
            drive(server.base_url, songs, clients=clients, requests=requests_at(clients))
        )
        return LevelResult(
            clients=clients,
            latencies=latencies,
            seconds=seconds,
            batches=metric(http, "tagger_batch_size_count", model=model) - batches,
            windows=metric(http, "tagger_batch_size_sum", model=model) - windows,
            cpu_seconds=process_cpu_seconds(server.process.pid) - cpu,
        )


def measure_serving(
    models_dir: Path, model: str, variants: list[Path], scratch: Path
) -> dict[str, list[LevelResult]]:
    servers: dict[str, ServerProcess] = {}
    try:
        for mode, overrides in MODES.items():
            settings = {
                "TAGGER_MODELS_DIR": str(models_dir),
                "TAGGER_DEFAULT_MODEL": model,
                "TAGGER_DB": str(scratch / f"batching-{mode}.db"),
                **overrides,
            }
            servers[mode] = ServerProcess(settings, scratch / f"server-{mode}.log").start()
        songs = {mode: iter(variants) for mode in MODES}  # each server starts with an empty store
        for mode, server in servers.items():
            asyncio.run(drive(server.base_url, songs[mode], clients=1, requests=WARMUP_REQUESTS))
        results: dict[str, list[LevelResult]] = {mode: [] for mode in MODES}
        for clients in CLIENT_LEVELS:
            for mode, server in servers.items():
                results[mode].append(measure_level(server, model, songs[mode], clients))
                logger.info(
                    "batching %s, %d clients: %.2f songs/s", mode, clients, results[mode][-1].throughput
                )
    finally:
        for server in servers.values():
            server.stop()
    return results


def measure_model(version_dir: Path) -> list[tuple[int, float]]:
    """(batch size, fastest ms per window) of the model alone, with the server's default thread pools."""
    served = Settings()
    configure_tensorflow(
        intra_op_threads=served.tf_intra_op_threads, inter_op_threads=served.tf_inter_op_threads
    )
    model = ServingModel(version_dir, device="/CPU:0")
    rng = np.random.default_rng(0)
    chunks = [0.1 * rng.standard_normal(model.metadata.chunk_samples).astype(np.float32) for _ in range(32)]
    timings = []
    for size in MODEL_BATCH_SIZES:
        model.predict(chunks[:size])
        runs = []
        for _ in range(MODEL_RUNS):
            started = time.perf_counter()
            model.predict(chunks[:size])
            runs.append(time.perf_counter() - started)
        timings.append((size, min(runs) * 1e3 / size))  # the least disturbed by other processes
    return timings


def run() -> str:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the progress log
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        models_dir, model, model_description = pick_model(scratch / "models")
        base = make_audio(scratch / "song.mp3", seconds=SONG_SECONDS, sample_rate=44_100, channels=2)
        variants = song_variants(base, WARMUP_REQUESTS + sum(requests_at(c) for c in CLIENT_LEVELS))
        serving = measure_serving(models_dir, model, variants, scratch)
        model_only = measure_model(latest_versions(models_dir)[model])
    background = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    return report(serving, model_only, model_description, background)


def report(
    results: dict[str, list[LevelResult]],
    model_only: list[tuple[int, float]],
    model_description: str,
    background: str,
) -> str:
    served = Settings()  # what the servers read from the same environment
    on, off = results["on"][-1], results["off"][-1]
    setup = (
        f"Model: {model_description}. Each request is a different {SONG_SECONDS:.0f} s MP3 "
        "(44.1 kHz stereo, the same audio with a different metadata tag), so every one is decoded and "
        f"run through the model. Batching on: `TAGGER_MAX_BATCH_SIZE={served.max_batch_size}`, "
        f"`TAGGER_MAX_WAIT_MS={served.max_wait_ms:g}`; off: `TAGGER_BATCHING=false` (one window per "
        f"model call). Server and load generator share the machine ({background}); {WARMUP_REQUESTS} "
        "warm-up requests per server are not counted. Server CPU per song is the server process's "
        "user + system time divided by the songs it answered."
    )
    verdict = (
        f"At {on.clients} clients batching gives {on.throughput / off.throughput:.2f}× the throughput "
        f"of batching off, and the server spends {on.cpu_ms_per_song:.0f} instead of "
        f"{off.cpu_ms_per_song:.0f} ms of CPU per song "
        f"({1 - on.cpu_ms_per_song / off.cpu_ms_per_song:.0%} less). Songs/s also moves with other "
        "processes' load on a shared machine, so the server's own CPU time per song is the steadier "
        "measure of what batching saves. A window costs the same arithmetic at any batch size; on CPU "
        "batching saves only per-call overhead and some threading and cache efficiency (second table), "
        "so its gain is bounded. On a GPU, where a call of 16 windows costs little more than a call of "
        "one, it is larger (not measured here)."
    )
    return "\n\n".join([setup, _serving_table(results), verdict, _model_table(model_only)])


def _serving_table(results: dict[str, list[LevelResult]]) -> str:
    lines = [
        "| clients | batching | requests | songs/s | audio s/s | p50 ms | p95 ms | windows per model call "
        "| server CPU ms per song |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for levels in zip(results["on"], results["off"], strict=True):
        for mode, level in zip(("on", "off"), levels, strict=True):
            lines.append(
                f"| {level.clients} | {mode} | {len(level.latencies)} | {level.throughput:.2f} "
                f"| {level.throughput * SONG_SECONDS:.0f} | {level.percentile_ms(50):.0f} "
                f"| {level.percentile_ms(95):.0f} | {level.windows / max(level.batches, 1):.1f} "
                f"| {level.cpu_ms_per_song:.0f} |"
            )
    return "\n".join(lines)


def _model_table(model_only: list[tuple[int, float]]) -> str:
    return (
        f"The model alone, fastest of {MODEL_RUNS} calls per batch size "
        "(the server's default thread pools):\n\n"
        "| windows per call | " + " | ".join(str(size) for size, _ in model_only) + " |\n"
        "|---|" + "---|" * len(model_only) + "\n"
        "| ms per window | " + " | ".join(f"{ms:.1f}" for _, ms in model_only) + " |"
    )
