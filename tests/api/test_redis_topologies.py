"""The money paths against real local highly available Redis topologies: a Redis Cluster of
three masters (``redis+cluster://``: every multi-key script stays in its team's slot) and a
Sentinel set of a master, a replica and three sentinels (``redis+sentinel://``). Budgets,
idempotency and settlement hold as on one node, and the books close."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from tests.support import (
    RedisClusterNodes,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)


async def test_a_budget_race_admits_exactly_what_fits(
    topology_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(gateway_settings(topology_url), sim_app, clock) as gw:
        key = await gw.team_with_key(
            "alpha", budget_credits=80, rate_limit_per_minute=10_000, max_in_flight=1000
        )
        answers = await asyncio.gather(
            *(
                gw.http.post("/v1/images", json={"prompt": f"p{i}"}, headers=bearer(key))
                for i in range(40)
            )
        )
        statuses = [a.status_code for a in answers]
        assert (statuses.count(202), statuses.count(402)) == (10, 30)
        assert len(gw.sim.tasks) == 10
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_concurrent_repeats_make_one_task(
    topology_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(topology_url, idempotency_waiters_per_team=40)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        body = {"prompt": "once", "client_request_id": "order-1"}
        answers = await asyncio.gather(
            *(gw.http.post("/v1/images", json=body, headers=bearer(key)) for _ in range(20))
        )
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["id"] for a in answers}) == 1
        assert len(gw.sim.tasks) == 1
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_teams_on_different_masters_of_a_cluster_settle_and_their_books_close(
    redis_cluster: RedisClusterNodes, sim_app: FastAPI, clock: FakeClock
) -> None:
    redis_cluster.flush()
    cluster_url = redis_cluster.url
    teams = [f"team-{i}" for i in range(6)]
    async with running_gateway(gateway_settings(cluster_url), sim_app, clock) as gw:
        keys = {team: await gw.team_with_key(team) for team in teams}
        for team, key in keys.items():
            for n in range(2):
                made = await gw.http.post(
                    "/v1/images", json={"prompt": f"{team} {n}"}, headers=bearer(key)
                )
                assert made.status_code == 202, made.text
        await settle_all(gw, clock)
        await assert_books_close(gw, *teams)
        for team, key in keys.items():
            usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
            assert (usage["spent_credits"], usage["reserved_credits"]) == (16, 0), team
    # The teams' data really is spread: more than one master holds some.
    holding = 0
    for port in redis_cluster.ports:
        node = SyncRedis(port=port)
        holding += node.dbsize() > 0
        node.close()
    assert holding > 1
