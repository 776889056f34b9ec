"""Reads never become Rivya calls one for one: a running task is asked about on its schedule,
however many read it; the org's balance is reused for a while; a team's reads are limited."""

from __future__ import annotations

from fastapi import FastAPI

from app.clock import FakeClock
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
)


def polls(gw: Gateway, task_id: str) -> int:
    return len([r for r in gw.upstream_requests(f"/generations/{task_id}") if r.method == "GET"])


async def test_forty_reads_of_a_running_task_ask_rivya_on_its_schedule(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_period="total")
    task_id = (
        await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    ).json()["id"]
    for _ in range(40):  # 40 reads over 4 s
        read = await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key))
        assert read.status_code == 202
        clock.advance(0.1)
    # First poll due 2-3 s after creation, the next 5-10 s after that: one poll in 4 s.
    assert polls(gateway, task_id) == 1
    for _ in range(4):
        clock.advance(10)
        await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key), params={"wait": 5})
    assert polls(gateway, task_id) <= 3  # the task took 6 s; never more than its schedule
    await assert_books_close(gateway, "alpha")


async def test_the_org_balance_is_asked_once_per_interval(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")  # no budget: its credits are the org's balance
    for _ in range(20):
        credits = await gateway.http.get("/api/v1/credits", headers=bearer(key))
        assert credits.status_code == 200
    assert len(gateway.upstream_requests("/api/v1/credits")) == 1
    clock.advance(11)  # ORG_BALANCE_CACHE_SECONDS = 10
    await gateway.http.get("/api/v1/credits", headers=bearer(key))
    assert len(gateway.upstream_requests("/api/v1/credits")) == 2


async def test_a_teams_reads_are_limited_and_others_are_not(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, reads_per_minute_per_team=60, read_burst_per_team=5)
    async with running_gateway(settings, sim_app, clock) as gw:
        noisy = await gw.team_with_key("noisy")
        quiet = await gw.team_with_key("quiet")
        statuses = [(await gw.http.get("/v1/usage", headers=bearer(noisy))).status_code]
        statuses += [(await gw.http.get("/v1/usage", headers=bearer(noisy))).status_code]
        for _ in range(4):
            statuses.append((await gw.http.get("/v1/usage", headers=bearer(noisy))).status_code)
        assert statuses == [200] * 5 + [429]
        refused = await gw.http.get("/v1/models", headers=bearer(noisy))
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["ratelimit-policy"] == '"reads";q=5;w=5'
        assert int(refused.headers["retry-after"]) >= 1
        assert (await gw.http.get("/v1/usage", headers=bearer(quiet))).status_code == 200
        clock.advance(1)  # one read a second refills
        assert (await gw.http.get("/v1/usage", headers=bearer(noisy))).status_code == 200
