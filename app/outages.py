"""An outage said once, not every tick: the first failure is logged with its cause; repeats of
the same cause are counted and said at most once a ``every`` seconds; a new cause is said at
once; the end of it is said once. A settler ticks twice a second, so an unavailable Redis was
~7,000 identical lines an hour, and none of them said why."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Outage:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._what, self._every, self._clock = log, what, every, clock
        self._cause: str | None = None
        self._said_at = 0.0
        self._unsaid = 0  # repeats since the last line

    def failed(self, cause: str) -> None:
        now = self._clock()
        if cause == self._cause and now - self._said_at < self._every:
            self._unsaid += 1
            return
        repeats = self._unsaid
        self._cause, self._said_at, self._unsaid = cause, now, 0
        self._log.warning(
            "%s: %s", self._what, cause, extra={"cause": cause, "repeats_since_last": repeats}
        )

    def over(self) -> None:
        if self._cause is None:
            return
        self._log.info("%s: over (it was: %s)", self._what, self._cause)
        self._cause, self._unsaid = None, 0
