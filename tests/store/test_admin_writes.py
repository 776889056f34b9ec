"""The admin writes' scripts (a key's revocation, a team's deletion, a browser-token revocation,
the reconciliation baseline) on a real redis-server, over the lean channel and through redis-py:
each is safe to repeat, since an admin told "may or may not have taken effect" repeats it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from app.domain.reconciliation import Baseline
from app.domain.teams import ApiKeyRecord, Team
from app.store.api_keys import ApiKeyStore
from app.store.channel import open_channel
from app.store.keyspace import KeySpace
from app.store.reconciliation import BaselineStore
from app.store.redis import create_redis
from app.store.scripts import Scripts
from app.store.teams import TeamStore
from app.store.tokens import MAX_REVOCATIONS, TokenRevocationStore, TooManyRevocations

NOW = "2026-05-11T00:00:00.000Z"


@dataclass
class AdminStores:
    redis: Redis
    keys: KeySpace
    teams: TeamStore
    api_keys: ApiKeyStore
    tokens: TokenRevocationStore
    baselines: BaselineStore

    async def team(self, generation: str) -> Team:
        team = Team.model_validate(
            {"id": "alpha", "created_at": NOW, "updated_at": NOW, "generation": generation}
        )
        assert await self.teams.create(team)
        return team

    async def key(self, team: Team, key_id: str = "key_1") -> ApiKeyRecord:
        record = ApiKeyRecord(
            key_id=key_id,
            team=team.id,
            generation=team.generation,
            secret_hash="x" * 64,
            created_at=NOW,
        )
        await self.api_keys.add(record)
        return record

    async def active(self, team: Team) -> set[str]:
        return {str(m) for m in await self.redis.smembers(self.keys.active_keys(team.tenant))}


@pytest.fixture(params=["channel", "redis-py"])
async def stores(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AdminStores]:
    redis = create_redis(redis_url)
    keys = KeySpace("t")
    channel = open_channel(redis_url, timeout=2.0) if request.param == "channel" else None
    scripts = Scripts(redis, channel=channel)
    yield AdminStores(
        redis=redis,
        keys=keys,
        teams=TeamStore(redis, keys, scripts),
        api_keys=ApiKeyStore(redis, keys, scripts),
        tokens=TokenRevocationStore(redis, keys, scripts),
        baselines=BaselineStore(redis, keys, scripts),
    )
    if channel is not None:
        await channel.aclose()
    await redis.aclose()


async def test_a_revoke_takes_the_key_out_of_admission_and_a_repeat_keeps_its_time(
    stores: AdminStores,
) -> None:
    team = await stores.team("a1")
    await stores.key(team, "key_1")
    await stores.key(team, "key_2")
    revoked = await stores.api_keys.revoke("key_1", "2026-05-11T01:00:00.000Z")
    assert revoked is not None
    assert (revoked.key_id, revoked.tenant) == ("key_1", "alpha@a1")
    assert revoked.revoked_at == "2026-05-11T01:00:00.000Z"
    assert await stores.active(team) == {"key_2"}
    again = await stores.api_keys.revoke("key_1", "2026-05-11T02:00:00.000Z")
    assert again == revoked  # the first revocation's time stays
    assert await stores.api_keys.get("key_1") == revoked
    assert await stores.api_keys.revoke("key_unknown", NOW) is None


async def test_a_team_deleted_from_a_stale_read_leaves_the_team_now_under_its_id(
    stores: AdminStores,
) -> None:
    old = await stores.team("a1")
    await stores.key(old)
    assert await stores.teams.delete(old)
    assert await stores.teams.get("alpha") is None
    assert await stores.active(old) == set()  # no key of it passes admission
    assert await stores.teams.delete(old) is False  # a repeat: nothing left to delete
    new = await stores.team("b2")
    await stores.key(new, "key_2")
    # A deletion that read the old team (and ran late, or was retried) leaves the new one.
    assert await stores.teams.delete(old) is False
    assert await stores.teams.get("alpha") == new
    assert [t.id for t in await stores.teams.list()] == ["alpha"]
    assert await stores.active(new) == {"key_2"}


async def test_a_token_revocation_only_moves_forward_and_prunes_the_expired(
    stores: AdminStores,
) -> None:
    await stores.tokens.revoke("alpha@a1", "ann", now=1_000.5)
    await stores.tokens.revoke("alpha@a1", "ann", now=900.0)  # a late repeat: no step back
    await stores.tokens.revoke("alpha@a1", None, now=1_000.0)
    assert await stores.tokens.not_before("alpha@a1", "ann") == 1_000.5
    assert await stores.tokens.not_before("alpha@a1", "cat") == 1_000.0  # the team-wide one
    # Long after, the old revocations have nothing left to revoke and are pruned.
    await stores.tokens.revoke("alpha@a1", "bob", now=1_000_000.0)
    revocations = stores.keys.token_revocations("alpha@a1")
    assert await stores.redis.zrange(revocations, 0, -1) == ["bob"]
    assert await stores.redis.ttl(revocations) > 0


async def test_a_team_holds_a_bounded_number_of_revocations(stores: AdminStores) -> None:
    """Revocations were kept an hour with no cap: ~0.85 GB for one team in an hour."""
    revocations = stores.keys.token_revocations("alpha@a1")
    await stores.redis.zadd(revocations, {f"user-{n}": 1_000.0 for n in range(MAX_REVOCATIONS)})
    with pytest.raises(TooManyRevocations):
        await stores.tokens.revoke("alpha@a1", "one-more", now=1_001.0)
    await stores.tokens.revoke("alpha@a1", "user-7", now=1_001.0)  # one held already: moves on
    await stores.tokens.revoke("alpha@a1", None, now=1_002.0)  # the team-wide one always goes in
    assert await stores.redis.zcard(revocations) == MAX_REVOCATIONS + 1
    assert await stores.tokens.not_before("alpha@a1", "one-more") == 1_002.0


async def test_a_baseline_replaces_the_last_unless_only_if_absent(stores: AdminStores) -> None:
    first, second = Baseline(100, 0, 0, 1), Baseline(90, 10, 0, 2)
    assert await stores.baselines.put(first, only_if_absent=True)
    assert not await stores.baselines.put(second, only_if_absent=True)
    assert await stores.baselines.get() == first
    assert await stores.baselines.put(second)
    assert await stores.baselines.get() == second
