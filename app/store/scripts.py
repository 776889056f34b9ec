"""The Lua scripts in ``store/lua``, registered once per client.

redis-py's registered scripts run by EVALSHA and load themselves again on NOSCRIPT (after a
Redis restart or SCRIPT FLUSH), so callers never see that error. Every script is prefixed with
``lua/_clock.lua`` (time comes from Redis, not from the replica that calls),
``lua/_rate.lua`` (the one rate limit, GCRA: a team's creates, a user's, uploads),
``lua/_money.lua`` (every money move updates the spend figures and the ledger together),
``lua/_reservation.lua`` (a reservation's entry, and settling it: the one way a hold leaves the
books), ``lua/_schedule.lua`` (work given to a team keeps it in the index of due teams),
``lua/_alerts.lua`` (budget alerts written to the team's outbox) and ``lua/_lease.lua`` (the
lease on a pending create, so one party at a time resends it), after the ledger's cap:
replicas with the same settings run the very same scripts.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from redis.asyncio import Redis

from app.store.channel import ChannelScript, ScriptChannel
from app.store.contracts import admin, creates, schedule
from app.store.replicated import Reconnector, ReplicatedScript

LUA_DIR = Path(__file__).with_name("lua")


PRELUDES = ("_clock", "_rate", "_money", "_reservation", "_schedule", "_alerts", "_lease")
DEFAULT_LEDGER_MAX_ENTRIES = 100_000
# A capped token's credits hash must outlive its tasks' settlement (TASK_RETENTION_DAYS).
DEFAULT_TOKEN_CREDITS_TTL_SECONDS = 30 * 86_400


class Script(Protocol):
    """A registered script: redis-py's, or one run over a ``ScriptChannel``."""

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any: ...


Keys = TypeVar("Keys", bound=NamedTuple)
Args = TypeVar("Args", bound=NamedTuple)


class Contracted(Generic[Keys, Args]):
    """A script called with its KEYS and ARGV as declared in ``store/contracts.py``: a field
    declared as a tuple (the four period hashes, a team's fields) is spread in its place."""

    def __init__(self, script: Script, keys: type[Keys], args: type[Args]) -> None:
        self.script, self.keys, self.args = script, keys, args
        self._spread_keys, self._spread_args = _spread_fields(keys), _spread_fields(args)

    async def __call__(self, *, keys: Keys, args: Args) -> Any:
        return await self.script(
            keys=_spread(keys, self._spread_keys), args=_spread(args, self._spread_args)
        )


def _spread_fields(contract: type[Any]) -> frozenset[int]:
    hints = typing.get_type_hints(contract)
    fields: tuple[str, ...] = contract._fields
    return frozenset(i for i, name in enumerate(fields) if typing.get_origin(hints[name]) is tuple)


def _spread(values: tuple[Any, ...], positions: frozenset[int]) -> Sequence[Any]:
    if not positions:  # most scripts: the named tuple is already the list
        return values
    spread: list[Any] = []
    for i, value in enumerate(values):
        if i in positions:
            spread.extend(value)
        else:
            spread.append(value)
    return spread


class Scripts:
    def __init__(
        self,
        redis: Redis,
        *,
        channel: ScriptChannel | None = None,
        ledger_max_entries: int = DEFAULT_LEDGER_MAX_ENTRIES,
        token_credits_ttl_seconds: int = DEFAULT_TOKEN_CREDITS_TTL_SECONDS,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        constants = (
            f"local LEDGER_MAX_ENTRIES = {int(ledger_max_entries)}\n"
            f"local TOKEN_CREDITS_TTL = {int(token_credits_ttl_seconds)}\n"
        )
        self._channel = channel  # the hot path's lean connection (store/channel.py), if any
        # Replicas that must hold a script's writes before its answer counts (replicated.py).
        self._wait_replicas, self._wait_timeout_ms = wait_replicas, wait_timeout_ms
        self._reconnector = Reconnector(redis)  # shared: one reconnect for all the scripts
        self._prelude = constants + "".join(
            (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8") for name in PRELUDES
        )
        self.put_team = self._register(redis, "put_team", admin.OneKey, admin.PutTeamArgs)
        self.admit = self._register(redis, "admit", creates.AdmitKeys, creates.AdmitArgs)
        self.release = self._register(
            redis, "release", creates.ReservationKeys, creates.ReleaseArgs
        )
        self.record = self._register(redis, "record", creates.RecordKeys, creates.RecordArgs)
        self.observe = self._register(redis, "observe", creates.TaskMoneyKeys, creates.ObserveArgs)
        self.claim_due = self._register(
            redis, "claim_due", schedule.QueueKeys, schedule.ClaimDueArgs
        )
        self.lease_create = self._register(
            redis, "lease_create", creates.LeaseCreateKeys, creates.LeaseCreateArgs
        )
        self.abandon = self._register(redis, "abandon", creates.AbandonKeys, creates.AbandonArgs)
        self.give_up = self._register(redis, "give_up", creates.TaskMoneyKeys, creates.GiveUpArgs)
        self.cancel = self._register(redis, "cancel", creates.CancelKeys, creates.CancelArgs)
        self.reschedule = self._register(
            redis, "reschedule", schedule.RescheduleKeys, schedule.RescheduleArgs
        )
        self.claim_poll = self._register(
            redis, "claim_poll", schedule.QueueKeys, schedule.ClaimPollArgs
        )
        self.admit_upload = self._register(
            redis, "admit_upload", creates.AdmitUploadKeys, creates.AdmitUploadArgs
        )
        self.settle_orphan = self._register(
            redis, "settle_orphan", creates.SettleOrphanKeys, creates.SettleOrphanArgs
        )
        self.team_next_due = self._register(
            redis, "team_next_due", schedule.TeamNextDueKeys, schedule.TimeArgs
        )
        self.claim_teams = self._register(
            redis, "claim_teams", schedule.DueIndexKeys, schedule.ClaimTeamsArgs
        )
        self.release_team = self._register(
            redis, "release_team", schedule.DueIndexKeys, schedule.ReleaseTeamArgs
        )
        self.index_team = self._register(
            redis, "index_team", schedule.DueIndexKeys, schedule.IndexTeamArgs
        )
        self.outbox_retry = self._register(
            redis, "outbox_retry", schedule.OutboxKeys, schedule.OutboxRetryArgs
        )
        # Admin writes: scripts too, so that they wait for a replica like the money's.
        self.revoke_key = self._register(redis, "revoke_key", admin.OneKey, admin.OneArg)
        self.deactivate_key = self._register(redis, "deactivate_key", admin.OneKey, admin.OneArg)
        self.delete_team = self._register(redis, "delete_team", admin.DeleteTeamKeys, admin.OneArg)
        self.revoke_tokens = self._register(
            redis, "revoke_tokens", admin.OneKey, admin.RevokeTokensArgs
        )
        self.put_baseline = self._register(
            redis, "put_baseline", admin.OneKey, admin.PutBaselineArgs
        )

    def _register(
        self, redis: Redis, name: str, keys: type[Keys], args: type[Args]
    ) -> Contracted[Keys, Args]:
        return Contracted(self._script(redis, name), keys, args)

    def _script(self, redis: Redis, name: str) -> Script:
        source = self._prelude + (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
        if self._wait_replicas:
            return ReplicatedScript(
                redis,
                source,
                replicas=self._wait_replicas,
                timeout_ms=self._wait_timeout_ms,
                reconnector=self._reconnector,
            )
        if self._channel is not None:
            return ChannelScript(self._channel, source)
        return redis.register_script(source)
