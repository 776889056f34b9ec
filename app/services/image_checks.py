"""Image checks off the serving process: a small pool of worker processes (pebble), each with
a hard cap on its address space, a deadline per check, and a bounded wait for a free worker.

Why processes and not threads: a decoder's memory is bounded only by what the file declares,
and a header parser's time by how the file is built. In a worker process neither can reach the
serving process: a check that runs out of its address space fails there (and is refused), one
that outlives its deadline is killed (and the worker replaced), and the event loop only awaits.
The workers are forked from a fork server that has the program and Pillow loaded, so one starts
in milliseconds and shares their pages; the pool starts with the first check (off the event
loop), not with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable

import pebble

from app.catalog import FieldError
from app.domain.uploads import ImageCheckLimits
from app.errors import RateLimited, ValidationFailed
from app.metrics import Metrics
from app.services.image_check import Checked, Refused, check_image, limit_worker, ready
from app.services.limits import AtOnce

log = logging.getLogger(__name__)

# A worker is replaced after this many checks, so no allocator fragmentation accumulates
# against its address-space cap.
CHECKS_PER_WORKER = 200


class ImageChecks:
    def __init__(self, limits: ImageCheckLimits, metrics: Metrics | None = None) -> None:
        self._limits, self._metrics = limits, metrics
        # A worker per check; one team may take half of them (at least one), so that it
        # cannot keep every other team's uploads waiting.
        self._free = AtOnce(limits.workers, wait_seconds=limits.wait_seconds, what="image checks")
        self._pool: pebble.ProcessPool | None = None
        self._starting = asyncio.Lock()

    @property
    def busy(self) -> int:
        """Workers taken by a check (finished or not as far as its caller knows)."""
        return self._free.held

    async def check(self, data: bytes, mime: str, *, team: str) -> Checked:
        """The image's checked size, or a 400 that says what is wrong with it (a 429 when no
        worker is free for ``team`` within ``wait_seconds``)."""
        started = time.perf_counter()
        try:
            await self._free.take(team)
        except RateLimited:
            self._observe("busy", started)
            raise
        try:
            job = (await self._workers()).schedule(
                check_image,
                args=[data, mime, self._limits.decode_bytes],
                timeout=self._limits.seconds,
            )
        except BaseException:
            self._free.give_back(team)
            raise
        # The worker stays taken until its check ends, even if this request is cancelled
        # meanwhile: a client that hangs up cannot free a busy worker (nor kill it).
        loop = asyncio.get_running_loop()
        job.add_done_callback(lambda _: _call_soon(loop, lambda: self._free.give_back(team)))
        try:
            verdict = await asyncio.shield(asyncio.wrap_future(job))
        except TimeoutError:
            self._observe("timeout", started)
            raise _refused(f"took longer than {self._limits.seconds:g} s to check") from None
        except pebble.ProcessExpired as died:
            self._observe("died", started)
            log.warning("an image check's worker died (exit code %s)", died.exitcode)
            raise _refused("could not be checked within this gateway's bounds") from None
        if isinstance(verdict, Refused):
            self._observe("refused", started)
            raise _refused(verdict.reason)
        assert isinstance(verdict, Checked)
        self._observe("checked", started)
        return verdict

    def _observe(self, outcome: str, started: float) -> None:
        if self._metrics is not None:
            seconds = time.perf_counter() - started
            self._metrics.image_check_seconds.labels(outcome).observe(seconds)

    def close(self) -> None:
        """Stop the workers (a check in progress is killed)."""
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join()
            self._pool = None

    async def _workers(self) -> pebble.ProcessPool:
        async with self._starting:
            if self._pool is None:
                # Starting the fork server forks this process: ~50 ms of a large one, so not on
                # the event loop.
                self._pool = await asyncio.to_thread(self._start)
        return self._pool

    def _start(self) -> pebble.ProcessPool:
        pool = pebble.ProcessPool(
            max_workers=self._limits.workers,
            max_tasks=CHECKS_PER_WORKER,
            initializer=limit_worker,
            initargs=[self._limits.decode_bytes],
            context=_forkserver(),
        )
        # Its first worker starts the fork server; have it done here, off the loop.
        pool.schedule(ready).result()
        return pool


def _forkserver() -> multiprocessing.context.BaseContext:
    """Workers forked from a fork server: a process started afresh (so none of the serving
    process's threads, sockets or state), which loads the program's modules and Pillow once;
    each worker forks from it in milliseconds and shares those pages. (``__main__`` preloaded:
    else every worker would import the program again, ~50 MB each.)"""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "app.services.image_check"])
    return context


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    # RuntimeError: the loop has closed, so nothing waits for the worker any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


def _refused(reason: str) -> ValidationFailed:
    return ValidationFailed(details=[FieldError("file", reason)])
