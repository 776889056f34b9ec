"""The holds a reconciliation baseline could not place when it was taken, and placing them later.

A baseline reads the books, then Rivya's balance (services/baselines.py). A hold the books had
then is one of two things, and its credits move the drift once it has settled unless it is
placed by what Rivya's own clock says (its task times against the ``Date`` of the balance
answer, to the second):

- a task Rivya had made: if Rivya ended it before it read the balance, the refund of its end
  (its hold less its charge) was already in that balance, so it explains that much drift;
- a create not yet answered: if Rivya made it after it read the balance (or never made it:
  refused, cancelled), its hold was on the books but not in the balance, so it explains all
  of it; if Rivya made it before, it is the task above. One given up as spent is a suspect of
  its own and explains nothing.

A hold Rivya ended (or made) in the very second of the balance answer cannot be placed, and
stays uncertain.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from app.clock import epoch_ms_of
from app.domain.creates import PendingCreate
from app.domain.reconciliation import Hold, InFlight, Placed
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.reservations import held_credits

SECOND_MS = 1000


class BaselineHolds:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def in_flight(self, tenants: list[str]) -> InFlight:
        """Every hold the teams have now, and their creates Rivya has not answered."""
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for tenant in tenants:
                pipe.hgetall(k.reservations(tenant))
                pipe.hgetall(k.pending_creates(tenant))
            answers = await pipe.execute()
        seconds, micros = answers[0]
        holds: list[Hold] = []
        pending = 0
        for i, tenant in enumerate(tenants):
            reservations, creates = answers[1 + 2 * i], answers[2 + 2 * i]
            pending += len(creates)
            for ref, entry in reservations.items():
                create = creates.get(ref)
                claim = ""
                if create:
                    claim = PendingCreate.from_json(tenant, str(ref), str(create)).claim_id
                holds.append((tenant, str(ref), held_credits(str(entry)), claim))
        return InFlight(int(seconds) * 1000 + int(micros) // 1000, tuple(sorted(holds)), pending)

    async def place(self, holds: tuple[Hold, ...], *, rivya_time_ms: int | None) -> Placed:
        """Place the holds that have settled (``rivya_time_ms``: the balance answer's Date)."""
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant, ref, _, claim in holds:
                pipe.hexists(k.reservations(tenant), ref)
                pipe.hmget(k.idempotency(tenant, claim), ["res", "state", "task", "error"])
                pipe.hmget(k.task(tenant, ref), ["upstream", "final_credits"])
            answers = await pipe.execute()
        made: dict[int, tuple[str, str]] = {}  # holds of creates made since: their task
        for i, (tenant, ref, _, claim) in enumerate(holds):
            res, state, task, _ = answers[3 * i + 1]
            if claim and res == ref and state == "done" and task:
                made[i] = (tenant, str(task))
        tasks = await self._tasks(list(made.values()))
        uncertain = explained = 0
        placed: list[Hold] = []
        for i, hold in enumerate(holds):
            still, claim_fields, task_fields = answers[3 * i : 3 * i + 3]
            if still:
                uncertain += hold[2]
                continue
            if hold[3]:
                share = _created(
                    hold, claim_fields, tasks.get(made.get(i, ("", ""))), rivya_time_ms
                )
            else:
                share = _ended(hold[2], task_fields, rivya_time_ms)
            if share is None:
                uncertain += hold[2]
            else:
                explained += share
                placed.append(hold)
        return Placed(uncertain, explained, tuple(placed))

    async def _tasks(self, tasks: list[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
        if not tasks:
            return {}
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant, task in tasks:
                pipe.hmget(self._keys.task(tenant, task), ["upstream", "final_credits"])
            rows = await pipe.execute()
        return dict(zip(tasks, rows, strict=True))


def _ended(credits: int, task: list[Any], rivya_time_ms: int | None) -> int | None:
    """A task's hold: the refund it explains (Rivya ended it before the balance), 0 (after),
    None (in the same second: it cannot be placed). A task record gone counts as after."""
    upstream, charged = task
    if rivya_time_ms is None or not upstream or charged is None:
        return 0
    ended = _rivya_ms(json.loads(upstream).get("updated_at"))
    if ended is None or ended >= rivya_time_ms + SECOND_MS:
        return 0
    if ended < rivya_time_ms:
        return max(credits - int(charged), 0)
    return None


def _created(
    hold: Hold, claim: list[Any], task: list[Any] | None, rivya_time_ms: int | None
) -> int | None:
    """A create's hold: all of it if Rivya made it after the balance or never; as a task's if
    before; 0 if given up as spent (a suspect); None in the same second."""
    credits = hold[2]
    _, state, _, error = claim
    if task is None:  # not made: refused, cancelled (its claim gone), or given up
        given_up = (
            state == "error" and error and json.loads(error).get("code") == "upstream_timeout"
        )
        return 0 if given_up else credits
    upstream = task[0]
    created = _rivya_ms(json.loads(upstream).get("created_at")) if upstream else None
    if rivya_time_ms is None or created is None or created >= rivya_time_ms + SECOND_MS:
        return credits
    if created < rivya_time_ms:
        return _ended(credits, task, rivya_time_ms)
    return None


def _rivya_ms(timestamp: object) -> int | None:
    """Rivya's ISO-8601 time as epoch ms; None if it is not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        return epoch_ms_of(timestamp)
    except ValueError:
        return None
