"""Rivya's own webhooks as hints (issue 25.3): the gateway registers its webhook at Rivya (the
simulator's account-level webhooks), a delivery makes the task it names be polled at once,
deduplicated, never settled by the hint itself; with hints, a ``?wait`` and a team's webhook
hear of a task's end within half a second of Rivya's delivery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.clock import FakeClock, SystemClock
from app.simulator.webhooks import SimWebhooks
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    simulator_app,
)
from tests.webhook_receivers import Dns, Receiver, register

HINTS = "http://gateway/webhooks/rivya"
TOKEN = "hint-token-0123456789abcdef"


def hint_settings(redis_url: str, **overrides: Any) -> Any:
    values = {
        "rivya_webhook_url": HINTS,
        "rivya_webhook_token": TOKEN,
        "rivya_webhook_register": False,
        **overrides,
    }
    return gateway_settings(redis_url, **values)


async def hint(gw: Gateway, body: Any, token: str | None = TOKEN) -> httpx.Response:
    params = {"token": token} if token is not None else {}
    return await gw.http.post("/webhooks/rivya", json=body, params=params)


async def status_of(gw: Gateway, key: str, task_id: str) -> str:
    read = await gw.http.get(f"/v1/images/{task_id}", headers=bearer(key))
    status: str = read.json()["status"]
    return status


def quick_rivya(clock: SystemClock) -> FastAPI:
    """A simulator whose tasks end in 0.7 s of real time, and that may call plain http back."""
    return simulator_app(
        clock, queued_seconds=0.2, processing_seconds=0.5, allow_insecure_webhooks=True
    )


@asynccontextmanager
async def rivya_calling(sim_app: FastAPI, gateway: Gateway) -> AsyncIterator[SimWebhooks]:
    """Rivya's deliveries made as a served simulator makes them (every 50 ms), to ``gateway``,
    once the gateway has registered its webhook there."""
    await gateway.app.state.services.unfinished_writes.join()
    rivya: SimWebhooks = sim_app.state.webhooks
    rivya.transport = httpx.ASGITransport(app=gateway.app)
    stop = asyncio.Event()
    delivering = asyncio.create_task(rivya.run(stop))
    try:
        yield rivya
    finally:
        stop.set()
        await delivering


async def test_a_hint_polls_its_task_at_once_and_only_once(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(hint_settings(redis_url), sim_app, clock) as gw:
        settler = gw.app.state.services.settler
        key = await gw.team_with_key("alpha")
        made = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        task_id = made.json()["id"]
        clock.advance(3)
        await settler.run_once()  # its first poll: processing; the next in 5-10 s
        clock.advance(4)  # Rivya has ended it (at 6 s); the gateway's next poll is not due
        await settler.run_once()
        assert gw.sim.tasks[task_id].status_at(clock.now()) == "succeeded"
        polls = len(gw.upstream_requests(f"/generations/{task_id}"))
        assert (await hint(gw, {"id": "evt_1", "data": {"id": task_id}})).status_code == 202
        await settler.run_once()
        assert len(gw.upstream_requests(f"/generations/{task_id}")) == polls + 1
        # Settled by the poll, not by the hint: what Rivya says of the task, read afresh.
        again = await gw.http.get(f"/v1/images/{task_id}", headers=bearer(key))
        assert again.json()["status"] == "succeeded"
        # Repeated, forged or unknown hints cost nothing at Rivya.
        before = len(gw.upstream_requests())
        bodies: list[Any] = [
            {"data": {"id": task_id}},
            {"data": {"id": "task_nobody"}},
            {"x": 1},
            [],
        ]
        for body in bodies:
            assert (await hint(gw, body)).status_code == 202
        await settler.run_once()
        assert len(gw.upstream_requests()) == before
        scraped = (await gw.http.get("/metrics")).text
        for outcome, count in (("polled", 1), ("settled", 1), ("unknown", 3)):
            assert f'gateway_rivya_hints_total{{outcome="{outcome}"}} {count}.0' in scraped
        await assert_books_close(gw, "alpha")


async def test_a_hint_without_its_token_is_refused_and_hints_can_be_off(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(hint_settings(redis_url), sim_app, clock) as gw:
        for token in (None, "wrong"):
            refused = await hint(gw, {"data": {"id": "task_x"}}, token)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "forbidden"
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        off = await hint(gw, {"data": {"id": "task_x"}})
        assert off.status_code == 404
        assert "RIVYA_WEBHOOK_URL" in off.json()["error"]["message"]


async def test_the_gateway_registers_its_webhook_at_rivya_once(
    redis_url: str, clock: FakeClock
) -> None:
    sim_app = simulator_app(clock, allow_insecure_webhooks=True)
    settings = hint_settings(redis_url, rivya_webhook_register=True)
    for _ in range(2):  # a restart finds it there
        async with running_gateway(settings, sim_app, clock) as gw:
            await gw.app.state.services.unfinished_writes.join()
    [hook] = sim_app.state.webhooks.hooks.values()
    assert hook.url == f"{HINTS}?token={TOKEN}"
    assert hook.event_types == ["generation.succeeded", "generation.failed"]


async def test_with_hints_a_wait_and_a_webhook_hear_of_the_end_within_half_a_second(
    redis_url: str,
) -> None:
    # Real time: the settler runs on its own, polling only when told (its tick, its first
    # poll and a waiter's look at Redis are all far off), so only the hint can be this quick.
    clock = SystemClock()
    sim_app = quick_rivya(clock)
    settings = hint_settings(
        redis_url,
        rivya_webhook_register=True,
        settler_enabled=True,
        settler_tick_seconds=30,
        settler_first_poll_min_seconds=20,
        settler_first_poll_max_seconds=25,
        wait_poll_seconds=30,
        webhook_allowed_hosts="hooks.team.example",
    )
    receiver = Receiver()
    async with running_gateway(
        settings,
        sim_app,
        clock,
        webhook_transport=receiver.transport,
        webhook_resolver=Dns().resolve,
    ) as gw:
        async with rivya_calling(sim_app, gw) as rivya:
            key = await gw.team_with_key("alpha")
            await register(gw, key, "http://hooks.team.example/events")
            made = await gw.http.post(
                "/v1/images", params={"wait": 15}, json={"prompt": "p"}, headers=bearer(key)
            )
            answered = time.time()
            await asyncio.wait_for(receiver.arrived.wait(), 5)
            called_back = time.time()
        assert made.json()["status"] == "succeeded"
        [(delivered_at, _)] = rivya.sent
        assert answered - delivered_at < 0.5, answered - delivered_at
        assert called_back - delivered_at < 0.5, called_back - delivered_at
        assert receiver.events()[0]["data"]["id"] == made.json()["id"]
        await assert_books_close(gw, "alpha")


async def test_a_wait_on_another_replica_hears_of_the_end_as_quickly(redis_url: str) -> None:
    # Rivya's hint reaches replica one, whose settler polls the task; the caller waits on
    # replica two, which looks at Redis only every 30 s: the news comes by Redis pub/sub.
    clock = SystemClock()
    sim_app = quick_rivya(clock)
    settings = hint_settings(
        redis_url,
        settler_first_poll_min_seconds=20,
        settler_first_poll_max_seconds=25,
        wait_poll_seconds=30,
    )
    quick = settings.model_copy(
        update={"settler_enabled": True, "settler_tick_seconds": 30, "rivya_webhook_register": True}
    )
    async with (
        running_gateway(quick, sim_app, clock) as one,
        running_gateway(settings, sim_app, clock) as two,
        rivya_calling(sim_app, one) as rivya,
    ):
        key = await one.team_with_key("alpha")
        made = await two.http.post(
            "/v1/images", params={"wait": 15}, json={"prompt": "p"}, headers=bearer(key)
        )
        answered = time.time()
        assert made.json()["status"] == "succeeded"
        [(delivered_at, _)] = rivya.sent
        assert answered - delivered_at < 0.5, answered - delivered_at
        await assert_books_close(one, "alpha")
