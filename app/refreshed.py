"""A value read afresh at most every so many seconds, for figures that many requests ask for
and that may be a little old: the org's Rivya balance, the origins teams allow, the books a
metrics scrape reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Refreshed(Generic[T]):
    """``read()``'s answer, kept for ``seconds`` (by ``now``: real time unless a clock is
    given). One read at a time: callers meanwhile wait for its answer rather than each reading.
    A read that fails keeps nothing, and the next call reads again."""

    def __init__(
        self,
        read: Callable[[], Awaitable[T]],
        *,
        seconds: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._seconds, self._now = read, seconds, now
        self._value: T | None = None
        self._read_yet = False
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        async with self._lock:
            if not self._read_yet or self._now() >= self._expires:
                self._value, self._read_yet = await self._read(), True
                self._expires = self._now() + self._seconds
            return self._value  # type: ignore[return-value]  # read at least once above
