"""Time as a dependency: the real clock in production, a fake one in tests (no sleeping)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol

from pydantic import Field


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, event: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds``, or less if ``event`` is set meanwhile."""
        ...

    def fake_time(self) -> float | None:
        """None for a real clock (even a wrong one, which cannot know): the store's scripts then
        read Redis's own TIME. A test's fake clock returns its time, which the scripts use
        instead, so tests drive the store's decisions exactly."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)

    def fake_time(self) -> float | None:
        return None


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it instantly.

    Sleeping still yields to the event loop once, so other tasks get to run.
    """

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, timestamp: float) -> None:
        self._now = timestamp

    async def sleep(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)
        await asyncio.sleep(0)

    async def sleep_until(self, event: asyncio.Event, seconds: float) -> None:
        # Time moves only when told: the wait is the time it stands for, unless already woken.
        if not event.is_set():
            await self.sleep(seconds)

    def fake_time(self) -> float | None:
        return self._now


def script_time(clock: Clock) -> str:
    """The time argument of the store's scripts (``_clock.lua``): "" to use Redis's own TIME,
    or a fake clock's time in microseconds."""
    fake = clock.fake_time()
    return "" if fake is None else str(round(fake * 1_000_000))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(timestamp: str) -> datetime:
    """An ISO-8601 timestamp (UTC unless it names an offset); ValueError if it is none."""
    moment = datetime.fromisoformat(timestamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_of(timestamp: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp (UTC unless it says otherwise)."""
    return _moment(timestamp).timestamp()


def epoch_or(timestamp: str, fallback: float) -> float:
    """``epoch_of``, or ``fallback`` for a timestamp that cannot be read (Rivya's, as given)."""
    try:
        return epoch_of(timestamp)
    except ValueError:
        return fallback


def epoch_ms_of(timestamp: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 timestamp, exactly (no float rounding)."""
    return (_moment(timestamp) - _EPOCH) // timedelta(milliseconds=1)


def iso_timestamp(epoch_seconds: float) -> str:
    """Rivya's timestamp form: ISO-8601 UTC with milliseconds, e.g. 2026-05-11T00:00:00.000Z."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# A timestamp as the gateway and Rivya write it (``iso_timestamp``), kept as its text, and
# documented as what it is: a generated client parses it into a datetime.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
