"""Where a request's time goes: each step of POST /tag for a 30 s and a 4-minute MP3.

The steps run in-process in the order `TaggingService.tag` runs them, through the same functions:
`receive_upload` (multipart parsing, SHA-256, temporary file) fed the body in 64 KiB pieces as
uvicorn does, the store lookup, `tagger.song.decode_windows` (decode, resample and windowing,
split by wrapping `tagger.audio._resample` and `tagger.song.load_audio` with stopwatches for the
call), the cross-request `Batcher` around `ServingModel.predict` with the server's batch settings,
`build_record` (pooling), `ResultStore.save` and the response model's JSON. Nothing is added to
the service's hot path. Each in-process request alternates with a real POST /tag of the same
audio to a real server, and the difference between the two is what HTTP, the event loop and the
thread hand-offs cost. Each request sends a different copy of the song, so none is answered from
the store.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

import tagger.audio
import tagger.song
from bench.report import Target, Timing, spread, target_line
from bench.serving import DEFAULT_MODEL, models_dir, post_tag, running_server
from bench.songs import real_excerpts, song_variants
from service.schemas import TagResult
from service.upload import receive_upload
from tagger.batcher import Batcher
from tagger.repository import ModelRepository
from tagger.settings import Settings
from tagger.song import TagPlan, build_record, decode_windows
from tagger.store import ResultStore, open_store
from tagger.tensorflow_engine import TensorFlowModel, configure_tensorflow

TITLE = "Where a request's time goes"
SONGS = {"30 s": (30.0, 5), "4 min": (240.0, 3)}  # label: (seconds, requests timed)
BODY_PIECE = 64 * 1024
STEPS = (
    "upload",
    "store lookup",
    "decode",
    "resample",
    "windows",
    "model",
    "pooling",
    "store",
    "serialisation",
)
DECODE_SHARE_TARGET = 0.20

logger = logging.getLogger(__name__)


@contextmanager
def stopwatch(owner: object, attribute: str, laps: list[Timing]) -> Iterator[None]:
    """Replace the function `owner.attribute` by one that also appends each call's time to `laps`.

    The CPU time is the calling thread's: what the call itself cost, whatever else ran meanwhile.
    """
    original = getattr(owner, attribute)

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            laps.append(Timing(time.perf_counter() - wall, time.thread_time() - cpu))

    setattr(owner, attribute, timed_call)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


class Steps:
    """Seconds per step of one request, filled in as it runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.decode_cpu = 0.0  # CPU time of decode + resample in their thread
        self._started = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = now - self._started
        self._started = now


async def _body(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), BODY_PIECE):
        yield content[start : start + BODY_PIECE]


async def one_request(
    song: Path, plan: TagPlan, model: TensorFlowModel, settings: Settings, store: ResultStore
) -> Steps:
    """The steps of `TaggingService.tag` for `song`, timed one by one."""
    request = httpx.Request(
        "POST", "http://bench/tag", files={"file": (song.name, song.read_bytes(), "audio/mpeg")}
    )
    content, headers = request.read(), dict(request.headers)
    inference = ThreadPoolExecutor(1, thread_name_prefix="inference")
    batcher = Batcher(
        model.predict,
        executor=inference,
        max_batch_size=settings.batch_size_for(model.device),
        max_wait_s=settings.max_wait_ms / 1000,
        max_queued=settings.max_queued_windows,
    )
    batcher.start()
    steps = Steps()
    try:
        async with receive_upload(
            _body(content), headers, field_name="file", max_bytes=settings.max_upload_bytes
        ) as upload:
            steps.lap("upload")
            result_id = plan.result_id(upload.sha256)
            store.get(result_id)
            steps.lap("store lookup")
            load_laps: list[Timing] = []
            resample_laps: list[Timing] = []
            with ExitStack() as stack:
                stack.enter_context(stopwatch(tagger.song, "load_audio", load_laps))
                stack.enter_context(stopwatch(tagger.audio, "_resample", resample_laps))
                song_windows = decode_windows(
                    upload.path,
                    plan,
                    min_seconds=settings.min_duration_s,
                    max_seconds=settings.max_duration_s,
                )
            steps.lap("windows")  # decode + resample + windows, split below
            predictions = await batcher.submit(song_windows.windows)
            steps.lap("model")
        record = build_record(
            result_id,
            plan,
            duration=song_windows.duration,
            starts=song_windows.starts,
            predictions=predictions,
        )
        steps.lap("pooling")
        store.save(record)
        steps.lap("store")
        TagResult.from_record(record, top_k=10, taggram_url=f"/taggram/{record.id}").model_dump_json()
        steps.lap("serialisation")
    finally:
        await batcher.stop()
        inference.shutdown()
    (load,), (resample,) = load_laps, resample_laps
    steps.seconds["windows"] -= load.wall
    steps.seconds["decode"] = load.wall - resample.wall
    steps.seconds["resample"] = resample.wall
    steps.decode_cpu = load.cpu
    return steps


def measure_song(
    variants: Iterator[Path],
    requests: int,
    http: httpx.Client,
    in_process: Callable[[Path], Steps],
) -> tuple[list[Steps], list[float]]:
    """`requests` in-process requests, each followed by one real POST /tag of the same audio."""
    post_tag(http, next(variants))  # warm-up for both
    in_process(next(variants))
    steps, seconds = [], []
    for _ in range(requests):
        steps.append(in_process(next(variants)))
        seconds.append(post_tag(http, next(variants))[0])
    return steps, seconds


def run() -> str:
    settings = Settings()
    device = configure_tensorflow(settings.runtime)
    model = TensorFlowModel(ModelRepository(models_dir()).resolve(DEFAULT_MODEL).path, device=device)
    model.warm_up(sorted({1, settings.batch_size_for(device)}))
    plan = TagPlan.for_model(model.metadata, None)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        store = open_store(scratch / "in-process.db")
        with (
            running_server(scratch / "server") as server,
            httpx.Client(base_url=server.base_url, timeout=600) as http,
        ):
            for label, (seconds, requests) in SONGS.items():
                (base,) = real_excerpts(scratch, seconds, count=1)
                variants = iter(song_variants(base, 2 * requests + 2))
                results[label] = measure_song(
                    variants,
                    requests,
                    http,
                    lambda song: asyncio.run(one_request(song, plan, model, settings, store)),
                )
                logger.info("%s: POST /tag %.2f s", label, statistics.median(results[label][1]))
        store.close()
    return report(results, settings)


def report(results: dict[str, tuple[list[Steps], list[float]]], settings: Settings) -> str:
    setup = (
        f"Model `{DEFAULT_MODEL}`, default hop (one 3 s window, no overlap), the server's batch settings "
        f"(`TAGGER_MAX_BATCH_SIZE={settings.max_batch_size}`, "
        f"`TAGGER_MAX_WAIT_MS={settings.max_wait_ms:g}`). The songs are excerpts of a real recording "
        "(Debian's `asc-music`) as 44.1 kHz stereo 192 kbit/s MP3s. Milliseconds are the median (min–max) "
        "over the requests; a step's share is its time over the same round's real POST /tag, median over "
        "the rounds."
    )
    lines = [
        "| step | " + " | ".join(f"{label} ms | {label} share" for label in results) + " |",
        "|---|" + "---|---|" * len(results),
    ]
    rows = {
        step: {label: [item.seconds[step] for item in steps] for label, (steps, _) in results.items()}
        for step in STEPS
    }
    rows["**sum of the steps**"] = {
        label: [sum(item.seconds.values()) for item in steps] for label, (steps, _) in results.items()
    }
    rows["**POST /tag on a real server**"] = {label: http for label, (_, http) in results.items()}
    for name, values in rows.items():
        cells = [
            f"{spread(values[label], scale=1e3, digits=1)} | {_share(values[label], http):.1%}"
            for label, (_, http) in results.items()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    long_label = list(results)[-1]
    decode = [a + b for a, b in zip(rows["decode"][long_label], rows["resample"][long_label], strict=True)]
    http = results[long_label][1]
    share = _share(decode, http)
    shares = [value / total for value, total in zip(decode, http, strict=True)]
    target = Target(
        goal=f"decode + resample ≤ {DECODE_SHARE_TARGET:.0%} of request time ({long_label} MP3)",
        measured=f"{share:.1%} ({spread(shares, scale=100, digits=1)} %) of POST /tag",
        met=share <= DECODE_SHARE_TARGET,
        note=f"The model takes {_share(rows['model'][long_label], http):.0%} of the same requests.",
    )
    cpu = "; ".join(
        f"{label}: {spread([item.decode_cpu for item in steps], scale=1e3)} ms CPU for "
        f"{spread([item.seconds['decode'] + item.seconds['resample'] for item in steps], scale=1e3)} ms wall"
        for label, (steps, _) in results.items()
    )
    waited = (
        f"Decode + resample, CPU time of their thread against wall time ({cpu}): where wall exceeds CPU, "
        "the thread was waiting for a core that other processes held."
    )
    return "\n\n".join([setup, "\n".join(lines), _reading(), waited, target_line(target)])


def _share(values: list[float], totals: list[float]) -> float:
    """Median over rounds of a step's time over the round's POST /tag time."""
    return statistics.median(value / total for value, total in zip(values, totals, strict=True))


def _reading() -> str:
    return (
        "`model` includes the batcher's wait for company (at most `TAGGER_MAX_WAIT_MS` per call that is not "
        "full). `windows` is the song-level centring and the cut into windows (views, no copy). The gap "
        "between the sum and the real request is HTTP on loopback (the client also reads the file and builds "
        "the multipart body), the event loop and the thread-pool hand-offs."
    )
