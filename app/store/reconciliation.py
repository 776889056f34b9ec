"""The baseline the reconciliation with Rivya's balance counts from (one JSON string)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from app.store.baseline_holds import Hold
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
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
    # The holds it could not place when it was taken and has not placed since
    # (store/baseline_holds.py): the uncertainty ends as they settle and are placed. Not
    # ``listed`` (too many to list, or a baseline of an earlier version): it stays.
    uncertain: tuple[Hold, ...] = ()
    listed: bool = False
    # The drift the holds placed so far explain (kept here, so a task or claim that expires
    # later changes nothing).
    explained_credits: int = 0
    # Which upstream it was taken against (a fingerprint of RIVYA_BASE_URL and the org key).
    upstream: str | None = None
    # When Rivya read the balance, by its own clock (its answer's Date, to the second): the
    # holds are placed against it.
    rivya_time_ms: int | None = None

    @classmethod
    def from_json(cls, raw: str | bytes) -> Baseline:
        fields: dict[str, Any] = json.loads(raw)
        fields["uncertain"] = tuple(
            (str(space), str(ref), int(credits), str(claim))
            for space, ref, credits, claim in fields.get("uncertain", ())
        )
        return cls(**{k: v for k, v in fields.items() if k in _FIELDS})

    def to_json(self) -> str:
        return json.dumps(asdict(self))


_FIELDS = frozenset(Baseline.__dataclass_fields__)


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
                keys=c.OneKey(self._keys.reconciliation()),
                args=c.PutBaselineArgs(
                    baseline=baseline.to_json(), mode=mode, expected_set_at_ms=expected
                ),
            )
        return bool(stored)
