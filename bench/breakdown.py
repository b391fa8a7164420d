"""Where a request's time goes: each stage of POST /tag for a 30 s and a 4-minute MP3, on a real server.

The stages are the ones the service measures on its own request path and reports in the
`Server-Timing` header (`tagger/timings.py`): upload (multipart parsing, SHA-256, temporary file),
lookup (the store), decode (decode, resample and windows, in the decode pool; `decode-cpu` is that
thread's CPU time), model (the batcher's wait and the model calls), pooling, store and
serialisation. Nothing is re-implemented here: the benchmark only sends real uploads and reads the
header. What the stages do not cover (HTTP on loopback, the event loop, thread hand-offs, the
client building the body) is the gap to the time the client measures. Each request sends a
different copy of the song, so none is answered from the store.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import Target, spread, target_line
from bench.serving import DEFAULT_MODEL, running_server
from bench.songs import real_excerpts, song_variants
from tagger.settings import Settings

TITLE = "Where a request's time goes"
SONGS = {"30 s": (30.0, 5), "4 min": (240.0, 3)}  # label: (seconds, requests timed)
STAGES = ("upload", "lookup", "decode", "model", "pooling", "store", "serialisation")
DECODE_SHARE_TARGET = 0.20

logger = logging.getLogger(__name__)

# One request: the service's milliseconds per stage, and the client's milliseconds for the whole request.
Measured = tuple[dict[str, float], float]


def timed_request(http: httpx.Client, song: Path) -> Measured:
    content = song.read_bytes()
    started = time.perf_counter()
    response = http.post("/tag", files={"file": (song.name, content, "audio/mpeg")})
    elapsed = 1000 * (time.perf_counter() - started)
    response.raise_for_status()
    return server_timing(response.headers["server-timing"]), elapsed


def server_timing(header: str) -> dict[str, float]:
    """`upload;dur=1.2, decode;dur=40.5` → {"upload": 1.2, "decode": 40.5}."""
    stages = (entry.strip().split(";dur=") for entry in header.split(","))
    return {name: float(milliseconds) for name, milliseconds in stages}


def run() -> str:
    results: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        with (
            running_server(scratch / "server") as server,
            httpx.Client(base_url=server.base_url, timeout=600) as http,
        ):
            for label, (seconds, requests) in SONGS.items():
                (base,) = real_excerpts(scratch, seconds, count=1)
                variants = song_variants(base, requests + 1)
                timed_request(http, variants[0])  # warm-up
                results[label] = [timed_request(http, song) for song in variants[1:]]
                logger.info("%s: POST /tag %.0f ms", label, statistics.median(r[1] for r in results[label]))
    return report(results, Settings())


def report(results: dict[str, list[Measured]], settings: Settings) -> str:
    setup = (
        f"Model `{DEFAULT_MODEL}`, its default hop, the server's batch settings "
        f"(`TAGGER_MAX_BATCH_SIZE={settings.max_batch_size}`, "
        f"`TAGGER_MAX_WAIT_MS={settings.max_wait_ms:g}`). "
        "The songs are excerpts of a real recording (Debian's `asc-music`) as 44.1 kHz stereo 192 kbit/s "
        "MP3s. Milliseconds are the service's own `Server-Timing` figures, median (min–max) over the "
        "requests; a stage's share is its time over the same request's time measured by the client, "
        "median over the requests."
    )
    lines = [
        "| stage | " + " | ".join(f"{label} ms | {label} share" for label in results) + " |",
        "|---|" + "---|---|" * len(results),
    ]
    rows = {
        stage: {label: [r[0][stage] for r in measured] for label, measured in results.items()}
        for stage in STAGES
    }
    rows["**sum of the stages**"] = {
        label: [sum(r[0][stage] for stage in STAGES) for r in measured] for label, measured in results.items()
    }
    rows["**POST /tag, as the client sees it**"] = {
        label: [r[1] for r in measured] for label, measured in results.items()
    }
    for name, values in rows.items():
        cells = [
            f"{spread(values[label], digits=1)} | {_share(values[label], [r[1] for r in measured]):.1%}"
            for label, measured in results.items()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    long_label = list(results)[-1]
    client = [r[1] for r in results[long_label]]
    decode = rows["decode"][long_label]
    share = _share(decode, client)
    shares = [d / c for d, c in zip(decode, client, strict=True)]
    target = Target(
        goal=f"decode + resample ≤ {DECODE_SHARE_TARGET:.0%} of request time ({long_label} MP3)",
        measured=f"{share:.1%} ({spread(shares, scale=100, digits=1)} %) of POST /tag",
        met=share <= DECODE_SHARE_TARGET,
        note=f"The model takes {_share(rows['model'][long_label], client):.0%} of the same requests.",
    )
    cpu = "; ".join(
        f"{label}: {spread([r[0]['decode-cpu'] for r in measured])} ms CPU for "
        f"{spread([r[0]['decode'] for r in measured])} ms wall"
        for label, measured in results.items()
    )
    waited = (
        f"Decode, CPU time of its thread against wall time ({cpu}): where wall exceeds CPU, the thread "
        "was waiting for a core that other work held."
    )
    return "\n\n".join([setup, "\n".join(lines), _reading(), waited, target_line(target)])


def _share(values: list[float], totals: list[float]) -> float:
    """Median over requests of a stage's time over the request's time."""
    return statistics.median(value / total for value, total in zip(values, totals, strict=True))


def _reading() -> str:
    return (
        "`model` includes the batcher's wait for company (at most `TAGGER_MAX_WAIT_MS` per call that is not "
        "full). `decode` includes resampling and the cut into windows (views, no copy). The gap between the "
        "sum and the client's time is HTTP on loopback (the client also reads the file and builds the "
        "multipart body), the event loop and the thread-pool hand-offs."
    )
