"""The money audit's findings, end to end through the gateway: each test fails on the code the
audit read and ends with the books (the team charged exactly what Rivya charged, nothing
reserved or in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.clock import FakeClock
from app.store.keyspace import KeySpace
from app.store.redis import create_redis
from tests.rivya_side import AnswerLost, Asgi, Reply, Request, json_reply, text_reply
from tests.support import (
    Gateway,
    RedisServer,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
    tenant_of,
    total_spend,
)

Step = Callable[[Request], Awaitable[Reply]]


class Upstream:
    """The simulator, with a script for the creates: each POST takes the next step (or passes
    through when the script is empty)."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)
        self.steps: list[Step] = []
        self.creates = 0

    async def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or "/generations" not in request.path:
            return await self.sim(request)
        self.creates += 1
        if self.steps:
            return await self.steps.pop(0)(request)
        return await self.sim(request)

    async def passed(self, request: Request) -> Reply:
        return await self.sim(request)

    async def lost(self, request: Request) -> Reply:
        """Rivya makes the task; its answer never arrives."""
        await self.sim(request)
        raise AnswerLost

    async def lost_before_arriving(self, request: Request) -> Reply:
        """The connection breaks after sending, before Rivya saw anything: nothing made, but
        the gateway cannot know that."""
        raise AnswerLost

    async def acted_then_502(self, request: Request) -> Reply:
        """Rivya makes the task, then a proxy in front of it answers 502."""
        await self.sim(request)
        return text_reply(502, "bad gateway")

    async def refused(self, request: Request) -> Reply:
        body = {"error": {"code": "public_api_disabled", "message": "down", "requestId": "r"}}
        return json_reply(503, body)


@pytest.fixture
def upstream(sim_app: FastAPI) -> Upstream:
    return Upstream(sim_app)


def audit_settings(redis_url: str, **overrides: Any) -> Any:
    # One attempt per call, no retry budget: a create's lease is 5 + 0 + 5 = 10 s.
    values: dict[str, Any] = {
        "rivya_retry_attempts": 1,
        "rivya_retry_budget_seconds": 0,
        "rivya_idempotency_window_seconds": 60,
        "idempotency_wait_seconds": 0,
    }
    values.update(overrides)
    return gateway_settings(redis_url, **values)


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "a shoe", **body}, headers=bearer(key))


# -- 3. "Nothing was sent" stays true ------------------------------------------------------


async def test_a_create_whose_admission_answer_was_lost_is_never_sent(
    redis_server: RedisServer,
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    upstream: Upstream,
) -> None:
    settings = audit_settings(redis_url, redis_timeout_seconds=0.3)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_credits=80, budget_period="total")
        assert (await create(gw, key)).status_code == 202  # warms the key cache
        redis_server.stall(1.5)  # Redis runs the admission, but only after the client gave up
        lost = await create(gw, key, client_request_id="stalled")
        assert lost.status_code == 503
        assert lost.json()["error"]["code"] == "store_unavailable"
        assert "will never be sent" in lost.json()["error"]["message"]
        spend = await total_spend(gw, "alpha")
        assert (spend.reserved, spend.in_flight) == (8, 1)  # only the first create's
        clock.advance(60)  # the lease of the stalled create would have ended long ago
        await gw.app.state.services.settler.run_once()
        assert upstream.creates == 1  # the stalled create never reached Rivya
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
        retry = await create(gw, key, client_request_id="stalled")
        assert retry.status_code == 202  # nothing remembered: the retry runs afresh


# -- 2. Time is read per item --------------------------------------------------------------


async def test_the_resolver_reads_the_time_for_each_create_it_resends(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    # Lease 10 s, window 60 s: a lost create may be resent until it is 50 s old. Each resend
    # takes 30 s, one at a time: the third comes up at 61 s and must be given up, not sent.
    async def slow(request: Request) -> Reply:
        await clock.sleep(30)
        return await upstream.sim(request)

    settings = audit_settings(redis_url, settler_concurrency=1)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        lost: list[Step] = [upstream.lost] * 3
        upstream.steps = [*lost, slow, slow, slow]
        for n in range(3):
            assert (await create(gw, key, client_request_id=f"c{n}")).status_code == 504
        clock.advance(1)
        await gw.app.state.services.settler.run_once()
        assert upstream.creates == 5  # three lost, two resent; the third too old to resend
        assert len(gw.sim.tasks) == 3
        replays = [await create(gw, key, client_request_id=f"c{n}") for n in range(3)]
        # Two resent and recorded (ended by now); the third counted as spent, never refunded.
        assert sorted(r.status_code for r in replays) == [200, 200, 504]
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


# -- 4. Give up only after a last look -----------------------------------------------------


async def test_the_settler_looks_once_more_before_giving_up(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = audit_settings(redis_url, settler_give_up_after_seconds=60, task_retention_days=1)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        gw.sim.set_faults(force_fail_next=1)
        assert (await create(gw, key)).status_code == 202
        clock.advance(3600)  # the settler did not run for an hour; Rivya failed the task
        polls = len([r for r in gw.sim.requests if r.method == "GET"])
        await gw.app.state.services.settler.run_once()
        assert len([r for r in gw.sim.requests if r.method == "GET"]) == polls + 1
        spend = await total_spend(gw, "alpha")
        assert (spend.spent, spend.reserved, spend.in_flight) == (0, 0, 0)  # not charged 8
        await assert_books_close(gw, "alpha")


# -- 5. No reservation leaks ---------------------------------------------------------------


async def test_a_task_whose_record_vanished_still_settles_its_reservation(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(audit_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total", max_in_flight=1)
        task_id = (await create(gw, key)).json()["id"]
        redis = create_redis(redis_url)
        tenant = await tenant_of(gw, "alpha")
        await redis.delete(KeySpace("gw").task(tenant, task_id))  # evicted
        await redis.aclose()
        await settle_all(gw, clock)
        spend = await total_spend(gw, "alpha")
        assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)  # Rivya's charge
        await assert_books_close(gw, "alpha")
        assert (await create(gw, key)).status_code == 202  # the in-flight slot is free again


def test_a_task_record_that_would_expire_before_the_settler_gives_up_is_refused() -> None:
    with pytest.raises(ValidationError, match="TASK_RETENTION_DAYS"):
        gateway_settings("redis://x", task_retention_days=1, settler_give_up_after_seconds=90_000)


# -- 7. No task out of its caller's reach --------------------------------------------------


async def test_an_unknown_outcome_names_a_handle_even_without_a_client_request_id(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    async with running_gateway(audit_settings(redis_url), sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [upstream.lost]
        lost = await create(gw, key)
        assert lost.status_code == 504
        handle = lost.json()["error"]["client_request_id"]
        assert handle.startswith("gw-")
        assert handle in lost.json()["error"]["message"]
        retry = await create(gw, key, client_request_id=handle)
        assert retry.status_code == 202
        assert retry.headers["idempotent-replayed"] == "true"
        assert list(gw.sim.tasks) == [retry.json()["id"]]  # the one task Rivya made
        assert retry.json()["client_request_id"] == handle
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


# -- Redis stops answering after Rivya did -------------------------------------------------


async def test_a_task_made_while_redis_stalls_is_answered_and_recorded_later(
    redis_server: RedisServer,
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    upstream: Upstream,
) -> None:
    async def answer_then_stall(request: Request) -> Reply:
        response = await upstream.sim(request)
        redis_server.stall(1.0)
        return response

    settings = audit_settings(redis_url, redis_timeout_seconds=0.3)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [answer_then_stall]
        made = await create(gw, key)
        assert made.status_code == 202  # the task Rivya made, not "store unavailable"
        await gw.app.state.services.unfinished_writes.join()
        read = await gw.http.get(f"/v1/images/{made.json()['id']}", headers=bearer(key))
        assert read.status_code == 202
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_a_create_rivya_refused_while_redis_stalls_is_released_never_resent(
    redis_server: RedisServer,
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    upstream: Upstream,
) -> None:
    async def refuse_then_stall(request: Request) -> Reply:
        redis_server.stall(1.0)
        return await upstream.refused(request)

    settings = audit_settings(redis_url, redis_timeout_seconds=0.3)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [refuse_then_stall]
        refused = await create(gw, key, client_request_id="refused")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "upstream_unavailable"  # what Rivya said
        await gw.app.state.services.unfinished_writes.join()
        clock.advance(60)
        await gw.app.state.services.settler.run_once()
        assert upstream.creates == 1  # released, so no resolver resends it
        await assert_books_close(gw, "alpha")


# -- The books close after a mixed run -----------------------------------------------------


async def test_the_books_close_after_a_mixed_run(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    async with running_gateway(audit_settings(redis_url), sim_app, clock, upstream=upstream) as gw:
        alpha = await gw.team_with_key("alpha", budget_period="total", rate_limit_per_minute=1000)
        beta = await gw.team_with_key("beta", budget_period="total", rate_limit_per_minute=1000)
        gw.sim.set_faults(failure_rate=0.3)
        u = upstream
        upstream.steps = [u.passed, u.lost, u.acted_then_502, u.refused, u.lost, u.passed] * 3
        answers = []
        for n in range(18):
            key = alpha if n % 2 else beta
            body = {"client_request_id": f"r{n}"} if n % 3 else {}
            answers.append(await create(gw, key, **body))
        assert {a.status_code for a in answers} == {202, 502, 503, 504}
        # Some callers retry with the handle they were given; the rest never come back.
        for answer, n in zip(answers, range(18), strict=True):
            if answer.status_code in (502, 504) and n % 4 == 0:
                handle = answer.json()["error"]["client_request_id"]
                key = alpha if n % 2 else beta
                await create(gw, key, client_request_id=handle)
        await settle_all(gw, clock, rounds=12)
        await assert_books_close(gw, "alpha", "beta")
        assert len(gw.sim.tasks) == 15  # every create Rivya acted on, exactly once


# -- 8. Say what Redis must keep -----------------------------------------------------------


async def test_readiness_reports_redis_losing_the_gateways_data_and_how_it_is_kept(
    redis_server: RedisServer, gateway: Gateway
) -> None:
    first = (await gateway.http.get("/readyz")).json()["checks"]
    assert first["redis_data"] == "ok"
    assert first["redis_persistence"] == "appendonly is off"  # the tests' Redis keeps nothing
    redis_server.flush()  # a restart without persistence, a failover to an empty replica
    after = await gateway.http.get("/readyz")
    assert after.status_code == 200  # it can serve; what it lost is for ops to reconcile
    assert after.json()["checks"]["redis_data"] == "lost"


async def test_two_replicas_resolving_the_same_lost_creates_resend_each_once(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    settings = audit_settings(redis_url, circuit_breaker_threshold=100)
    async with (
        running_gateway(settings, sim_app, clock, upstream=upstream) as a,
        running_gateway(settings, sim_app, clock, upstream=upstream) as b,
    ):
        key = await a.team_with_key("alpha", budget_period="total", rate_limit_per_minute=1000)
        upstream.steps = [upstream.lost] * 6
        for _ in range(6):
            assert (await create(a, key)).status_code == 504
        resends = upstream.creates
        await asyncio.gather(
            a.app.state.services.settler.run_once(), b.app.state.services.settler.run_once()
        )
        assert upstream.creates == resends + 6  # each lost create resent by one replica
        assert len(a.sim.tasks) == 6
        await settle_all(a, clock)
        await assert_books_close(a, "alpha")
