"""A create whose first answer was lost is never refunded by what a later attempt hears."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from app.clock import FakeClock
from tests.rivya_side import AnswerLost, Asgi, Reply, Request, json_reply
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)

Step = Callable[[Request], Reply] | str


class Scripted:
    """The simulator, behind a script of what happens to each create: "pass" it through,
    "lost" (the simulator makes the task, the answer never arrives), or a canned reply."""

    def __init__(self, sim_app: FastAPI, steps: list[Step]) -> None:
        self._sim = Asgi(sim_app)
        self._steps = steps

    async def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or not self._steps:
            return await self._sim(request)
        step = self._steps.pop(0)
        if step == "pass":
            return await self._sim(request)
        if step == "lost":
            await self._sim(request)
            raise AnswerLost
        assert callable(step)
        return step(request)


def unavailable(_: Request) -> Reply:
    body = {"error": {"code": "public_api_disabled", "message": "down", "requestId": "req_1"}}
    return json_reply(503, body)


async def usage(gw: Gateway, key: str) -> tuple[int, int]:
    data = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
    return data["reserved_credits"], data["spent_credits"]


async def test_a_lost_answer_then_a_503_keeps_the_reservation_and_the_claim(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Scripted(sim_app, ["lost", unavailable, unavailable])
    settings = gateway_settings(redis_url)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        body = {"prompt": "p", "client_request_id": "once"}
        first = await gw.http.post("/v1/images", json=body, headers=bearer(key))
        assert first.status_code == 503
        assert await usage(gw, key) == (8, 0)  # not refunded: the first attempt made a task
        retry = await gw.http.post("/v1/images", json=body, headers=bearer(key))
        assert retry.status_code == 202
        assert retry.headers["idempotent-replayed"] == "true"
        assert len(gw.sim.tasks) == 1
        assert retry.json()["id"] in gw.sim.tasks
        assert await usage(gw, key) == (8, 0)


async def test_the_resolver_never_refunds_while_the_circuit_is_open(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Scripted(sim_app, ["lost", "lost", "lost"])
    settings = gateway_settings(redis_url, circuit_breaker_threshold=3)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        body = {"prompt": "p", "client_request_id": "once"}
        assert (await gw.http.post("/v1/images", json=body, headers=bearer(key))).status_code == 504
        ready = (await gw.http.get("/readyz")).json()
        assert ready["checks"]["rivya_circuit"] == "open"
        await gw.app.state.services.settler.run_once()  # the resend is refused by the circuit
        assert await usage(gw, key) == (8, 0)
        clock.advance(30)
        await gw.app.state.services.settler.run_once()  # the circuit half-opens: resent
        assert len(gw.sim.tasks) == 1
        retry = await gw.http.post("/v1/images", json=body, headers=bearer(key))
        assert retry.json()["id"] in gw.sim.tasks
        assert len(gw.sim.tasks) == 1


async def test_a_client_retry_past_rivyas_window_is_not_resent(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Scripted(sim_app, ["lost", "lost", "lost"])
    settings = gateway_settings(redis_url, rivya_idempotency_window_seconds=120)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        body = {"prompt": "p", "client_request_id": "once"}
        assert (await gw.http.post("/v1/images", json=body, headers=bearer(key))).status_code == 504
        clock.advance(700)
        late = await gw.http.post("/v1/images", json=body, headers=bearer(key))
        assert late.status_code == 504
        assert late.headers["idempotent-replayed"] == "true"
        assert len(gw.sim.tasks) == 1  # no second task
        assert await usage(gw, key) == (0, 8)  # counted as spent, never refunded


async def test_a_rivya_scripts_retry_after_a_lost_answer_with_a_new_trace_id_is_one_task(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    # Written from Rivya's docs: a timeout, then a retry with the same Idempotency-Key and a
    # fresh trace id. The first attempt made the task at Rivya; the retry must be that task,
    # resent (if at all) with the first attempt's body, and charged once.
    upstream = Scripted(sim_app, ["lost"])
    settings = gateway_settings(redis_url)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        retry_key = {**bearer(key), "Idempotency-Key": "8d3f-retry"}
        body = {"model": "flux-kontext-max", "prompt": "a boat"}
        first = await gw.http.post(
            "/api/v1/generations", json={**body, "client_request_id": "trace-1"}, headers=retry_key
        )
        # Resent within the request (same upstream key: Rivya answers its task), or, past the
        # client's retries, an error naming the handle to retry with.
        if first.status_code != 201:
            assert first.json()["error"]["client_request_id"] == "8d3f-retry"
        retry = await gw.http.post(
            "/api/v1/generations", json={**body, "client_request_id": "trace-2"}, headers=retry_key
        )
        assert retry.status_code in (200, 201)
        assert len(gw.sim.tasks) == 1
        assert retry.json()["id"] in gw.sim.tasks
        sent = gw.upstream_requests("/api/v1/generations")
        assert {r.body.get("client_request_id") for r in sent} == {"trace-1"}
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
