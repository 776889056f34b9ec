"""Only Rivya's own words are verdicts, and a charge is never silently zero (the third money
audit). Each test fails on the code the audit read and ends with the books: the team charged
exactly what Rivya charged, nothing reserved or in flight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from tests.rivya_side import AnswerLost, Asgi, Reply, Request, text_reply
from tests.support import (
    Gateway,
    admin_get,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    rivya_charged,
    running_gateway,
    settle_all,
    total_spend,
)

Step = Callable[[Request], Awaitable[Reply]]
EDGE_404 = "<html><body><h1>404 Not Found</h1><hr>edge</body></html>"


class Upstream:
    """The simulator behind an edge: creates take the scripted steps first; ``rewrite`` changes
    Rivya's task answers on their way back (a Rivya that misreports a charge)."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)
        self.steps: list[Step] = []
        self.rewrite: Callable[[dict[str, Any]], None] | None = None

    async def __call__(self, request: Request) -> Reply:
        creating = request.method == "POST" and "/generations" in request.path
        if creating and self.steps:
            return await self.steps.pop(0)(request)
        answer = await self.sim(request)
        if self.rewrite is None or "/generations" not in request.path:
            return answer
        body = answer.json()
        if answer.status < 300 and body.get("status") in ("succeeded", "failed"):
            self.rewrite(body)
        return replace(answer, body=orjson.dumps(body))

    async def lost(self, request: Request) -> Reply:
        """Rivya makes the task; its answer never arrives."""
        await self.sim(request)
        raise AnswerLost

    async def edge_404(self, request: Request) -> Reply:
        """An edge in front of Rivya answers an HTML 404 (a deploy, a routing incident)."""
        return text_reply(404, EDGE_404, "text/html")


@pytest.fixture
def upstream(sim_app: FastAPI) -> Upstream:
    return Upstream(sim_app)


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "a shoe", **body}, headers=bearer(key))


# -- 1. Only Rivya's envelope is a verdict -------------------------------------------------


async def test_an_edges_html_404_on_a_resend_is_not_rivya_saying_no_task(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    """Attempt 1 reaches Rivya and its answer is lost; attempt 2 (same upstream key) meets an
    edge's HTML 404. Read as Rivya's not_found, the reservation went back and the claim
    replayed 404: Rivya charged 8, the team 0, and the task was nowhere to be listed."""
    settings = gateway_settings(redis_url, rivya_retry_attempts=2)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [upstream.lost, upstream.edge_404]
        first = await create(gw, key, client_request_id="shoe-1")
        assert first.status_code == 502
        error = first.json()["error"]
        assert error["code"] == "upstream_error"
        assert error["client_request_id"] == "shoe-1"  # the handle to learn the outcome by
        assert "HTTP 404" in error["message"]
        assert (await total_spend(gw, "alpha")).reserved == 8  # kept: Rivya may have the task
        retry = await create(gw, key, client_request_id="shoe-1")
        assert retry.status_code == 202, retry.text  # the same task, found by its upstream key
        assert retry.headers["idempotent-replayed"] == "true"
        assert len(gw.sim.tasks) == 1
        listed = await gw.http.get("/v1/images", headers=bearer(key))
        assert [t["id"] for t in listed.json()["data"]] == [retry.json()["id"]]
        await settle_all(gw, clock)
        assert rivya_charged(gw.sim) == 8
        await assert_books_close(gw, "alpha")


async def test_a_bare_503_after_rivya_made_the_task_never_makes_a_second_one(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """An edge answers a bare 503 to every attempt, each after Rivya made the task. Read as
    Rivya's "unavailable", the claim was forgotten and a retry with the same client_request_id
    made a second task: Rivya charged 16, the team 8."""
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        attempts = gw.app.state.services.settings.rivya_retry_attempts
        gw.sim.set_faults(
            error_status=503, error_count=attempts, error_source="edge", error_after=True
        )
        first = await create(gw, key, client_request_id="boot-1")
        assert first.status_code == 503
        assert first.json()["error"]["client_request_id"] == "boot-1"
        retry = await create(gw, key, client_request_id="boot-1")
        assert retry.status_code == 202, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert len(gw.sim.tasks) == 1  # one create, one task, whatever the edge said
        await settle_all(gw, clock)
        assert rivya_charged(gw.sim) == 8
        await assert_books_close(gw, "alpha")


async def test_rivyas_own_refusal_still_releases_at_once(gateway: Gateway) -> None:
    """The other side of the rule: Rivya's envelope with a code that means "nothing made" is a
    verdict on a first send, so the credits come back and a retry runs afresh."""
    key = await gateway.team_with_key("alpha", budget_credits=8, budget_period="total")
    attempts = gateway.app.state.services.settings.rivya_retry_attempts
    gateway.sim.set_faults(error_status=503, error_count=attempts)  # public_api_disabled
    refused = await create(gateway, key, client_request_id="c")
    assert refused.status_code == 503
    assert "client_request_id" not in refused.json()["error"]
    assert (await total_spend(gateway, "alpha")).reserved == 0
    assert (await create(gateway, key, client_request_id="c")).status_code == 202
    assert len(gateway.sim.tasks) == 1


async def test_an_edges_bare_503_keeps_the_reservation_until_the_outcome_is_known(
    gateway: Gateway, clock: FakeClock
) -> None:
    """Nothing came of it at Rivya this time (the edge refused before forwarding), but the
    gateway cannot know that: the credits stay held until a resend learns the truth, then
    come back; nothing is charged and no second task is made."""
    key = await gateway.team_with_key("alpha", budget_credits=8, budget_period="total")
    attempts = gateway.app.state.services.settings.rivya_retry_attempts
    gateway.sim.set_faults(error_status=503, error_count=attempts, error_source="edge")
    first = await create(gateway, key, client_request_id="c")
    assert first.status_code == 503
    assert (await total_spend(gateway, "alpha")).reserved == 8
    retry = await create(gateway, key, client_request_id="c")
    assert retry.status_code == 202  # the resend made the one task
    await settle_all(gateway, clock)
    assert rivya_charged(gateway.sim) == 8
    await assert_books_close(gateway, "alpha")


# -- 2. A charge is never silently zero ----------------------------------------------------


@pytest.mark.parametrize(
    "misreport",
    [
        pytest.param(lambda body: body.pop("final_credits"), id="absent"),
        pytest.param(lambda body: body.update(final_credits=None), id="null"),
        pytest.param(lambda body: body.update(final_credits=-8), id="negative"),
    ],
)
async def test_a_task_ended_without_a_valid_charge_is_charged_what_it_held(
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    upstream: Upstream,
    misreport: Callable[[dict[str, Any]], None],
) -> None:
    """Rivya says three tasks succeeded but gives no valid final_credits: read as 0, the team
    was charged 0 while Rivya charged 24."""
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, upstream=upstream
    ) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        baseline = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        assert baseline.status_code in (200, 201), baseline.text
        upstream.rewrite = misreport
        ids = [(await create(gw, key)).json()["id"] for _ in range(3)]
        await settle_all(gw, clock)
        spend = await total_spend(gw, "alpha")
        assert (spend.spent, spend.reserved, spend.in_flight) == (24, 0, 0)
        task = await gw.http.get(f"/v1/images/{ids[0]}", headers=bearer(key))
        assert (task.json()["status"], task.json()["final_credits"]) == ("succeeded", 8)
        # Counted, and listed among the reconciliation's suspects.
        metrics = (await gw.http.get("/metrics")).text
        assert 'gateway_ledger_events_total{event="unpriced",team="alpha"} 3.0' in metrics
        report = await admin_get(gw, "/admin/upstream")
        unpriced = [s["task"] for s in report["suspect_tasks"] if s["event"] == "unpriced"]
        assert sorted(unpriced) == sorted(ids)
        await assert_books_close(gw, "alpha")


async def test_a_resend_answered_with_an_ended_task_without_a_charge_is_charged_what_it_held(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, upstream: Upstream
) -> None:
    """The create's answer is lost; by the time the client retries, the task has ended, and
    Rivya's answer to the resend carries no final_credits (record.lua settles it then)."""
    settings = gateway_settings(redis_url, rivya_retry_attempts=1)
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        upstream.steps = [upstream.lost]
        assert (await create(gw, key, client_request_id="late")).status_code == 504
        clock.advance(30)  # the task has ended at Rivya
        upstream.rewrite = lambda body: body.pop("final_credits")
        retry = await create(gw, key, client_request_id="late")
        assert retry.status_code == 200
        assert (retry.json()["status"], retry.json()["final_credits"]) == ("succeeded", 8)
        spend = await total_spend(gw, "alpha")
        assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
        compat = await gw.http.get(f"/api/v1/generations/{retry.json()['id']}", headers=bearer(key))
        assert compat.json()["final_credits"] == 8
        await assert_books_close(gw, "alpha")
