"""Budget alerts: each threshold crossing is reported once per budget and period, whichever
replica admits the create that crosses it, as a webhook signed with the shared secret."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from tests.support import (
    ADMIN_TOKEN,
    ORG_KEY,
    RedisServer,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)

SECRET = "alert-signing-secret-0123456789"
RECEIVER = "https://alerts.ops.example/hook"


class Receiver:
    """Ops' webhook receiver: records what it is sent; may fail the first attempts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[httpx.Request] = []
        self.fail_first = fail_first

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if len(self.received) <= self.fail_first:
            return httpx.Response(503)
        return httpx.Response(204)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.received]


def verified(request: httpx.Request) -> bool:
    fields = dict(part.split("=", 1) for part in request.headers["X-Gateway-Signature"].split(","))
    expected = hmac.new(
        SECRET.encode(), f"{fields['t']}.".encode() + request.content, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(fields["v1"], expected)


def alert_settings(redis_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "alert_webhook_url": RECEIVER,
        "alert_webhook_secret": SECRET,
        "budget_alert_thresholds": "50,80,100",
    }
    return gateway_settings(redis_url, **{**values, **overrides})


async def test_two_replicas_racing_send_one_alert_per_threshold(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver()
    transport = httpx.MockTransport(receiver.handle)
    settings = alert_settings(redis_url)
    async with (
        running_gateway(settings, sim_app, clock, alert_transport=transport) as one,
        running_gateway(settings, sim_app, clock, alert_transport=transport) as two,
    ):
        key = await one.team_with_key(
            "design", budget_credits=80, budget_period="month", rate_limit_per_minute=1000
        )
        # Twelve creates at once through both replicas: ten fit the budget, two are refused.
        answers = await asyncio.gather(
            *(
                (one if n % 2 else two).http.post(
                    "/v1/images", json={"prompt": f"p{n}"}, headers=bearer(key)
                )
                for n in range(12)
            )
        )
        assert sorted(a.status_code for a in answers) == [202] * 10 + [402] * 2
        for gw in (one, two):
            await gw.app.state.services.aftercare.join()

        events = receiver.events()
        assert sorted(e["threshold_percent"] for e in events) == [50, 80, 100]
        assert len({e["id"] for e in events}) == 3
        for event, request in zip(events, receiver.received, strict=True):
            assert event["type"] == "budget.threshold_crossed"
            assert event["team"] == "design"
            assert event["budget_credits"] == 80
            assert event["used_credits"] * 100 >= 80 * event["threshold_percent"]
            assert event["period_id"].startswith("month:")
            assert verified(request)
            assert request.headers["X-Gateway-Event-Id"] == event["id"]
            # Ops' receiver never sees a secret of the gateway's.
            for secret in (ORG_KEY, ADMIN_TOKEN, SECRET, key):
                assert secret not in request.content.decode()
                assert secret not in str(request.headers)

        # More refusals in the same period report nothing new.
        await one.http.post("/v1/images", json={"prompt": "again"}, headers=bearer(key))
        await one.app.state.services.aftercare.join()
        assert len(receiver.received) == 3

        # A new budget is a new line to cross: raised to 200, crossing 50 % of it is news.
        await one.http.patch(
            "/admin/teams/design",
            json={"budget_credits": 200},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        for _ in range(3):
            await two.http.post("/v1/images", json={"prompt": "more"}, headers=bearer(key))
        await two.app.state.services.aftercare.join()
        assert [e["threshold_percent"] for e in receiver.events()[3:]] == [50]

        await settle_all(one, clock)
        await assert_books_close(one, "design")


async def test_an_alert_is_retried_with_the_same_id_until_the_receiver_takes_it(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver(fail_first=2)
    async with running_gateway(
        alert_settings(redis_url, budget_alert_thresholds="100"),
        sim_app,
        clock,
        alert_transport=httpx.MockTransport(receiver.handle),
    ) as gw:
        key = await gw.team_with_key("design", budget_credits=8, budget_period="day")
        created = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert created.status_code == 202
        await gw.app.state.services.aftercare.join()
        assert len(receiver.received) == 3  # two 503s, then taken
        assert len({r.headers["X-Gateway-Event-Id"] for r in receiver.received}) == 1
        assert all(verified(r) for r in receiver.received)
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")


async def test_a_crossing_whose_admission_was_cancelled_is_reported_when_it_really_happens(
    redis_server: RedisServer, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver()
    settings = alert_settings(redis_url, budget_alert_thresholds="100", redis_timeout_seconds=0.3)
    async with running_gateway(
        settings, sim_app, clock, alert_transport=httpx.MockTransport(receiver.handle)
    ) as gw:
        key = await gw.team_with_key("design", budget_credits=16, budget_period="month")
        assert (
            await gw.http.post("/v1/images", json={"prompt": "a"}, headers=bearer(key))
        ).status_code == 202
        redis_server.stall(1.5)  # Redis admits the second create after its request gave up
        lost = await gw.http.post("/v1/images", json={"prompt": "b"}, headers=bearer(key))
        assert lost.status_code == 503
        await gw.app.state.services.aftercare.join()
        assert receiver.received == []  # that admission was undone: nothing was crossed
        third = await gw.http.post("/v1/images", json={"prompt": "c"}, headers=bearer(key))
        assert third.status_code == 202  # now 16 of 16, for real
        await gw.app.state.services.aftercare.join()
        assert [e["threshold_percent"] for e in receiver.events()] == [100]
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")


def test_a_webhook_without_a_signing_secret_is_refused_at_start(redis_url: str) -> None:
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_SECRET"):
        gateway_settings(redis_url, alert_webhook_url=RECEIVER)
