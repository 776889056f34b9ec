"""The books as Redis holds them, read straight from the keys the scripts write, and the
invariants the model checks against them (and against what Rivya made and charged)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from redis.asyncio import Redis

from app.simulator.state import SimState
from app.store.keyspace import KeySpace


@dataclass(frozen=True)
class Books:
    spent: int  # all time
    reserved: int
    period_spent: int  # of the team's budget period now
    period_reserved: int
    entries_reserved: int  # the sum of the open reservations' credits
    in_flight: int  # open reservations
    ledger_spent: int  # the sum of the ledger's spent moves
    ledger_reserved: int
    charged: dict[str, int]  # per task: the sum of the ledger's spent moves for it


async def read_books(redis: Redis, keys: KeySpace, tenant: str, period_stamp: str) -> Books:
    # One snapshot (MULTI/EXEC: every key is in the team's slot). Read one after another, a
    # write landing in between (a release finished in the background after a failover) would
    # show the figures of two moments: reserved from before it, the entries from after.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.spend(tenant, "total"))
        pipe.hgetall(keys.spend(tenant, period_stamp or "total"))
        pipe.hvals(keys.reservations(tenant))
        pipe.xrange(keys.ledger(tenant))
        total, period, entries, ledger = await pipe.execute()
    charged: dict[str, int] = defaultdict(int)
    ledger_spent = ledger_reserved = 0
    for _, fields in ledger:
        spent, reserved = int(fields.get("spent", 0)), int(fields.get("reserved", 0))
        ledger_spent += spent
        ledger_reserved += reserved
        if fields.get("task"):
            charged[fields["task"]] += spent
    return Books(
        spent=int(total.get("spent", 0)),
        reserved=int(total.get("reserved", 0)),
        period_spent=int(period.get("spent", 0)),
        period_reserved=int(period.get("reserved", 0)),
        entries_reserved=sum(int(entry.split("|", 1)[0]) for entry in entries),
        in_flight=len(entries),
        ledger_spent=ledger_spent,
        ledger_reserved=ledger_reserved,
        charged=dict(charged),
    )


@dataclass(frozen=True)
class KeyBooks:
    spent: int  # in the period read
    reserved: int
    entries_reserved: int  # the sum of the open reservations naming the key


async def read_key(
    redis: Redis, keys: KeySpace, tenant: str, key_id: str, stamp: str = "total"
) -> KeyBooks:
    """A key's books in one period, and what its team's open reservations hold for it (one
    snapshot, as ``read_books``)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.key_spend(tenant, key_id, stamp))
        pipe.hvals(keys.reservations(tenant))
        held, entries = await pipe.execute()
    mine = [entry for entry in entries if entry.split("|")[8:9] == [key_id]]
    return KeyBooks(
        spent=int(held.get("spent", 0)),
        reserved=int(held.get("reserved", 0)),
        entries_reserved=sum(int(entry.split("|", 1)[0]) for entry in mine),
    )


async def read_token(redis: Redis, keys: KeySpace, tenant: str, token_id: str) -> tuple[int, int]:
    """A browser token's (spent, reserved)."""
    held: dict[str, str] = await redis.hgetall(  # type: ignore[assignment]
        keys.token_credits(tenant, token_id)
    )
    return int(held.get("spent", 0)), int(held.get("reserved", 0))


def rivya_charges(sim: SimState) -> dict[str, int]:
    """What Rivya took for each task it made, once every task has ended."""
    now = sim.clock.now()
    sim.advance()
    charges = {}
    for task in sim.tasks.values():
        status = task.status_at(now)
        assert status in ("succeeded", "failed"), f"{task.id} has not ended: {status}"
        charges[task.id] = task.charged if status == "succeeded" else 0
    return charges


def tasks_per_request_id(sim: SimState) -> dict[str, list[str]]:
    """Rivya's tasks, by the client_request_id the gateway sent with each."""
    made: dict[str, list[str]] = defaultdict(list)
    for task in sim.tasks.values():
        made[task.client_request_id or ""].append(task.id)
    return dict(made)
