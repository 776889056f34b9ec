"""The baseline the reconciliation with Rivya's balance counts from (one JSON string), and the
reads of the books in flight that taking and judging one needs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from app.store.keys import KeySpace
from app.store.redis import admin_write, store_errors
from app.store.scripts import Scripts


@dataclass(frozen=True)
class Baseline:
    """Rivya's balance and the gateway's books (summed over every team) at one moment."""

    rivya_credits: int
    gateway_spent: int
    gateway_reserved: int
    set_at_ms: int
    # Credits reserved when it was taken, which Rivya may or may not have held then: the drift
    # may be off by up to what of them is still held (``uncertain``), without anything wrong.
    uncertain_credits: int = 0
    # Set when Redis lost its data and a replica that remembered this baseline wrote it back:
    # the drift from it then counts the credits whose books were lost.
    restored_at_ms: int | None = None
    # The reservations held when it was taken ("space|reservation or task id|credits"): the
    # uncertainty ends as they settle. Empty with uncertain_credits > 0: too many to list (or a
    # baseline of an earlier version), and the uncertainty stays.
    uncertain: tuple[str, ...] = ()
    # Which upstream it was taken against (a fingerprint of RIVYA_BASE_URL and the org key).
    upstream: str | None = None
    # When Rivya read the balance, by its own clock (its answer's Date, to the second): a task
    # of ``uncertain`` that Rivya ended before then had given its refund back in the balance.
    rivya_time_ms: int | None = None

    @classmethod
    def from_json(cls, raw: str | bytes) -> Baseline:
        fields: dict[str, Any] = json.loads(raw)
        fields["uncertain"] = tuple(fields.get("uncertain", ()))
        return cls(**{k: v for k, v in fields.items() if k in _FIELDS})

    def to_json(self) -> str:
        return json.dumps(asdict(self))


_FIELDS = frozenset(Baseline.__dataclass_fields__)


@dataclass(frozen=True)
class Settled:
    """What became of a baseline's reservations: the credits held still, and the credits Rivya
    had given back before it read the baseline's balance (tasks that ended before then)."""

    still_held: int
    refunded_before: int


@dataclass(frozen=True)
class InFlight:
    """What the teams hold at one moment (Redis's clock): every reservation, and how many of
    them are creates not yet answered by Rivya."""

    at_ms: int
    held: tuple[str, ...]  # "space|reservation or task id|credits", sorted
    pending_creates: int


class BaselineStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def get(self) -> Baseline | None:
        async with store_errors():
            raw = await self._redis.get(self._keys.reconciliation())
        return Baseline.from_json(raw) if raw else None

    async def put(
        self,
        baseline: Baseline,
        *,
        only_if_absent: bool = False,
        replacing: Baseline | None = None,
    ) -> bool:
        """Store the baseline; with ``only_if_absent`` only the first of racing replicas does;
        with ``replacing``, only if that one is still the stored one (of replicas replacing it
        at once, one does). A script, acknowledged by a replica when writes wait for one: a
        failover cannot take the reconciliation back to an older baseline."""
        mode, expected = ("nx", "") if only_if_absent else ("", "")
        if replacing is not None:
            mode, expected = "if", str(replacing.set_at_ms)
        async with admin_write("Setting the reconciliation baseline"):
            stored = await self._scripts.put_baseline(
                keys=[self._keys.reconciliation()], args=[baseline.to_json(), mode, expected]
            )
        return bool(stored)

    async def in_flight(self, spaces: list[str]) -> InFlight:
        """Every reservation the teams hold now, and their creates Rivya has not answered."""
        k = self._keys
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for space in spaces:
                pipe.hgetall(k.reservations(space))
                pipe.hlen(k.pending_creates(space))
            answers = await pipe.execute()
        seconds, micros = answers[0]
        held: list[str] = []
        pending = 0
        for i, space in enumerate(spaces):
            reservations, creates = answers[1 + 2 * i], answers[2 + 2 * i]
            pending += int(creates)
            for ref, entry in reservations.items():
                held.append(f"{space}|{ref}|{str(entry).split('|', 1)[0]}")
        return InFlight(int(seconds) * 1000 + int(micros) // 1000, tuple(sorted(held)), pending)

    async def settled(self, entries: tuple[str, ...], *, rivya_time_ms: int | None) -> Settled:
        """What became of ``entries`` (``InFlight.held``'s) since: which are held still, and how
        much Rivya gave back of the others before ``rivya_time_ms`` (by its task times)."""
        k = self._keys
        parsed = [entry.rsplit("|", 2) for entry in entries]
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for space, ref, _ in parsed:
                pipe.hexists(k.reservations(space), ref)
                pipe.hmget(k.task(space, ref), ["upstream", "final_credits"])
            answers = await pipe.execute()
        held = refunded = 0
        for i, (_, _, credits) in enumerate(parsed):
            still, (upstream, charged) = answers[2 * i], answers[2 * i + 1]
            if still:
                held += int(credits)
            elif rivya_time_ms is not None and upstream and charged is not None:
                ended = _rivya_ms(json.loads(upstream).get("updated_at"))
                if ended is not None and ended < rivya_time_ms:
                    refunded += max(int(credits) - int(charged), 0)
        return Settled(held, refunded)


def _rivya_ms(timestamp: object) -> int | None:
    """Rivya's ISO-8601 time as epoch ms; None if it is not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)
