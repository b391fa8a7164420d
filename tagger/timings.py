"""Where one request's time went, stage by stage, as the service itself measured it.

The HTTP service sends these in the standard `Server-Timing` response header, so a client, a
browser's developer tools or `bench/breakdown.py` sees the real request path's stages without
re-implementing it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimes:
    """Wall-clock milliseconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.milliseconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.milliseconds[stage] = self.milliseconds.get(stage, 0.0) + 1000 * seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def server_timing(self) -> str:
        """The `Server-Timing` header value, e.g. `decode;dur=41.7, model;dur=120.3`."""
        return ", ".join(f"{stage};dur={ms:.1f}" for stage, ms in self.milliseconds.items())
