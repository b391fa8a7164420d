"""Tag many files with one model: decode ahead on a thread pool, fill the model's batches with windows
of several files (the service's `Batcher`), store each result as soon as its last window is scored.

Resumable by content: a file whose result id (its SHA-256, the model version and the hop) is already
in the store is skipped after hashing it, before any decoding. A file that cannot be tagged is
recorded in the failures table with its reason, and the run goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from batch.failures import FailureLog, failure_of
from tagger.audio import MIN_DECODED_SHARE
from tagger.batcher import Batcher
from tagger.predictions import WindowPrediction
from tagger.song import TagPlan, build_record, decode_windows
from tagger.store import ResultStore
from tagger.tracks import Track

logger = logging.getLogger(__name__)

# Windows arrive a song at a time; a short wait lets the next song's windows join a half-full batch.
MAX_WAIT_S = 0.02
# The number of songs in flight bounds the queued windows, so the batcher's own bound is not needed.
UNBOUNDED_QUEUE = 2**62


@dataclass
class RunSummary:
    """What a run has done so far; `results` maps input position → result id (for the export)."""

    total: int
    tagged: int = 0
    skipped: int = 0  # already in the store
    failed: int = 0
    damaged: int = 0  # tagged from damaged audio (undecodable frames skipped), each logged with its warning
    audio_seconds: float = 0.0  # of the tracks tagged in this run
    seconds: float = 0.0
    interrupted: bool = False
    results: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def not_reached(self) -> int:
        return self.total - self.tagged - self.skipped - self.failed

    def as_dict(self) -> dict[str, Any]:
        hours = self.seconds / 3600
        return {
            "total": self.total,
            "tagged": self.tagged,
            "skipped": self.skipped,
            "failed": self.failed,
            "damaged": self.damaged,
            "not_reached": self.not_reached,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "audio_hours": round(self.audio_seconds / 3600, 4),
            "tracks_per_hour": round(self.tagged / hours, 1) if hours else None,
            "audio_hours_per_hour": round(self.audio_seconds / 3600 / hours, 2) if hours else None,
        }


class BatchTagger:
    """Owns the decode and inference threads of a run; `run` may be called once per set of tracks."""

    def __init__(
        self,
        plan: TagPlan,
        predict: Callable[[list[np.ndarray]], list[WindowPrediction]],
        store: ResultStore,
        failures: FailureLog,
        *,
        workers: int,
        batch_size: int,
        min_seconds: float,
        max_seconds: float | None,
        min_decoded_share: float = MIN_DECODED_SHARE,
    ) -> None:
        self.plan = plan
        self.store = store
        self.failures = failures
        self._predict = predict
        self._batch_size = batch_size
        self._decode = partial(
            decode_windows,
            plan=plan,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            min_decoded_share=min_decoded_share,
        )
        # Enough songs in flight that decoded windows wait to fill the next batch while others decode.
        self._in_flight = 2 * workers + 2
        self._decode_pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
        # One thread runs every TensorFlow call, as in the service.
        self._inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._known_failures = {failure.path for failure in failures.failures()}
        self._budget: int | None = None
        self._stopping = False

    def stop(self) -> None:
        """Finish the tracks in flight and start no new one (a graceful Ctrl-C)."""
        self._stopping = True

    async def run(
        self, tracks: Sequence[Track], summary: RunSummary, *, limit: int | None, progress: tqdm
    ) -> None:
        """Tag `tracks`, counting into `summary`; at most `limit` tracks not yet stored are attempted."""
        started = time.perf_counter()
        self._budget = limit
        batcher: Batcher[np.ndarray, WindowPrediction] = Batcher(
            self._predict,
            executor=self._inference_pool,
            max_batch_size=self._batch_size,
            max_wait_s=MAX_WAIT_S,
            max_queued=UNBOUNDED_QUEUE,
        )
        batcher.start()
        queue = iter(enumerate(tracks))
        try:
            workers = (self._work(queue, batcher, summary, progress) for _ in range(self._in_flight))
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            summary.interrupted = True
            raise
        finally:
            await batcher.stop()
            summary.seconds = time.perf_counter() - started
        summary.interrupted = self._stopping

    def close(self) -> None:
        """Wait for the batch and decodes under way (a few seconds at most), drop the rest."""
        self._decode_pool.shutdown(wait=True, cancel_futures=True)
        self._inference_pool.shutdown(wait=True, cancel_futures=True)

    async def _work(
        self,
        queue: Iterator[tuple[int, Track]],
        batcher: Batcher[np.ndarray, WindowPrediction],
        summary: RunSummary,
        progress: tqdm,
    ) -> None:
        for index, track in queue:
            if self._budget == 0 or self._stopping:
                return
            await self._process(index, track, batcher, summary)
            progress.set_postfix(tagged=summary.tagged, skipped=summary.skipped, failed=summary.failed)
            progress.update()

    async def _process(
        self, index: int, track: Track, batcher: Batcher[np.ndarray, WindowPrediction], summary: RunSummary
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            content, sha256 = await loop.run_in_executor(self._decode_pool, read_and_hash, track.path)
            result_id = self.plan.result_id(sha256)
            if await asyncio.to_thread(self.store.get, result_id) is not None:
                summary.skipped += 1
                summary.results[index] = result_id
                return
            if self._budget == 0 or self._stopping:
                return
            if self._budget is not None:
                self._budget -= 1
            song = await loop.run_in_executor(self._decode_pool, partial(self._decode, content))
            del content  # the windows are all that is needed from here on
            predictions = await batcher.submit(song.windows)
            record = build_record(
                result_id,
                self.plan,
                duration=song.duration,
                starts=song.starts,
                predictions=predictions,
                decode=song.decode,
            )
            await asyncio.to_thread(self.store.save, record)
            if str(track.path) in self._known_failures:
                await asyncio.to_thread(self.failures.resolve, track.path)
        except Exception as error:  # one file's problem never stops the run (cancellation still does)
            await asyncio.to_thread(self.failures.record, failure_of(track.path, error))
            summary.failed += 1
            return
        summary.tagged += 1
        if record.decode is not None:
            summary.damaged += 1
            logger.warning("%s: %s", track.path, record.decode.warning)
        summary.audio_seconds += song.duration
        summary.results[index] = result_id


def read_and_hash(path: Path) -> tuple[bytes, str]:
    """The file's bytes, read once for both the id and the decode, and their SHA-256."""
    content = path.read_bytes()
    return content, hashlib.sha256(content).hexdigest()
