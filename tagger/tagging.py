"""The tagging pipeline: uploaded file → decode → windows → batched model → taggram → store.

`TaggingService` owns everything with a lifetime (loaded models, batchers, thread pools, the
store) and knows nothing about HTTP; the routes translate its exceptions into status codes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tagger.arrays import FloatArray
from tagger.batcher import Batcher
from tagger.errors import ModelNotFoundError, ModelNotReadyError, RequestTimeoutError
from tagger.metrics import Metrics
from tagger.predictions import TagRecord, WindowPrediction
from tagger.repository import ModelRepository, load_model
from tagger.settings import Settings
from tagger.song import SongWindows, TagPlan, build_record, decode_windows
from tagger.store import open_store
from tagger.timings import StageTimes

if TYPE_CHECKING:  # the engine is imported on the inference thread when models load, not at import
    from tagger.inference import ServingModel

logger = logging.getLogger(__name__)


class TaggingService:
    """Loads every model, batches windows across requests, and stores results by id."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        catalog = ModelRepository(settings.models_dir).catalog()
        if settings.default_model not in catalog.models and settings.default_model not in catalog.unreadable:
            raise ModelNotFoundError(
                f"default model {settings.default_model!r} not found in {str(settings.models_dir)!r} "
                f"(found: {sorted(catalog.models) or 'none'}); export it or set TAGGER_DEFAULT_MODEL"
            )
        self.catalog = catalog.models
        # Models that could not be read or loaded, with the reason; the others serve regardless.
        self.failed: dict[str, str] = dict(catalog.unreadable)
        self.store = open_store(settings.db)
        self.device: str | None = None
        self._batchers: dict[str, Batcher[FloatArray, WindowPrediction]] = {}
        # One thread runs every model call: on few cores, parallel model calls only compete.
        self._inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._decode_pool = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode")

    @property
    def loading(self) -> bool:
        return len(self._batchers) + len(self.failed) < len(self.catalog) + len(self.unreadable)

    @property
    def unreadable(self) -> set[str]:
        return set(self.failed) - set(self.catalog)

    @property
    def ready(self) -> bool:
        """Every model loaded or given up on, and the default one serves."""
        return not self.loading and self.settings.default_model in self._batchers

    def serving(self, name: str) -> bool:
        return name in self._batchers

    def unavailable_reason(self, name: str) -> str:
        """Why model `name` does not serve (yet), in words for a client."""
        if name in self.failed:
            return f"model {name!r} failed to load ({self.failed[name]})"
        return "the models are still loading"

    async def load_models(self) -> None:
        """Load, warm up and start batching every model; one that fails is logged and listed in `failed`."""
        loop = asyncio.get_running_loop()
        for name, version in self.catalog.items():
            try:
                model = await loop.run_in_executor(self._inference_pool, self._load_warm, version.path)
            except Exception as error:  # noqa: BLE001 (any failure of one model must not stop the others)
                self.failed[name] = f"{type(error).__name__}: {error}"
                logger.exception("model %s failed to load; the others serve", name)
                continue
            self.device = model.device
            self._start_batcher(name, model)
        logger.info(
            "loaded: %s on %s; failed: %s",
            ", ".join(self._batchers) or "none",
            self.device,
            self.failed or "none",
        )

    def _load_warm(self, path: Path) -> ServingModel:
        model = load_model(path, self.settings.runtime)
        model.warm_up(sorted({1, self.settings.batch_size_for(model.device)}))
        return model

    def _start_batcher(self, name: str, model: ServingModel) -> None:
        batcher = Batcher(
            self._observed(name, model.predict),
            executor=self._inference_pool,
            max_batch_size=self.settings.batch_size_for(model.device),
            max_wait_s=self.settings.max_wait_ms / 1000,
            max_queued=self.settings.max_queued_windows,
        )
        self.metrics.queue_depth.labels(name).set_function(lambda: batcher.queued)
        batcher.start()
        self._batchers[name] = batcher

    def _observed(
        self, name: str, predict: Callable[[list[FloatArray]], list[WindowPrediction]]
    ) -> Callable[[list[FloatArray]], list[WindowPrediction]]:
        batch_size, batch_seconds = (
            self.metrics.batch_size.labels(name),
            self.metrics.batch_seconds.labels(name),
        )

        def predict_observed(windows: list[FloatArray]) -> list[WindowPrediction]:
            started = time.perf_counter()
            predictions = predict(windows)
            batch_seconds.observe(time.perf_counter() - started)
            batch_size.observe(len(windows))
            return predictions

        return predict_observed

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.stop()
        self._decode_pool.shutdown(wait=True, cancel_futures=True)
        self._inference_pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    def plan(self, model_name: str | None, hop_seconds: float | None) -> TagPlan:
        """Validate the request's parameters before any audio is read."""
        name = model_name or self.settings.default_model
        if name not in self.catalog:
            if name in self.failed:
                raise ModelNotFoundError(f"model {name!r} cannot be served: {self.failed[name]}")
            raise ModelNotFoundError(f"no model named {name!r}; available: {sorted(self.catalog)}")
        return TagPlan.for_model(self.catalog[name].metadata, hop_seconds)

    async def lookup(self, result_id: str) -> TagRecord | None:
        return await asyncio.to_thread(self.store.get, result_id)

    async def tag(self, plan: TagPlan, audio: Path, content_sha256: str, times: StageTimes) -> TagRecord:
        """The stored result for this audio, model and hop, computing it first if it is new.

        `times` gets each stage's wall time: store lookup, decode (with resampling and windows, and
        its thread's CPU time as `decode-cpu`), model (including the wait for a batch), pooling, store.
        """
        model = plan.model
        result_id = plan.result_id(content_sha256)
        with times.stage("lookup"):
            stored = await self.lookup(result_id)
        if stored is not None:
            self.metrics.results.labels(model.name, "store").inc()
            return stored
        batcher = self._batchers.get(model.name)
        if batcher is None:
            raise ModelNotReadyError(self.unavailable_reason(model.name))
        timeout = self.settings.request_timeout_s
        try:
            song, predictions = await asyncio.wait_for(self._infer(plan, audio, batcher, times), timeout)
        except asyncio.TimeoutError as error:
            raise RequestTimeoutError(
                f"tagging took longer than the {timeout:g} s limit, so the request was dropped; "
                "the service is busy, retry later"
            ) from error
        with times.stage("pooling"):
            record = build_record(
                result_id,
                plan,
                duration=song.duration,
                starts=song.starts,
                predictions=predictions,
                decode=song.decode,
            )
        with times.stage("store"):
            await asyncio.to_thread(self.store.save, record)
        self.metrics.windows.labels(model.name).inc(len(song.windows))
        self.metrics.audio_seconds.labels(model.name).inc(song.duration)
        self.metrics.results.labels(model.name, "computed").inc()
        if record.decode is not None:
            self.metrics.damaged.labels(model.name).inc()
        return record

    async def _infer(
        self,
        plan: TagPlan,
        audio: Path,
        batcher: Batcher[FloatArray, WindowPrediction],
        times: StageTimes,
    ) -> tuple[SongWindows, list[WindowPrediction]]:
        """Decode on the decode pool, then the batched model; cancelling drops the windows still queued.

        A decode already running finishes in its thread (bounded by TAGGER_MAX_DURATION_S), unused.
        """
        with times.stage("decode"):
            song, cpu_seconds = await asyncio.get_running_loop().run_in_executor(
                self._decode_pool, self._decode, audio, plan
            )
        times.add("decode-cpu", cpu_seconds)
        with times.stage("model"):
            return song, await batcher.submit(song.windows)

    def _decode(self, audio: Path, plan: TagPlan) -> tuple[SongWindows, float]:
        """The song's windows, and the CPU seconds this thread spent on them (wall time includes waiting)."""
        started = time.thread_time()
        song = decode_windows(
            audio,
            plan,
            min_seconds=self.settings.min_duration_s,
            max_seconds=self.settings.max_duration_s,
            min_decoded_share=self.settings.min_decoded_share,
        )
        return song, time.thread_time() - started
