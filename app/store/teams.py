"""Teams in Redis: one hash of policy fields per team, plus an index set of team ids."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from app.domain.teams import Team
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
from app.store.redis import admin_write, store_errors, text_map
from app.store.scripts import Scripts

# Fields stored as JSON (lists, or null for "no restriction"); the rest are plain strings.
_JSON_FIELDS = frozenset({"allowed_models", "cors_origins"})


def _encode(team: Team, only: Iterable[str] | None = None) -> list[str]:
    fields = team.model_dump(mode="json", include=set(only) if only is not None else None)
    flat: list[str] = []
    for field, value in fields.items():
        if field in _JSON_FIELDS:
            encoded = json.dumps(value)
        else:
            encoded = "" if value is None else str(value)
        flat += [field, encoded]
    return flat


def _decode(raw: dict[str, str]) -> Team:
    data: dict[str, Any] = {}
    for field, value in raw.items():
        if field in _JSON_FIELDS:
            data[field] = json.loads(value)
        else:
            data[field] = None if value == "" else value
    return Team.model_validate(data)


class TeamStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def create(self, team: Team) -> bool:
        """Store a new team; False if the id is taken."""
        with store_errors():
            # Registered for settlement first (never removed: a deleted team's tasks still
            # settle), so no team can ever have tasks the settlers do not walk.
            await self._redis.sadd(self._keys.settle_teams(), team.tenant)
            created = await self._scripts.put_team(
                keys=c.OneKey(self._keys.team(team.id)),
                args=c.PutTeamArgs(mode="create", fields=tuple(_encode(team))),
            )
            if created:
                await self._redis.sadd(self._keys.teams_index(), team.id)
        return bool(created)

    async def replace(self, team: Team, only: Iterable[str] | None = None) -> bool:
        """Overwrite an existing team's fields (just ``only``, when given, so two admins
        changing different fields at once both keep their change); False if it does not
        exist."""
        with store_errors():
            # A team's generation is its identity: set when it is created, never by an update.
            fields = set(only) if only is not None else set(Team.model_fields)
            written = await self._scripts.put_team(
                keys=c.OneKey(self._keys.team(team.id)),
                args=c.PutTeamArgs(
                    mode="update", fields=tuple(_encode(team, fields - {"generation"}))
                ),
            )
        return bool(written)

    async def get(self, team_id: str) -> Team | None:
        with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.team(team_id)))
        return _decode(raw) if raw else None

    async def list(self) -> list[Team]:
        with store_errors():
            ids = sorted(str(i) for i in await self._redis.smembers(self._keys.teams_index()))
            async with self._redis.pipeline(transaction=False) as pipe:
                for team_id in ids:
                    pipe.hgetall(self._keys.team(team_id))
                rows = [text_map(row) for row in await pipe.execute()]
        return [_decode(row) for row in rows if row]

    async def delete(self, team: Team) -> bool:
        """Delete the team (the generation given: a team created since under its id stays);
        False if it was not there."""
        async with admin_write("The team's deletion"):
            # The team and its active keys together (no key of it passes admission any more,
            # revoked or not), acknowledged by a replica when writes wait for one.
            outcome = await self._scripts.delete_team(
                keys=c.DeleteTeamKeys(
                    team=self._keys.team(team.id),
                    active_keys=self._keys.active_keys(team.tenant),
                    webhooks=self._keys.webhooks(team.tenant),
                ),
                args=c.OneArg(team.generation or ""),
            )
            if outcome >= 0:
                # The index only lists teams (``list`` skips an id whose hash is gone), so
                # this one stays a plain write: losing it to a failover lists nothing wrong.
                await self._redis.srem(self._keys.teams_index(), team.id)
        return bool(outcome == 1)
