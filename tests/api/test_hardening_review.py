"""Findings of an adversarial review of the hardening, kept as regression tests: keys issued
before active-key sets, a deleted team's cached key, replays as reads, a burst that empties the
Redis pool."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from redis.asyncio import Redis

from app.clock import FakeClock
from tests.support import (
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)


async def legacy_team_with_key(gw: Gateway, redis_url: str) -> str:
    """A team and key as the code before generations stored them: no generation anywhere, the
    key in the team's plain key set, no active-keys set."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        await gw.create_team("legacy")
        key = await gw.issue_key("legacy")
        generation = str(await redis.hget("gw:{team:legacy}:team", "generation"))
        key_id = "key_" + key.split("_")[1]
        await redis.hdel("gw:{team:legacy}:team", "generation")
        await redis.hdel(f"gw:key:{key_id}", "generation")
        await redis.delete(
            f"gw:{{team:legacy}}:{generation}:keys", f"gw:{{team:legacy}}:{generation}:active-keys"
        )
        await redis.sadd("gw:{team:legacy}:keys", key_id)
        await redis.sadd("gw:settle:teams", "legacy")  # where the old code registered it
    finally:
        await redis.aclose()
    return key


async def test_keys_issued_before_active_key_sets_still_create_after_an_upgrade(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await legacy_team_with_key(gw, redis_url)
    # The upgraded gateway starts: its backfill puts the legacy key in the active set.
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        await gw.app.state.services.unfinished_writes.join()
        made = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert made.status_code == 202
        [record] = (await gw.http.get("/admin/teams/legacy/keys", headers=admin_headers())).json()[
            "data"
        ]
        await gw.http.delete(f"/admin/keys/{record['key_id']}", headers=admin_headers())
        refused = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert refused.status_code == 401
        await settle_all(gw, clock, rounds=3)
        await assert_books_close(gw, "legacy")


async def test_a_deleted_teams_cached_key_cannot_read_the_new_teams_usage(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(
        gateway_settings(redis_url, key_cache_seconds=60), sim_app, clock
    ) as gw:
        old = await gw.team_with_key("alpha", budget_credits=1000, budget_period="total")
        assert (await gw.http.get("/v1/usage", headers=bearer(old))).status_code == 200
        assert (await gw.http.delete("/admin/teams/alpha", headers=admin_headers())).status_code
        await gw.team_with_key("alpha", budget_credits=77, budget_period="day")
        for path in ("/v1/usage", "/api/v1/credits"):
            read = await gw.http.get(path, headers=bearer(old))
            assert (read.status_code, read.json()["error"]["code"]) == (401, "api_key_invalid")


async def test_replays_count_as_reads(redis_url: str, sim_app: FastAPI, clock: FakeClock) -> None:
    settings = gateway_settings(redis_url, read_burst_per_team=3, reads_per_minute_per_team=60)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        body = {"prompt": "p", "client_request_id": "once"}
        statuses = [
            (await gw.http.post("/v1/images", json=body, headers=bearer(key))).status_code
            for _ in range(6)
        ]
        assert statuses == [202, 202, 202, 202, 429, 429]  # the create, then 3 replays
        await settle_all(gw, clock, rounds=3)
        await assert_books_close(gw, "alpha")


async def test_a_burst_that_takes_every_redis_connection_makes_others_wait_not_fail(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, redis_max_connections=4, redis_timeout_seconds=2)
    async with running_gateway(settings, sim_app, clock) as gw:
        noisy = await gw.team_with_key("noisy")
        quiet = await gw.team_with_key("quiet", budget_period="total")

        async def get(key: str, path: str) -> int:
            return (await gw.http.get(path, headers=bearer(key))).status_code

        answers = await asyncio.gather(
            *(get(noisy, "/v1/images?limit=100") for _ in range(40)),
            *(get(quiet, "/v1/usage") for _ in range(5)),
        )
        assert set(answers) == {200}  # four connections, forty-five requests: all served
        made = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(quiet))
        assert made.status_code == 202
        await settle_all(gw, clock, rounds=3)
        await assert_books_close(gw, "quiet")
