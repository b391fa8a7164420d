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
from functools import partial
from pathlib import Path

import numpy as np

from service.batcher import Batcher
from service.inference import ChunkPrediction, ServingModel, configure_tensorflow
from service.metrics import Metrics
from service.model_format import ModelMetadata, latest_versions, read_metadata
from service.settings import Settings
from service.song import SongWindows, TagPlan, build_record, decode_windows
from service.store import ResultStore, TagRecord
from service.upload import Upload

logger = logging.getLogger(__name__)


class UnknownModelError(LookupError):
    """No model of that name is being served."""


class NotReadyError(RuntimeError):
    """Models are still loading (or failed to load)."""


class RequestTimeoutError(TimeoutError):
    """Decoding and the model took longer than TAGGER_REQUEST_TIMEOUT_S; the request's work was dropped."""


def read_catalog(models_dir: Path, default_model: str) -> dict[str, tuple[Path, ModelMetadata]]:
    """Newest version directory and metadata of every exported model; the default one must be there."""
    if not models_dir.is_dir():
        raise FileNotFoundError(
            f"models directory {str(models_dir)!r} does not exist (set TAGGER_MODELS_DIR)"
        )
    catalog = {name: (path, read_metadata(path)) for name, path in latest_versions(models_dir).items()}
    if default_model not in catalog:
        raise FileNotFoundError(
            f"default model {default_model!r} not found in {str(models_dir)!r} "
            f"(found: {sorted(catalog) or 'none'}); export it or set TAGGER_DEFAULT_MODEL"
        )
    return catalog


class TaggingService:
    """Loads every model, batches windows across requests, and stores results by id."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.catalog = read_catalog(settings.models_dir, settings.default_model)
        self.store = ResultStore(settings.db)
        self.device: str | None = None
        self.load_error: str | None = None
        self._batchers: dict[str, Batcher[np.ndarray, ChunkPrediction]] = {}
        # One thread runs every TensorFlow call: on few cores, parallel model calls only compete.
        self._inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
        self._decode_pool = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode")

    @property
    def ready(self) -> bool:
        return len(self._batchers) == len(self.catalog)

    async def load_models(self) -> None:
        """Load, warm up and start batching every model; on failure `load_error` says why."""
        loop = asyncio.get_running_loop()
        try:
            device = await loop.run_in_executor(
                self._inference_pool,
                partial(
                    configure_tensorflow,
                    intra_op_threads=self.settings.tf_intra_op_threads,
                    inter_op_threads=self.settings.tf_inter_op_threads,
                    mixed_precision=self.settings.gpu_mixed_precision,
                ),
            )
            self.device = device
            for name, (path, _) in self.catalog.items():
                model = await loop.run_in_executor(self._inference_pool, self._load_warm, path, device)
                self._start_batcher(name, model)
        except Exception as error:
            self.load_error = f"{type(error).__name__}: {error}"
            logger.exception("loading the models failed; /readyz will answer 503")
            return
        logger.info("ready: %s on %s", ", ".join(self.catalog), self.device)

    def _load_warm(self, path: Path, device: str) -> ServingModel:
        model = ServingModel(path, device=device)
        model.warm_up(sorted({1, self.settings.batch_size_for(device)}))
        return model

    def _start_batcher(self, name: str, model: ServingModel) -> None:
        batcher = Batcher(
            self._observed(name, model.predict),
            executor=self._inference_pool,
            max_batch_size=self.settings.batch_size_for(model.device),
            max_wait_s=self.settings.max_wait_ms / 1000,
            max_queued=self.settings.max_queued_chunks,
        )
        self.metrics.queue_depth.labels(name).set_function(lambda: batcher.queued)
        batcher.start()
        self._batchers[name] = batcher

    def _observed(
        self, name: str, predict: Callable[[list[np.ndarray]], list[ChunkPrediction]]
    ) -> Callable[[list[np.ndarray]], list[ChunkPrediction]]:
        batch_size, batch_seconds = (
            self.metrics.batch_size.labels(name),
            self.metrics.batch_seconds.labels(name),
        )

        def predict_observed(chunks: list[np.ndarray]) -> list[ChunkPrediction]:
            started = time.perf_counter()
            predictions = predict(chunks)
            batch_seconds.observe(time.perf_counter() - started)
            batch_size.observe(len(chunks))
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
            raise UnknownModelError(f"no model named {name!r}; available: {sorted(self.catalog)}")
        return TagPlan.for_model(self.catalog[name][1], hop_seconds)

    async def lookup(self, result_id: str) -> TagRecord | None:
        return await asyncio.to_thread(self.store.get, result_id)

    async def tag(self, plan: TagPlan, upload: Upload) -> TagRecord:
        """The stored result for this audio, model and hop, computing it first if it is new."""
        model = plan.model
        result_id = plan.result_id(upload.sha256)
        stored = await self.lookup(result_id)
        if stored is not None:
            self.metrics.results.labels(model.name, "store").inc()
            return stored
        batcher = self._batchers.get(model.name)
        if batcher is None:
            raise NotReadyError(self.load_error or "the models are still loading")
        timeout = self.settings.request_timeout_s
        try:
            song, predictions = await asyncio.wait_for(self._infer(plan, upload, batcher), timeout)
        except asyncio.TimeoutError as error:
            raise RequestTimeoutError(
                f"tagging took longer than the {timeout:g} s limit, so the request was dropped; "
                "the service is busy, retry later"
            ) from error
        record = build_record(
            result_id, plan, duration=song.duration, starts=song.starts, predictions=predictions
        )
        await asyncio.to_thread(self.store.save, record)
        self.metrics.chunks.labels(model.name).inc(len(song.chunks))
        self.metrics.audio_seconds.labels(model.name).inc(song.duration)
        self.metrics.results.labels(model.name, "computed").inc()
        return record

    async def _infer(
        self, plan: TagPlan, upload: Upload, batcher: Batcher[np.ndarray, ChunkPrediction]
    ) -> tuple[SongWindows, list[ChunkPrediction]]:
        """Decode on the decode pool, then the batched model; cancelling drops the windows still queued.

        A decode already running finishes in its thread (bounded by TAGGER_MAX_DURATION_S), unused.
        """
        song = await asyncio.get_running_loop().run_in_executor(
            self._decode_pool,
            partial(
                decode_windows,
                upload.path,
                plan,
                min_seconds=self.settings.min_duration_s,
                max_seconds=self.settings.max_duration_s,
            ),
        )
        return song, await batcher.submit(song.chunks)
