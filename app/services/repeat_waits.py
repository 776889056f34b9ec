"""Repeats of a create that is still being forwarded: they wait for its outcome, cheaply.

A repeat asks the admission script again only with growing pauses (50 ms doubling to 1 s), and
is woken at once when the create it waits for closes in this process. At most ``per_team``
repeats of one team wait at once in a process; more are answered 409 ``request_in_progress`` at
once. So a burst of repeats costs a bounded number of Redis calls, not twenty a second each.

Named for what it holds, the repeats' waits (it was ``repeats.py``, which could as well have
held how a repeat is answered: that is ``tasks.py``'s).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.services.wakeups import WakeUps

FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 1.0


class RepeatWaits:
    def __init__(self, *, per_team: int) -> None:
        self._per_team = per_team
        self._waiting: Counter[str] = Counter()
        self._closed = WakeUps()

    @asynccontextmanager
    async def waiting(self, team: str) -> AsyncIterator[bool]:
        """A place among the team's waiting repeats: True if there was room."""
        if self._waiting[team] >= self._per_team:
            yield False
            return
        self._waiting[team] += 1
        try:
            yield True
        finally:
            self._waiting[team] -= 1
            if not self._waiting[team]:
                del self._waiting[team]

    async def pause(self, team: str, client_request_id: str, seconds: float) -> None:
        """Wait ``seconds``, or less if the create of that key closes here meanwhile. Real time:
        this waits for another request, not for anything a clock drives."""
        await self._closed.wait((team, client_request_id), seconds)

    def closed(self, team: str, client_request_id: str | None) -> None:
        """The create of this key has an outcome now (a task, an error, or unknown)."""
        if client_request_id is not None:
            self._closed.wake((team, client_request_id))


def next_pause(pause: float) -> float:
    return min(pause * 2, LONGEST_PAUSE_SECONDS)
