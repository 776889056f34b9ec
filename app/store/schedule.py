"""The index of due teams: which teams have work for the settlers (a task to poll, a lost create
to resend or give up, an event to deliver), and from when.

The settlers read this index only, so a tick costs the same few round trips whether ten teams
or ten thousand were ever created: a team with nothing to do is not in it. A script that gives
a team work keeps it indexed (``lua/_schedule.lua``): it answers when the team must be indexed
by, and only then does its caller write the index (``index``), one more round trip, for a team
waking up. A settler claims due teams (``claim_teams.lua``), works each, and releases it at its
next due time or out of the index (``team_next_due.lua``, ``release_team.lua``); a claim that
lapses (its settler died) makes the team due again.

One settler works a team at a time: an index write for a team that is claimed waits beside the
claim, and the claim's release indexes the team by the earlier of the two times.

The index is a global key (one Cluster slot), the teams' data are in their own slots: a write
to both cannot be atomic. What a lost index write (a process dying right after its script) can
cost is delay, never work: the team's next work indexes it again once its marker is past due
(``_schedule.lua``), and every ``sweep_seconds`` (and at start) one replica sweeps the teams
with work that the index lacks into it.
"""

from __future__ import annotations

import logging
import secrets
from typing import cast

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.domain.settlement import Claim
from app.errors import StoreUnavailable
from app.store.contracts import schedule as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.scripts import Scripts

log = logging.getLogger("app.schedule")

SWEEP_PAGE = 500  # teams checked per round trip of a sweep


class DueTeams:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts, clock: Clock) -> None:
        self._redis, self._keys, self._scripts, self._clock = redis, keys, scripts, clock
        self._owner = secrets.token_hex(8)
        self._claims = 0
        # Index writes Redis did not take (it failed after the script that asked): written
        # with the next claim. Only a process that dies first leaves them to the sweep.
        self._unindexed: dict[str, int] = {}

    async def index_at(self, tenant: str, due_ms: int) -> None:
        """Index the team as due by ``due_ms``, as a script asked (``-1``: it need not be).
        Never fails its caller: the script's own writes stand, whatever happens here."""
        if due_ms < 0:
            return
        try:
            await self._index(tenant, due_ms)
            await self._index_unindexed()
        except StoreUnavailable:
            known = self._unindexed.get(tenant)
            self._unindexed[tenant] = due_ms if known is None else min(known, due_ms)
            log.warning("team not indexed as due yet", extra={"tenant": tenant})

    def scheduling(self, tenant: str) -> _Scheduling:
        """Around a script that may give the team work and ask its caller to index it: if the
        script fails, it may have run and set the team's marker with its reply lost, and the
        index write with it; later scripts trust the marker (_schedule.lua), so the team is
        indexed now at this process's next claim (a settler that finds nothing due lets it
        go). A process that dies first leaves it to the sweep."""
        return _Scheduling(self, tenant)

    def _unindexed_from_now(self, tenant: str) -> None:
        now_ms = int(self._clock.now() * 1000)
        self._unindexed[tenant] = min(self._unindexed.get(tenant, now_ms), now_ms)

    async def _index(self, tenant: str, due_ms: int) -> None:
        with store_errors():
            await self._scripts.index_team(
                keys=self._index_keys(), args=c.IndexTeamArgs(tenant=tenant, due_ms=due_ms)
            )

    async def _index_unindexed(self) -> None:
        for tenant, due_ms in list(self._unindexed.items()):
            await self._index(tenant, due_ms)
            del self._unindexed[tenant]

    async def claim(self, *, lease_seconds: float, limit: int) -> list[Claim]:
        """Claim up to ``limit`` teams whose work is due now (by Redis's clock)."""
        await self._index_unindexed()
        self._claims += 1
        with store_errors():
            reply = await self._scripts.claim_teams(
                keys=self._index_keys(),
                args=c.ClaimTeamsArgs(
                    time=script_time(self._clock),
                    claim_ms=int(lease_seconds * 1000),
                    limit=limit,
                    token_prefix=f"{self._owner}:{self._claims}",
                ),
            )
        pairs = [str(v) for v in reply]
        return [Claim(tenant, token) for tenant, token in zip(pairs[::2], pairs[1::2], strict=True)]

    async def next_due(self, tenant: str) -> int | None:
        """When the team next has work (ms), None for never; resets its marker to match."""
        k = self._keys
        with store_errors():
            at = await self._scripts.team_next_due(
                keys=c.TeamNextDueKeys(
                    settle_queue=k.settle_due(tenant),
                    pending=k.pending_creates(tenant),
                    outbox=k.outbox(tenant),
                    outbox_attempts=k.outbox_attempts(tenant),
                    schedule_marker=k.scheduled(tenant),
                    results_kept=k.results_kept(tenant),
                    outbox_due=k.outbox_due(tenant),
                ),
                args=c.TimeArgs(time=script_time(self._clock)),
            )
        return None if int(at) < 0 else int(at)

    async def release(self, claim: Claim, next_ms: int | None) -> None:
        """Hand the claim back, the team due again at ``next_ms`` (None: out of the index)."""
        with store_errors():
            await self._scripts.release_team(
                keys=self._index_keys(),
                args=c.ReleaseTeamArgs(
                    tenant=claim.tenant,
                    token=claim.token,
                    next_due_ms=-1 if next_ms is None else next_ms,
                ),
            )

    async def earliest(self) -> float | None:
        """The earliest due time in the index (ms), None when no team is due."""
        with store_errors():
            first = await self._redis.zrange(self._keys.due_teams(), 0, 0, withscores=True)
        rows = cast(list[tuple[str, float]], first)
        return float(rows[0][1]) if rows else None

    async def size(self) -> int:
        with store_errors():
            return int(await self._redis.zcard(self._keys.due_teams()))

    async def sweep(self, *, lease_seconds: float) -> int | None:
        """Index every team that has work and is not in the index (a safety net: an index
        lost on its own, a process that died before writing it); a team in it (due, or
        claimed) is left as it is. One replica a period; None when another swept in it.
        Returns how many teams were indexed."""
        with store_errors():
            mine = await self._redis.set(
                self._keys.due_sweep(), self._owner, nx=True, px=int(lease_seconds * 1000)
            )
        if not mine:
            return None
        now_ms = int(self._clock.now() * 1000)
        indexed, cursor = 0, 0
        while True:
            with store_errors():
                cursor, members = await self._redis.sscan(
                    self._keys.settle_teams(), cursor, count=SWEEP_PAGE
                )
            tenants = await self._with_work(sorted(str(m) for m in members))
            if tenants:
                with store_errors():
                    added = await self._redis.zadd(
                        self._keys.due_teams(), dict.fromkeys(tenants, now_ms), nx=True
                    )
                indexed += int(added or 0)
            if cursor == 0:
                return indexed

    async def _with_work(self, tenants: list[str]) -> list[str]:
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zcard(k.settle_due(tenant))
                pipe.hlen(k.pending_creates(tenant))
                pipe.xlen(k.outbox(tenant))
            counts = await pipe.execute()
        return [
            tenant
            for i, tenant in enumerate(tenants)
            if any(int(c) for c in counts[3 * i : 3 * i + 3])
        ]

    def _index_keys(self) -> c.DueIndexKeys:
        k = self._keys
        return c.DueIndexKeys(due_teams=k.due_teams(), claims=k.due_claims(), asked=k.due_asked())


class _Scheduling:
    """``DueTeams.scheduling``: a plain context manager (it is around both scripts of every
    create, where a generator-based one cost about a microsecond each)."""

    __slots__ = ("_due", "_tenant")

    def __init__(self, due: DueTeams, tenant: str) -> None:
        self._due, self._tenant = due, tenant

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: object
    ) -> None:
        if isinstance(exc, StoreUnavailable):
            self._due._unindexed_from_now(self._tenant)
