"""Findings of an adversarial review of the money paths, each reproduced against the code it read
and kept here as a regression test: Redis away for longer than a create's lease, a retry whose
own admission answer is lost, write refusals, skewed clocks and give-ups."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock, SystemClock
from tests.api.test_clock_skew import SkewedClock, skew_settings
from tests.api.test_money_audit import Upstream, audit_settings, create
from tests.memory_link import MemoryConnector
from tests.rivya_side import Reply, Request, json_reply
from tests.support import (
    RedisServer,
    assert_books_close,
    bearer,
    rivya_charged,
    running_gateway,
    settle_all,
    simulator_app,
    total_spend,
)

# The audit settings with a 1 s upstream timeout: a create's lease is 1 + 0 + 5 = 6 s.
SHORT_LEASE = {"rivya_timeout_seconds": 1.0}


async def test_a_refused_create_is_released_after_a_long_outage_never_resent(
    redis_server: RedisServer, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Upstream(sim_app)

    async def refuse_then_redis_goes_down(request: Request) -> Reply:
        response = await upstream.refused(request)
        redis_server.go_down()
        return response

    # Taking Redis down blocks the loop for a while on a busy machine: a timeout of 3 s (a lease
    # of 8 s) keeps it from passing for Rivya's own answer being late.
    settings = audit_settings(redis_url, rivya_timeout_seconds=3.0)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [refuse_then_redis_goes_down]
        refused = await create(gw, key)
        # Rivya refused it, but Redis has not heard: until it does, the outcome is not final,
        # and the answer names the handle that will tell.
        assert refused.status_code == 503
        handle = refused.json()["error"]["client_request_id"]
        redis_server.come_back()
        clock.advance(10)  # far past the 6 s lease
        await gw.app.state.services.unfinished_writes.join()  # the release lands once Redis is back
        await gw.app.state.services.settler.run_once()
        assert upstream.creates == 1  # released, so never resent
        retry = await create(gw, key, client_request_id=handle)
        assert retry.status_code == 202  # a fresh create, once
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
        assert len(gw.sim.tasks) == 1


async def test_a_resend_refused_as_invalid_stays_unknown_until_rivya_tells(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """Rivya's 400 to a resend proves nothing about the first send (its answer to a repeat may
    differ: a reference gone, its idempotency record expired): the credits stay held and the
    claim unknown, never released, until a resend learns the truth."""
    upstream = Upstream(sim_app)

    async def invalid(_: Request) -> Reply:
        body = {"error": {"code": "validation_failed", "message": "no", "requestId": "r"}}
        return json_reply(400, body)

    async with running_gateway(audit_settings(redis_url), sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [upstream.lost_before_arriving, invalid]
        lost = await create(gw, key, client_request_id="c1")
        assert lost.status_code == 504
        clock.advance(1)
        await gw.app.state.services.settler.run_once()  # the resend hears 400
        spend = await total_spend(gw, "alpha")
        assert (spend.reserved, spend.in_flight) == (8, 1)  # kept: not Rivya's last word
        clock.advance(10)  # past the resend's lease
        replay = await create(gw, key, client_request_id="c1")  # resends: Rivya makes it now
        assert replay.status_code == 202, replay.text
        assert upstream.creates == 3
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_a_task_made_before_a_long_outage_is_recorded_when_redis_is_back(
    redis_server: RedisServer, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Upstream(sim_app)

    async def made_then_redis_goes_down(request: Request) -> Reply:
        response = await upstream.sim(request)
        redis_server.go_down()
        return response

    settings = audit_settings(redis_url, rivya_timeout_seconds=3.0)  # see the test above
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        gw.sim.set_faults(force_fail_next=1)  # Rivya will fail it: it costs nothing
        upstream.steps = [made_then_redis_goes_down]
        made = await create(gw, key)
        assert made.status_code == 202
        redis_server.come_back()
        clock.advance(70)  # longer than Rivya's window: no resend could find it again
        await gw.app.state.services.unfinished_writes.join()
        await settle_all(gw, clock)
        read = await gw.http.get(f"/v1/images/{made.json()['id']}", headers=bearer(key))
        assert (read.status_code, read.json()["status"]) == (200, "failed")
        listed = await gw.http.get("/v1/images", headers=bearer(key))
        assert [t["id"] for t in listed.json()["data"]] == [made.json()["id"]]
        await assert_books_close(gw, "alpha")


async def test_a_write_refused_for_too_few_replicas_after_rivya_answered_is_no_500(
    redis_server: RedisServer, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Upstream(sim_app)

    def min_replicas(count: int) -> None:
        client = SyncRedis(port=redis_server.port)
        client.config_set("min-replicas-to-write", count)
        client.close()

    async def made_then_replica_lags(request: Request) -> Reply:
        response = await upstream.sim(request)
        min_replicas(1)  # writes are refused (NOREPLICAS)
        return response

    settings = audit_settings(redis_url, **SHORT_LEASE)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        try:
            key = await gw.team_with_key("alpha", budget_period="total")
            upstream.steps = [made_then_replica_lags]
            made = await create(gw, key)
            assert made.status_code == 202  # the task Rivya made
        finally:
            min_replicas(0)
        await gw.app.state.services.unfinished_writes.join()
        read = await gw.http.get(f"/v1/images/{made.json()['id']}", headers=bearer(key))
        assert read.status_code == 202
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_a_replica_whose_clock_runs_ahead_does_not_give_up_a_young_task(
    redis_url: str,
) -> None:
    sim_clock = FakeClock()
    sim = simulator_app(sim_clock, queued_seconds=600, processing_seconds=600)
    settings = skew_settings(
        redis_url,
        settler_give_up_after_seconds=60,
        task_retention_days=1,
        # Real clocks here: the next poll is due a millisecond after the last, by Redis's clock.
        settler_poll_min_seconds=0.001,
        settler_poll_max_seconds=0.002,
    )
    async with (
        running_gateway(settings, sim, SystemClock()) as honest,
        running_gateway(settings, sim, SkewedClock(+120)) as fast,
    ):
        key = await honest.team_with_key("alpha", budget_period="total")
        made = await honest.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert made.status_code == 202
        await fast.app.state.services.settler.run_once()
        spend = await total_spend(honest, "alpha")
        assert (spend.spent, spend.reserved, spend.in_flight) == (0, 8, 1)  # still followed
        sim_clock.advance(1300)  # the task ends at Rivya
        for _ in range(100):
            await honest.app.state.services.settler.run_once()
            if (await total_spend(honest, "alpha")).in_flight == 0:
                break
            await asyncio.sleep(0.005)  # real time: the poll falls due by Redis's clock
        await assert_books_close(honest, "alpha")


async def test_a_task_given_up_on_is_still_asked_about_and_corrected(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    rivya = MemoryConnector(Upstream(sim_app))
    settings = audit_settings(redis_url, settler_give_up_after_seconds=60, task_retention_days=1)
    async with running_gateway(settings, sim_app, clock, upstream=rivya) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        gw.sim.set_faults(force_fail_next=1)
        assert (await create(gw, key)).status_code == 202
        rivya.go_down()  # the last look cannot reach Rivya: given up, charged 8
        clock.advance(3600)
        await gw.app.state.services.settler.run_once()
        assert rivya.refused > 0  # it was looked for, and not reached
        assert (await total_spend(gw, "alpha")).spent == 8
        rivya.come_back()
        clock.advance(3601)  # given-up tasks are asked about hourly; no client reads it
        await gw.app.state.services.settler.run_once()
        assert (await total_spend(gw, "alpha")).spent == 0  # it had failed: corrected
        assert rivya_charged(gw.sim) == 0
        await assert_books_close(gw, "alpha")
