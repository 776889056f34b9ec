"""What holds up a process's event loop, measured for ops (issue 26: a create's tail at one
connection): how long a callback waits for the loop, and the garbage collector's pauses.

Both are histograms in ``app/metrics.py``. The loop's lag is sampled by a callback scheduled
with ``call_soon`` and timed until it runs, not by a timer's lateness: uvloop's timers round to
the millisecond, which would hide everything this is for."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import Histogram

from app.metrics import Metrics

LOOP_LAG_SAMPLE_SECONDS = 0.1


class PauseWatch:
    def __init__(self, metrics: Metrics) -> None:
        self._loop_lag = metrics.event_loop_lag_seconds
        self._gc_pauses: dict[int, Histogram] = {
            generation: metrics.gc_pause_seconds.labels(str(generation)) for generation in range(3)
        }
        self._gc_started = 0.0

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Sample the loop's lag and time every collection (``gc.callbacks`` are the whole
        process's) while inside."""
        stopping = asyncio.Event()
        sampler = asyncio.create_task(self._watch_loop(stopping), name="loop lag")
        gc.callbacks.append(self._on_gc)
        try:
            yield
        finally:
            gc.callbacks.remove(self._on_gc)
            stopping.set()
            await sampler

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self._gc_pauses[info["generation"]].observe(time.perf_counter() - self._gc_started)
            self._gc_started = 0.0

    async def _watch_loop(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            loop.call_soon(self._lagged, time.perf_counter())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), LOOP_LAG_SAMPLE_SECONDS)

    def _lagged(self, scheduled: float) -> None:
        self._loop_lag.observe(time.perf_counter() - scheduled)
