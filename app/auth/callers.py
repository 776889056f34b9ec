"""Who is calling: turns an ``Authorization`` header into a ``Caller`` or a 401.

Key records and their teams are cached in-process for ``KEY_CACHE_SECONDS`` so a hot key costs
no Redis round trip; the secret is still verified on every request. Reads may use a revoked key
for at most that long; a paid create never can, since the admission script checks the key's and
the team's standing itself (store/lua/admit.lua).
"""

from __future__ import annotations

from dataclasses import dataclass

from app import context
from app.auth.keys import key_id_of, matches, tokens_equal
from app.clock import Clock
from app.domain import ApiKeyRecord, Team
from app.errors import ApiKeyInvalid, ApiKeyMissing, ApiKeyRevoked
from app.store.apikeys import ApiKeyStore
from app.store.teams import TeamStore

_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Caller:
    team: Team
    key_id: str


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise ApiKeyMissing()
    parts = authorization.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        raise ApiKeyMissing("Send the key as: Authorization: Bearer <key>.")
    return parts[1].strip()


class CallerResolver:
    def __init__(
        self, keys: ApiKeyStore, teams: TeamStore, clock: Clock, *, cache_seconds: float
    ) -> None:
        self._keys, self._teams, self._clock = keys, teams, clock
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, ApiKeyRecord, Team | None]] = {}

    async def team_caller(self, authorization: str | None) -> Caller:
        key = bearer_token(authorization)
        key_id = key_id_of(key)
        if key_id is None:
            raise ApiKeyInvalid()
        record, team = await self._lookup(key_id)
        if record is None or not matches(key, record.secret_hash):
            raise ApiKeyInvalid()
        if team is None or team.generation != record.generation:
            # Its team was deleted (and perhaps its id taken by a new team): not a key any more.
            raise ApiKeyInvalid("This key's team no longer exists.")
        if record.revoked:
            raise ApiKeyRevoked()
        context.note_team(team.id, key_id)
        return Caller(team=team, key_id=key_id)

    async def _lookup(self, key_id: str) -> tuple[ApiKeyRecord | None, Team | None]:
        now = self._clock.now()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        record = await self._keys.get(key_id)
        team = await self._teams.get(record.team) if record else None
        # Only real keys are cached, so a spray of made-up ids cannot push them out.
        if self._ttl > 0 and record is not None:
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) < _MAX_CACHED:
                self._cache[key_id] = (now + self._ttl, record, team)
        return record, team


def check_admin(authorization: str | None, admin_token: str | None) -> None:
    """Admin routes accept the admin token and nothing else (a team key included)."""
    token = bearer_token(authorization)
    if admin_token is None:
        raise ApiKeyInvalid("The admin API is disabled: GATEWAY_ADMIN_TOKEN is not set.")
    if not tokens_equal(token, admin_token):
        raise ApiKeyInvalid()
