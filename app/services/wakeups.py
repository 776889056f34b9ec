"""In-process wake-ups by key: a coroutine waits on a key until another wakes it, or times out.

Used where a request waits for something another coroutine of this process may finish first
(a create's outcome, a task's new state), so it need not ask Redis or Rivya again and again.
Across replicas there is no wake-up: waiters also look again on their own, at a bounded pace.

Named for what it holds, the wake-ups waited for by key (it was ``signals.py``: a word for the
mechanism, and one that suggests POSIX signals, which this has nothing to do with).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Hashable

from app.clock import Clock


class WakeUps:
    def __init__(self) -> None:
        self._events: dict[Hashable, asyncio.Event] = {}
        # Keys are dropped with their last waiter, so the map holds only keys waited on now.
        self._waiters: Counter[Hashable] = Counter()

    async def wait(self, key: Hashable, seconds: float, *, clock: Clock | None = None) -> None:
        """Wait up to ``seconds`` for ``key`` to be woken: real time, or ``clock``'s time where
        the wait stands for time passing (a deadline the clock drives)."""
        event = self._events.setdefault(key, asyncio.Event())
        self._waiters[key] += 1
        try:
            if clock is not None:
                await clock.sleep_until(event, seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=seconds)
        finally:
            self._waiters[key] -= 1
            if not self._waiters[key]:
                del self._waiters[key]
                if self._events.get(key) is event:
                    del self._events[key]

    def wake(self, key: Hashable) -> None:
        """Wake every coroutine waiting on ``key`` now; a later wait waits anew."""
        if (event := self._events.pop(key, None)) is not None:
            event.set()
