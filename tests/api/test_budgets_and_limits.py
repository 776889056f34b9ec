"""Budgets, rate limits and in-flight caps through the API, and spend reporting."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.clock import FakeClock
from tests.support import (
    Gateway,
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
    served,
)


async def create(gateway: Gateway, key: str, model: str = "flux-kontext-max") -> httpx.Response:
    return await gateway.http.post(
        "/v1/images", json={"prompt": "p", "model": model}, headers=bearer(key)
    )


async def usage(gateway: Gateway, key: str) -> dict[str, Any]:
    response = await gateway.http.get("/v1/usage", headers=bearer(key))
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


async def test_forty_concurrent_creates_against_a_budget_for_ten(gateway: Gateway) -> None:
    key = await gateway.team_with_key(
        "alpha", budget_credits=80, rate_limit_per_minute=1000, max_in_flight=100
    )
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            u = await usage(gateway, key)
            samples.append(u["spent_credits"] + u["reserved_credits"])
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    responses = await asyncio.gather(*(create(gateway, key) for _ in range(40)))
    done.set()
    await sampler
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(202) == 10
    assert statuses.count(402) == 30
    assert len(gateway.upstream_requests("/api/v1/generations")) == 10
    assert samples
    assert max(samples) <= 80
    final = await usage(gateway, key)
    assert (final["reserved_credits"], final["remaining_credits"], final["in_flight"]) == (
        80,
        0,
        10,
    )


async def test_budget_refusal_says_what_is_left_and_when_it_resets(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=12, budget_period="day")
    assert (await create(gateway, key)).status_code == 202
    refused = await create(gateway, key)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "4 of 12 credits left today" in error["message"]
    assert "needs 8" in error["message"]
    assert re.search(r"resets at \d{4}-\d\d-\d\dT00:00:00Z", error["message"])
    # A 4-credit model still fits.
    assert (await create(gateway, key, "flux-kontext-pro")).status_code == 202


async def test_an_admin_budget_change_applies_to_the_very_next_create(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    assert (await create(gateway, key)).status_code == 202
    assert (await create(gateway, key)).status_code == 402
    patched = await gateway.http.patch(
        "/admin/teams/alpha", json={"budget_credits": 16}, headers=admin_headers()
    )
    assert patched.status_code == 200
    # No cache stands in the way: the admission script reads the budget from Redis.
    assert (await create(gateway, key)).status_code == 202


async def test_rate_limit_headers_on_success_and_refusal(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", rate_limit_per_minute=60, burst=2)
    first = await create(gateway, key)
    assert first.headers["ratelimit-policy"] == '"creates";q=2;w=2'
    assert first.headers["ratelimit"] == '"creates";r=1;t=1'
    await create(gateway, key)
    refused = await create(gateway, key)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["ratelimit"] == '"creates";r=0;t=1'
    assert len(gateway.upstream_requests("/api/v1/generations")) == 2
    clock.advance(1)
    assert (await create(gateway, key)).status_code == 202


async def test_in_flight_cap_refuses_until_a_task_ends(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha", max_in_flight=2, rate_limit_per_minute=1000)
    ids = [(await create(gateway, key)).json()["id"] for _ in range(2)]
    refused = await create(gateway, key)
    assert refused.status_code == 429
    assert "2 tasks in flight" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"]
    # Every 429 carries the IETF headers; this one consumed nothing of the rate bucket.
    assert refused.headers["ratelimit-policy"] == '"creates";q=1000;w=60'
    assert refused.headers["ratelimit"].startswith('"creates";r=998;')
    clock.advance(10)  # both tasks end upstream; reading one settles it and frees its slot
    assert (await gateway.http.get(f"/v1/images/{ids[0]}", headers=bearer(key))).status_code == 200
    assert (await create(gateway, key)).status_code == 202


async def test_a_definite_upstream_refusal_releases_the_reservation(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    gateway.sim.set_faults(error_status=503, error_count=3)  # every attempt of the create
    assert (await create(gateway, key)).status_code == 503
    assert (await usage(gateway, key))["reserved_credits"] == 0
    assert (await create(gateway, key)).status_code == 202  # the budget was given back


async def test_a_timeout_keeps_the_reservation(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """Rivya may have created the task: refunding blindly could overspend."""
    async with served(sim_app) as sim_url:
        settings = gateway_settings(redis_url, rivya_base_url=sim_url, rivya_timeout_seconds=0.3)
        async with running_gateway(settings, sim_app, clock, upstream="network") as gw:
            key = await gw.team_with_key("alpha", budget_credits=16)
            # Every attempt of the create is made upstream and its answer lost.
            gw.sim.set_faults(hang_seconds=1, hang_count=3, hang_mode="after")
            assert (await create(gw, key)).status_code == 504
            assert (await usage(gw, key))["reserved_credits"] == 8


async def test_settlement_charges_success_and_refunds_failure(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=100)
    gateway.sim.set_faults(force_fail_next=1)
    failed = (await create(gateway, key)).json()["id"]
    ok = (await create(gateway, key)).json()["id"]
    clock.advance(10)
    for task_id in (failed, ok):
        await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key))
    u = await usage(gateway, key)
    assert (u["spent_credits"], u["reserved_credits"], u["in_flight"]) == (8, 0, 0)


async def test_the_settler_settles_tasks_nobody_polls(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=100)
    gateway.sim.set_faults(force_fail_next=1)
    ids = [(await create(gateway, key)).json()["id"] for _ in range(3)]
    settler = gateway.app.state.services.settler
    assert await settler.run_once() == 0  # nothing is due before the first poll (2-3 s)
    clock.advance(3)
    assert await settler.run_once() == 3  # first poll: still queued/processing upstream
    assert (await usage(gateway, key))["in_flight"] == 3
    clock.advance(10)
    assert await settler.run_once() == 3
    u = await usage(gateway, key)
    assert (u["spent_credits"], u["reserved_credits"], u["in_flight"]) == (16, 0, 0)
    clock.advance(60)
    assert await settler.run_once() == 0  # settled tasks leave the queue
    polls = [r for r in gateway.upstream_requests("/generations/") if r.method == "GET"]
    assert len(polls) == 6
    stored = await gateway.http.get(f"/v1/images/{ids[1]}", headers=bearer(key))
    assert stored.json()["status"] == "succeeded"


async def test_two_settlers_share_the_work_and_never_double_settle(
    gateway: Gateway, redis_url: str, clock: FakeClock
) -> None:
    key = await gateway.team_with_key(
        "alpha", budget_credits=1000, rate_limit_per_minute=1000, max_in_flight=100
    )
    for _ in range(20):
        assert (await create(gateway, key)).status_code == 202
    async with running_gateway(gateway_settings(redis_url), gateway.sim_app, clock) as other:
        first = gateway.app.state.services.settler
        second = other.app.state.services.settler
        clock.advance(20)
        counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(counts) == 20  # every task polled once, by one of them
    polls = [r for r in gateway.upstream_requests("/generations/") if r.method == "GET"]
    assert len(polls) == 20
    u = await usage(gateway, key)
    assert (u["spent_credits"], u["reserved_credits"]) == (160, 0)


async def test_usage_credits_and_the_spend_report(gateway: Gateway, clock: FakeClock) -> None:
    alpha = await gateway.team_with_key("alpha", budget_credits=100, budget_period="month")
    beta = await gateway.team_with_key("beta")
    await create(gateway, alpha)
    await create(gateway, beta, "flux-kontext-pro")
    u = await usage(gateway, alpha)
    assert u["team"] == "alpha"
    assert (u["budget_credits"], u["reserved_credits"], u["remaining_credits"]) == (100, 8, 92)
    assert u["period_start"].endswith("-01T00:00:00Z")
    assert (u["rate_limit_per_minute"], u["max_in_flight"], u["in_flight"]) == (60, 20, 1)

    credits = await gateway.http.get("/api/v1/credits", headers=bearer(alpha))
    assert credits.json() == {"current_credits": 92}
    # No budget: the team may spend up to the organisation's balance, which Rivya reports.
    unbounded = await gateway.http.get("/api/v1/credits", headers=bearer(beta))
    assert unbounded.json() == {"current_credits": gateway.sim.current_credits()}

    clock.advance(10)
    await gateway.app.state.services.settler.run_once()
    report = (await gateway.http.get("/admin/spend", headers=admin_headers())).json()
    rows = {row["team"]: row for row in report["teams"]}
    assert rows["alpha"]["spent_credits"] == 8
    assert rows["alpha"]["remaining_credits"] == 92
    assert rows["alpha"]["tasks"] == {"created": 1, "pending": 0, "succeeded": 1, "failed": 0}
    assert rows["beta"]["budget_credits"] is None
    assert rows["beta"]["spent_credits"] == 4
    assert report["totals"]["spent_credits"] == 12
    day = clock.now()

    today = datetime.fromtimestamp(day, tz=UTC).strftime("%Y-%m-%d")
    by_day = (
        await gateway.http.get(f"/admin/spend?period={today}", headers=admin_headers())
    ).json()
    assert by_day["totals"]["spent_credits"] == 12
    bad = await gateway.http.get("/admin/spend?period=yesterday", headers=admin_headers())
    assert bad.status_code == 400


async def test_the_settler_gives_up_on_a_task_rivya_no_longer_knows(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=100, max_in_flight=1)
    assert (await create(gateway, key)).status_code == 202
    gateway.sim.tasks.clear()  # Rivya forgets it: every poll is now a 404
    settler = gateway.app.state.services.settler
    clock.advance(10)
    await settler.run_once()
    assert (await usage(gateway, key))["in_flight"] == 1  # still waiting
    assert (await create(gateway, key)).status_code == 429
    clock.advance(86_400)
    await settler.run_once()
    u = await usage(gateway, key)
    assert (u["in_flight"], u["reserved_credits"], u["spent_credits"]) == (0, 0, 8)
    assert (await create(gateway, key)).status_code == 202
