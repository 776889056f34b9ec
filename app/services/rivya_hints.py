"""Rivya's own webhooks, as hints (issue 25.3): Rivya's signature is undocumented, so a delivery
proves nothing; it only says "look at this task now". The task it names is polled at once
(deduplicated: at most once per ``RIVYA_HINT_MIN_SECONDS`` however many hints come, real or
forged), the settler of this replica is woken for it, and what it learns settles the task the
usual way. An id no team holds is dropped after one round trip. Without hints, a task is
polled on the schedule (first at 2-3 s, then every 5-10 s), so a ``?wait`` or a webhook hears of
its end up to one poll interval late.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from app.refreshed import Refreshed
from app.store.settlement import SettleQueue
from app.store.teams import TeamStore
from app.upstream.client import RivyaClient

log = logging.getLogger("app.rivya_hints")

TASK_ID = re.compile(r"^task_[A-Za-z0-9_-]{1,64}$")
EVENT_TYPES = ["generation.succeeded", "generation.failed"]
TEAMS_SECONDS = 5.0  # the teams a hint's task is looked for among, reread this often


class Hint(StrEnum):
    POLLED = "polled"  # due now: the settler looks at it
    REPEATED = "repeated"  # hinted less than the minimum interval ago
    SETTLED = "settled"  # ended here already, or not followed
    UNKNOWN = "unknown"  # no team holds such a task (or the body named none)


_OUTCOMES = {1: Hint.POLLED, 0: Hint.REPEATED, -1: Hint.SETTLED, -2: Hint.UNKNOWN}


def hinted_task(body: Any) -> str | None:
    """The task id a Rivya event names (``data``, ``generation`` or the event itself)."""
    if not isinstance(body, dict):
        return None
    for holder in (body.get("data"), body.get("generation"), body):
        if isinstance(holder, dict):
            nested = holder.get("generation")
            for candidate in (holder.get("id"), holder.get("task_id"), _id_of(nested)):
                if isinstance(candidate, str) and TASK_ID.match(candidate):
                    return candidate
    return None


def _id_of(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else None


class RivyaHints:
    def __init__(
        self,
        queue: SettleQueue,
        teams: TeamStore,
        upstream: RivyaClient,
        wake: Callable[[], None],
        *,
        min_interval_seconds: float,
    ) -> None:
        self._queue, self._wake, self._interval = queue, wake, min_interval_seconds
        self._upstream = upstream

        async def tenants() -> list[str]:
            return [team.tenant for team in await teams.list()]

        self._tenants = Refreshed(tenants, seconds=TEAMS_SECONDS)

    async def hint(self, task_id: str | None) -> Hint:
        if task_id is None:
            return Hint.UNKNOWN
        tenant = await self._queue.owner(task_id, await self._tenants.get())
        if tenant is None:
            return Hint.UNKNOWN
        outcome = _OUTCOMES[
            await self._queue.poll_now(tenant, task_id, min_interval_seconds=self._interval)
        ]
        if outcome is Hint.POLLED:
            self._wake()  # this replica's settler looks now, not at its next tick
        return outcome

    async def register(self, target: str) -> bool:
        """Register ``target`` as an account webhook at Rivya unless it is there; True if it
        was registered now. Replicas starting at once may register it twice: that only doubles
        the hints, and hints are deduplicated."""
        known = await self._upstream.list_webhooks()
        if any(hook.url == target for hook in known):
            return False
        await self._upstream.create_webhook("rivya-gateway hints", target, EVENT_TYPES)
        return True
