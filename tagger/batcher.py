"""Cross-request micro-batching: items from concurrent requests become one handler call.

The handler has Ray Serve's `@serve.batch` shape: it takes a list of items and returns a list of
results of the same length and order. It runs on the given executor (the inference thread), so
the event loop never blocks on the model. Items wait at most `max_wait_s` for company, and a
batch never exceeds `max_batch_size`. The queue is bounded: when it is full, `submit` refuses
new work with `QueueFullError` instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

from tagger.errors import QueueFullError

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class _Entry(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]
    enqueued_at: float


class Batcher(Generic[Item, Result]):
    """Collects items into batches for `handler(list[Item]) -> list[Result]`; one per model."""

    def __init__(
        self,
        handler: Callable[[list[Item]], list[Result]],
        *,
        executor: Executor,
        max_batch_size: int,
        max_wait_s: float,
        max_queued: int,
    ) -> None:
        if max_batch_size < 1 or max_queued < 1:
            raise ValueError(
                f"max_batch_size and max_queued must be positive. "
                f"Received: max_batch_size={max_batch_size}, max_queued={max_queued}"
            )
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queued = max_queued
        self._handler = handler
        self._executor = executor
        self._pending: deque[_Entry[Item, Result]] = deque()
        self._arrived = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Items waiting for a batch (not counting the batch being computed)."""
        return len(self._pending)

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        while self._pending:
            entry = self._pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(RuntimeError("the service is shutting down"))

    async def submit(self, items: list[Item]) -> list[Result]:
        """Results for `items`, in order. Raises `QueueFullError` when the queue has no room.

        A request larger than the whole queue is still accepted when the queue is empty, so no
        single request can be refused forever.
        """
        if self._pending and len(self._pending) + len(items) > self.max_queued:
            raise QueueFullError(f"{len(self._pending)} items are already waiting (limit {self.max_queued})")
        loop = asyncio.get_running_loop()
        now = loop.time()
        futures = [loop.create_future() for _ in items]
        self._pending.extend(_Entry(item, future, now) for item, future in zip(items, futures, strict=True))
        self._arrived.set()
        try:
            return list(await asyncio.gather(*futures))
        except asyncio.CancelledError:
            self._abandon(set(futures))
            raise

    def _abandon(self, futures: set[asyncio.Future[Result]]) -> None:
        """Drop a cancelled request's waiting items (timeout, client gone): they neither run nor hold room."""
        kept = [entry for entry in self._pending if entry.future not in futures]
        self._pending.clear()
        self._pending.extend(kept)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue  # what arrived may have been abandoned meanwhile
            await self._wait_for_company()
            batch = self._take_batch()
            if batch:
                await self._compute(batch)

    async def _wait_for_company(self) -> None:
        """Wait until a full batch is queued or the oldest item has waited `max_wait_s`."""
        deadline = self._pending[0].enqueued_at + self.max_wait_s
        while len(self._pending) < self.max_batch_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Entry[Item, Result]]:
        batch: list[_Entry[Item, Result]] = []
        while self._pending and len(batch) < self.max_batch_size:
            entry = self._pending.popleft()
            if not entry.future.done():  # skip items whose request was cancelled (client went away)
                batch.append(entry)
        return batch

    async def _compute(self, batch: list[_Entry[Item, Result]]) -> None:
        items = [entry.item for entry in batch]
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._handler, items)
            if len(results) != len(items):
                raise RuntimeError(
                    f"the batch handler returned {len(results)} results for {len(items)} items"
                )
        except asyncio.CancelledError:
            for entry in batch:
                entry.future.cancel()
            raise
        except Exception as error:
            logger.exception("batch of %d items failed", len(items))
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
            return
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)
