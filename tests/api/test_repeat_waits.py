"""Repeats of a create still being forwarded wait cheaply: growing pauses, woken when the first
request's create closes, and only a few per team at once."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from redis.asyncio import Redis

from app.clock import FakeClock
from tests.api.test_clock_skew import HeldCreates
from tests.support import assert_books_close, bearer, gateway_settings, running_gateway, settle_all


async def evalsha_calls(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        stats = await redis.info("commandstats")
    finally:
        await redis.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_twenty_repeats_cost_a_bounded_number_of_admissions(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    held = HeldCreates(sim_app)
    settings = gateway_settings(
        redis_url, idempotency_wait_seconds=2, idempotency_waiters_per_team=5
    )
    async with running_gateway(settings, sim_app, clock, upstream=held) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        body = {"prompt": "p", "client_request_id": "once"}

        async def post() -> tuple[int, str]:
            response = await gw.http.post("/v1/images", json=body, headers=bearer(key))
            return response.status_code, response.headers.get("idempotent-replayed", "")

        first = asyncio.create_task(post())
        await held.arrived.wait()
        before = await evalsha_calls(redis_url)
        repeats = [asyncio.create_task(post()) for _ in range(20)]
        # The five that may wait are waiting; the other fifteen were told to come back.
        done, _ = await asyncio.wait(repeats, timeout=1.0, return_when=asyncio.ALL_COMPLETED)
        told = sorted(task.result() for task in done)
        assert told == [(409, "")] * 15
        held.go.set()  # the first create goes through; its waiting repeats wake at once
        answers = [await task for task in repeats if task not in done]
        assert (await first)[0] == 202
        assert answers == [(202, "true")] * 5
        spent = await evalsha_calls(redis_url) - before
        # 20 first looks, a few looks per waiter over that second (pauses of 50 ms doubling),
        # the record: dozens, where polling every 50 ms made it 20 a second for each repeat.
        assert spent <= 20 + 5 * 8 + 1, spent
        assert held.creates == 1
        await settle_all(gw, clock, rounds=3)
        await assert_books_close(gw, "alpha")
