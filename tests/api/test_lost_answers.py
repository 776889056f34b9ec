"""A create whose first answer was lost is never refunded by what a later attempt hears."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from app.clock import FakeClock
from tests.rivya_side import AnswerLost, Asgi, Reply, Request, json_reply
from tests.support import Gateway, bearer, gateway_settings, running_gateway

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
