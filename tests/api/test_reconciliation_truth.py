"""The reconciliation neither hides nor invents drift (the third money audit): a baseline's
uncertainty ends as the reservations it stood for settle; a baseline reads a fresh balance, on
Redis's clock; every suspect since the baseline is listed; a new upstream is a new baseline,
not drift. Each test ends with the books."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from tests.api.test_clock_skew import SkewedClock
from tests.api.test_money_verdicts import Upstream
from tests.rivya_side import Asgi, Reply, Request
from tests.support import (
    Gateway,
    RedisServer,
    admin_get,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
    simulator_app,
)


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "p", **body}, headers=bearer(key))


async def set_baseline(gw: Gateway) -> dict[str, Any]:
    taken = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
    assert taken.status_code == 200, taken.text
    answer: dict[str, Any] = taken.json()
    return answer


async def test_a_baselines_uncertainty_ends_when_what_it_held_has_settled(
    gateway: Gateway, clock: FakeClock
) -> None:
    """Taken with 40 credits in flight, a baseline counted them as uncertain forever: 40 spent
    outside the gateway later showed 0 unexplained, "credits in flight" blamed with nothing in
    flight."""
    key = await gateway.team_with_key("alpha", rate_limit_per_minute=1000)
    for _ in range(5):
        assert (await create(gateway, key)).status_code == 202
    taken = await set_baseline(gateway)
    assert taken["baseline"]["uncertain_credits"] == 40
    assert taken["baseline"]["still_uncertain_credits"] == 40
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
    settled = await admin_get(gateway, "/admin/upstream")
    assert settled["baseline"]["still_uncertain_credits"] == 0
    assert (settled["drift_credits"], settled["unexplained_credits"]) == (0, 0)
    gateway.sim.set_balance(gateway.sim.current_credits() - 40)  # the Rivya console, say
    outside = await admin_get(gateway, "/admin/upstream")
    assert (outside["drift_credits"], outside["unexplained_credits"]) == (40, 40)
    assert "outside the gateway" in outside["explanation"]


async def test_the_start_up_baseline_reads_a_fresh_balance(
    gateway: Gateway, clock: FakeClock
) -> None:
    """The start-up baseline took the balance the process had cached (for GET
    /api/v1/credits) against fresh books: a false unexplained drift of 8."""
    key = await gateway.team_with_key("alpha", budget_credits=100)
    credits = await gateway.http.get("/api/v1/credits", headers=bearer(key))
    assert credits.status_code == 200  # the org balance is cached now
    assert (await create(gateway, key)).status_code == 202
    await settle_all(gateway, clock)  # spent 8; the cache still holds the balance before it
    assert await gateway.app.state.services.reconciliation.baselines.first(wait_for_quiet=True)
    report = await admin_get(gateway, "/admin/upstream")
    assert (report["drift_credits"], report["unexplained_credits"]) == (0, 0)
    await assert_books_close(gateway, "alpha")


async def test_a_baseline_is_timed_by_redis_not_by_the_replica(
    redis_url: str, redis_server: RedisServer, sim_app: FastAPI
) -> None:
    """The ledger's ids are Redis's time; the baseline's was the replica's: on a replica 10 s
    fast, a suspect charged in those 10 s fell before the baseline and was never listed."""
    settings = gateway_settings(redis_url)
    async with running_gateway(settings, sim_app, SkewedClock(10.0)) as fast:
        taken = await set_baseline(fast)
    client = SyncRedis(port=redis_server.port)
    seconds, micros = client.time()
    client.close()
    redis_ms = seconds * 1000 + micros // 1000
    set_at = time.mktime(time.strptime(taken["baseline"]["set_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    set_at_ms = (set_at - time.timezone) * 1000
    assert redis_ms - 5_000 < set_at_ms <= redis_ms  # Redis's clock, not 10 s ahead


async def test_every_suspect_since_the_baseline_is_listed_however_long_the_ledger(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    """Suspects were looked for among each team's latest 1,000 ledger entries: after 501
    ordinary creates (1,002 entries), an earlier suspect vanished from the report."""
    settings = gateway_settings(redis_url, settler_batch=1000)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", rate_limit_per_minute=100_000, max_in_flight=1000)
        await set_baseline(gw)
        upstream.rewrite = lambda body: body.pop("final_credits")  # Rivya misreports one
        suspect = (await create(gw, key)).json()["id"]
        await settle_all(gw, clock)
        upstream.rewrite = None
        for _ in range(501):
            assert (await create(gw, key)).status_code == 202
        await settle_all(gw, clock)
        report = await admin_get(gw, "/admin/upstream")
        assert [s["task"] for s in report["suspect_tasks"]] == [suspect]
        assert report["suspect_tasks"][0]["event"] == "unpriced"
        await assert_books_close(gw, "alpha")


@pytest.fixture
def upstream(sim_app: FastAPI) -> Upstream:
    return Upstream(sim_app)


class Switchable:
    """What stands at RIVYA_BASE_URL: a simulator that can be replaced by a fresh one."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.to(sim_app)

    def to(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)

    async def __call__(self, request: Request) -> Reply:
        return await self.sim(request)


async def test_a_restarted_simulator_is_a_new_baseline_not_drift(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """`make run` restarted with a fresh simulator (a new balance, none of the old tasks): the
    dashboard showed "-288 unexplained"."""
    upstream = Switchable(sim_app)
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, upstream=upstream
    ) as gw:
        key = await gw.team_with_key("alpha", rate_limit_per_minute=1000)
        await set_baseline(gw)
        for _ in range(4):
            assert (await create(gw, key)).status_code == 202
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
        fresh = simulator_app(clock)
        upstream.to(fresh)  # restarted: same URL, same key, a new account
        caplog.set_level(logging.WARNING, "app.reconciliation")
        first = await admin_get(gw, "/admin/upstream")
        again = await admin_get(gw, "/admin/upstream")
        for report in (first, again):
            assert (report["drift_credits"], report["unexplained_credits"]) == (0, 0)
            assert report["rivya"]["current_credits"] == report["baseline"]["rivya_credits"]
        said = [r for r in caplog.records if "the upstream changed" in r.getMessage()]
        assert len(said) == 1  # said once
        assert (await create(gw, key)).status_code == 202  # and counted on from there
        await settle_all(gw, clock)
        after = await admin_get(gw, "/admin/upstream")
        assert (after["drift_credits"], after["unexplained_credits"]) == (0, 0)
        assert after["since_baseline"]["rivya_spent"] == 8


async def test_another_account_is_a_new_baseline_not_drift(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """The org key (or RIVYA_BASE_URL) changed: a baseline of the old account is replaced."""
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as old:
        key = await old.team_with_key("alpha")
        await set_baseline(old)
        assert (await create(old, key)).status_code == 202
        await settle_all(old, clock)
    other = simulator_app(clock)
    moved = gateway_settings(redis_url, rivya_base_url="https://rivya.other.example")
    async with running_gateway(moved, other, clock) as new:
        report = await admin_get(new, "/admin/upstream")
        assert (report["drift_credits"], report["unexplained_credits"]) == (0, 0)
        assert report["rivya"]["current_credits"] == report["baseline"]["rivya_credits"]
