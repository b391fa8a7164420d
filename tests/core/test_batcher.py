"""The batcher merges concurrent submissions, keeps order, respects its limits and reports failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tagger.batcher import Batcher
from tagger.errors import QueueFullError


class Doubler:
    """A real batch handler (list in, list out) that remembers the size of every call."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.batch_sizes.append(len(items))
        return [2 * item for item in items]


def run_with_batcher(
    handler: Doubler, scenario: Callable[[Batcher[int, int]], Awaitable[Any]], **limits: Any
) -> Any:
    async def main() -> Any:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(handler, executor=executor, **limits)
            batcher.start()
            try:
                return await scenario(batcher)
            finally:
                await batcher.stop()

    return asyncio.run(main())


def test_concurrent_submissions_share_one_call_and_get_their_own_results_in_order() -> None:
    handler = Doubler()

    async def scenario(batcher: Batcher[int, int]) -> list[list[int]]:
        return list(
            await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]), batcher.submit([4, 5, 6]))
        )

    results = run_with_batcher(handler, scenario, max_batch_size=8, max_wait_s=0.05, max_queued=100)
    assert results == [[2, 4], [6], [8, 10, 12]]
    assert handler.batch_sizes == [6]


def test_batches_never_exceed_the_maximum() -> None:
    handler = Doubler()

    async def scenario(batcher: Batcher[int, int]) -> list[int]:
        return await batcher.submit(list(range(10)))

    results = run_with_batcher(handler, scenario, max_batch_size=4, max_wait_s=0.05, max_queued=100)
    assert results == [2 * i for i in range(10)]
    assert handler.batch_sizes == [4, 4, 2]


def test_batch_size_one_switches_batching_off() -> None:
    handler = Doubler()

    async def scenario(batcher: Batcher[int, int]) -> list[list[int]]:
        return list(await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3])))

    run_with_batcher(handler, scenario, max_batch_size=1, max_wait_s=0.05, max_queued=100)
    assert handler.batch_sizes == [1, 1, 1]


def test_a_full_queue_refuses_new_work_but_an_empty_one_takes_any_request() -> None:
    handler = Doubler()

    async def scenario(batcher: Batcher[int, int]) -> list[int]:
        first = asyncio.ensure_future(batcher.submit([1, 2, 3]))  # larger than the queue: accepted
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError, match="3 items are already waiting"):
            await batcher.submit([4])
        return await first

    assert run_with_batcher(handler, scenario, max_batch_size=4, max_wait_s=0.05, max_queued=2) == [2, 4, 6]


def test_a_failing_handler_fails_every_request_in_the_batch() -> None:
    def broken(items: list[int]) -> list[int]:
        return items[:-1]  # one result short

    async def main() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(broken, executor=executor, max_batch_size=8, max_wait_s=0.01, max_queued=10)
            batcher.start()
            results = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
            await batcher.stop()
        assert all(
            isinstance(r, RuntimeError) and "returned 1 results for 2 items" in str(r) for r in results
        )

    asyncio.run(main())
