"""The Lua scripts in ``store/lua``, registered once per client.

redis-py's registered scripts run by EVALSHA and load themselves again on NOSCRIPT (after a
Redis restart or SCRIPT FLUSH), so callers never see that error. Every script is prefixed with
``lua/_clock.lua`` (time comes from Redis, not from the replica that calls),
``lua/_rate.lua`` (the one rate limit, GCRA: a team's creates, a user's, uploads),
``lua/_money.lua`` (every money move updates the spend figures and the ledger together),
``lua/_reservation.lua`` (a reservation's entry, and settling it: the one way a hold leaves the
books), ``lua/_schedule.lua`` (work given to a team keeps it in the index of due teams),
``lua/_events.lua`` (a task's end written to the team's outbox for its webhooks),
``lua/_alerts.lua`` (budget alerts written to the team's outbox) and ``lua/_lease.lua`` (the
lease on a pending create, so one party at a time resends it), after the ledger's cap:
replicas with the same settings run the very same scripts.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from redis.asyncio import Redis

from app.store.channel import ChannelScript, ScriptChannel
from app.store.contracts import admin, creates, schedule
from app.store.replicated import Reconnector, ReplicatedScript

LUA_DIR = Path(__file__).with_name("lua")


PRELUDES = (
    "_clock",
    "_rate",
    "_money",
    "_reservation",
    "_schedule",
    "_events",
    "_alerts",
    "_lease",
)
DEFAULT_LEDGER_MAX_ENTRIES = 100_000
# A capped token's credits hash must outlive its tasks' settlement (TASK_RETENTION_DAYS).
DEFAULT_TOKEN_CREDITS_TTL_SECONDS = 30 * 86_400
DEFAULT_WEBHOOK_MAX_BACKLOG = 10_000


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

    def __call__(self, *, keys: Keys, args: Args) -> Awaitable[Any]:
        # Not a coroutine of its own: one frame fewer for every await of every script.
        return self.script(
            keys=_spread(keys, self._spread_keys), args=_spread(args, self._spread_args)
        )


def _spread_fields(contract: type[Any]) -> tuple[int, ...]:
    hints = typing.get_type_hints(contract)
    fields: tuple[str, ...] = contract._fields
    return tuple(i for i, name in enumerate(fields) if typing.get_origin(hints[name]) is tuple)


def _spread(values: tuple[Any, ...], positions: tuple[int, ...]) -> Sequence[Any]:
    if not positions:  # most scripts: the named tuple is already the list
        return values
    # A slice per run of plain fields: a create's two scripts spread ~45 values each, and a
    # step per value cost 3 µs a call (bench/README.md).
    spread: list[Any] = []
    start = 0
    for position in positions:
        spread += values[start:position]
        spread += values[position]
        start = position + 1
    spread += values[start:]
    return spread


class Scripts:
    """Every script, registered once, by its name (its file in ``lua/``) and its contract."""

    put_team: Contracted[admin.OneKey, admin.PutTeamArgs]
    admit: Contracted[creates.AdmitKeys, creates.AdmitArgs]
    release: Contracted[creates.ReservationKeys, creates.ReleaseArgs]
    record: Contracted[creates.RecordKeys, creates.RecordArgs]
    observe: Contracted[creates.ObserveKeys, creates.ObserveArgs]
    claim_due: Contracted[schedule.QueueKeys, schedule.ClaimDueArgs]
    lease_create: Contracted[creates.LeaseCreateKeys, creates.LeaseCreateArgs]
    abandon: Contracted[creates.AbandonKeys, creates.AbandonArgs]
    give_up: Contracted[creates.TaskMoneyKeys, creates.GiveUpArgs]
    cancel: Contracted[creates.CancelKeys, creates.CancelArgs]
    reschedule: Contracted[schedule.RescheduleKeys, schedule.RescheduleArgs]
    claim_poll: Contracted[schedule.QueueKeys, schedule.ClaimPollArgs]
    hint_poll: Contracted[schedule.HintPollKeys, schedule.HintPollArgs]
    admit_upload: Contracted[creates.AdmitUploadKeys, creates.AdmitUploadArgs]
    settle_orphan: Contracted[creates.SettleOrphanKeys, creates.SettleOrphanArgs]
    team_next_due: Contracted[schedule.TeamNextDueKeys, schedule.TimeArgs]
    claim_teams: Contracted[schedule.DueIndexKeys, schedule.ClaimTeamsArgs]
    release_team: Contracted[schedule.DueIndexKeys, schedule.ReleaseTeamArgs]
    index_team: Contracted[schedule.DueIndexKeys, schedule.IndexTeamArgs]
    claim_outbox: Contracted[schedule.OutboxKeys, schedule.ClaimOutboxArgs]
    outbox_retry: Contracted[schedule.OutboxRetryKeys, schedule.OutboxRetryArgs]
    outbox_done: Contracted[schedule.OutboxDoneKeys, schedule.OutboxDoneArgs]
    add_test_event: Contracted[schedule.AddTestEventKeys, schedule.AddTestEventArgs]
    keep_result: Contracted[schedule.KeepResultKeys, schedule.KeepResultArgs]
    expire_results: Contracted[schedule.ExpireResultsKeys, schedule.ExpireResultsArgs]
    # Admin writes: scripts too, so that they wait for a replica like the money's.
    revoke_key: Contracted[admin.OneKey, admin.OneArg]
    put_key_budget: Contracted[admin.OneKey, admin.PutKeyBudgetArgs]
    put_webhook: Contracted[admin.OneKey, admin.PutWebhookArgs]
    deactivate_key: Contracted[admin.OneKey, admin.OneArg]
    delete_team: Contracted[admin.DeleteTeamKeys, admin.OneArg]
    revoke_tokens: Contracted[admin.OneKey, admin.RevokeTokensArgs]
    put_baseline: Contracted[admin.OneKey, admin.PutBaselineArgs]

    def __init__(
        self,
        redis: Redis,
        *,
        channel: ScriptChannel | None = None,
        ledger_max_entries: int = DEFAULT_LEDGER_MAX_ENTRIES,
        token_credits_ttl_seconds: int = DEFAULT_TOKEN_CREDITS_TTL_SECONDS,
        webhook_max_backlog: int = DEFAULT_WEBHOOK_MAX_BACKLOG,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        constants = (
            f"local LEDGER_MAX_ENTRIES = {int(ledger_max_entries)}\n"
            f"local TOKEN_CREDITS_TTL = {int(token_credits_ttl_seconds)}\n"
            f"local WEBHOOK_MAX_BACKLOG = {int(webhook_max_backlog)}\n"
        )
        self._channel = channel  # the hot path's lean connection (store/channel.py), if any
        # Replicas that must hold a script's writes before its answer counts (replicated.py).
        self._wait_replicas, self._wait_timeout_ms = wait_replicas, wait_timeout_ms
        self._reconnector = Reconnector(redis)  # shared: one reconnect for all the scripts
        self._prelude = constants + "".join(
            (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8") for name in PRELUDES
        )
        for name, (keys, args) in _contracts().items():
            setattr(self, name, self._register(redis, name, keys, args))

    def _register(
        self, redis: Redis, name: str, keys: type[Any], args: type[Any]
    ) -> Contracted[Any, Any]:
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


@functools.cache
def _contracts() -> dict[str, tuple[type[Any], type[Any]]]:
    """Each script's contract, as ``Scripts`` declares it: name -> (KEYS, ARGV)."""
    return {
        name: typing.get_args(hint)
        for name, hint in typing.get_type_hints(Scripts).items()
        if typing.get_origin(hint) is Contracted
    }
