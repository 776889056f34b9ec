"""Budget alerts: each threshold crossing (and the period's first refusal for budget) is written
to the team's outbox by the script that moved the money, once per budget and period, whichever
replica moved it, and delivered from there at least once, signed with the shared secret, the
same event id on every attempt."""

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
from app.errors import StoreUnavailable
from app.store.admission import AdmissionStore
from tests.support import (
    ADMIN_TOKEN,
    ORG_KEY,
    Gateway,
    admin_headers,
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


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "p", **body}, headers=bearer(key))


async def deliver(gw: Gateway) -> None:
    """One settler pass: it delivers every team's due events."""
    await gw.app.state.services.settler.run_once()


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
            *(create(one if n % 2 else two, key, prompt=f"p{n}") for n in range(12))
        )
        assert sorted(a.status_code for a in answers) == [202] * 10 + [402] * 2
        await asyncio.gather(deliver(one), deliver(two))

        events = receiver.events()
        crossings = [e for e in events if e["type"] == "budget.threshold_crossed"]
        assert sorted(e["threshold_percent"] for e in crossings) == [50, 80, 100]
        refusals = [e for e in events if e["type"] == "budget.create_refused"]
        assert len(refusals) == 1  # the period's first refusal, once
        assert refusals[0]["needed_credits"] == 8
        assert len({e["id"] for e in events}) == 4
        for event, request in zip(events, receiver.received, strict=True):
            assert event["team"] == "design"
            assert event["budget_credits"] == 80
            assert event["budget_period"] == "month"
            assert event["period_id"].startswith("month:")
            assert verified(request)
            assert request.headers["X-Gateway-Event-Id"] == event["id"]
            # Ops' receiver never sees a secret of the gateway's.
            for secret in (ORG_KEY, ADMIN_TOKEN, SECRET, key):
                assert secret not in request.content.decode()
                assert secret not in str(request.headers)
        for event in crossings:
            assert event["used_credits"] * 100 >= 80 * event["threshold_percent"]

        # More refusals in the same period report nothing new.
        await create(one, key, prompt="again")
        await deliver(one)
        assert len(receiver.received) == 4

        # A new budget is a new line to cross: raised to 200, crossing 50 % of it is news.
        await one.http.patch(
            "/admin/teams/design", json={"budget_credits": 200}, headers=admin_headers()
        )
        for _ in range(3):
            await create(two, key, prompt="more")
        await deliver(two)
        assert [e["threshold_percent"] for e in receiver.events()[4:]] == [50]

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
        assert (await create(gw, key)).status_code == 202
        await deliver(gw)
        assert len(receiver.received) == 1  # refused (503): tried again after a pause
        await deliver(gw)
        assert len(receiver.received) == 1  # not before it
        for _ in range(2):
            clock.advance(5)
            await deliver(gw)
        assert len(receiver.received) == 3  # two 503s, then taken
        assert len({r.headers["X-Gateway-Event-Id"] for r in receiver.received}) == 1
        assert all(verified(r) for r in receiver.received)
        clock.advance(300)
        await deliver(gw)
        assert len(receiver.received) == 3  # taken: never sent again
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")


async def test_a_crossing_another_admission_relied_on_is_reported_though_its_own_was_undone(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """72 of 100 spent; A is admitted (80) but its answer is lost; B is admitted (88) and
    made; then A is cancelled (80). The 80 % crossing is real (B's task holds it), yet the old
    cancel took A's mark back after B had relied on it: nobody ever reported it."""
    receiver = Receiver()
    settings = alert_settings(redis_url, budget_alert_thresholds="80")
    async with running_gateway(
        settings, sim_app, clock, alert_transport=httpx.MockTransport(receiver.handle)
    ) as gw:
        key = await gw.team_with_key(
            "design", budget_credits=100, budget_period="month", rate_limit_per_minute=1000
        )
        for n in range(9):  # 72 credits
            assert (await create(gw, key, prompt=f"p{n}")).status_code == 202
        await deliver(gw)
        assert receiver.received == []
        real_admit = AdmissionStore.admit
        made_meanwhile: list[httpx.Response] = []
        admissions: list[int] = []

        async def admit_losing_the_first_answer(
            self: AdmissionStore, *args: Any, **kwargs: Any
        ) -> Any:
            admissions.append(1)
            decision = await real_admit(self, *args, **kwargs)
            if len(admissions) == 1:  # A: the script ran; before its answer arrives, B is made
                made_meanwhile.append(await create(gw, key, prompt="b"))
                raise StoreUnavailable(may_have_run=True)
            return decision

        monkeypatch.setattr(AdmissionStore, "admit", admit_losing_the_first_answer)
        a = await create(gw, key, prompt="a")
        assert a.status_code == 503  # A: cancelled, never sent
        assert made_meanwhile[0].status_code == 202  # B: made, 80 of 100 with A undone
        await gw.app.state.services.unfinished_writes.join()
        await deliver(gw)
        assert [e["threshold_percent"] for e in receiver.events()] == [80]
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")


async def test_a_large_refused_create_does_not_use_up_the_thresholds(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """At 8 of 12 credits a create of 8 is refused; the old admission marked every threshold
    for it, so the real 75 % and 100 % crossings (a create of 4 then) were never reported."""
    receiver = Receiver()
    settings = alert_settings(redis_url, budget_alert_thresholds="50,75,100")
    async with running_gateway(
        settings, sim_app, clock, alert_transport=httpx.MockTransport(receiver.handle)
    ) as gw:
        key = await gw.team_with_key("design", budget_credits=12, budget_period="total")
        assert (await create(gw, key, model="flux-kontext-pro")).status_code == 202
        assert (await create(gw, key, model="flux-kontext-pro")).status_code == 202
        assert (await create(gw, key, model="flux-kontext-max")).status_code == 402
        assert (await create(gw, key, model="flux-kontext-pro")).status_code == 202  # 12 of 12
        await deliver(gw)
        crossed = [e for e in receiver.events() if e["type"] == "budget.threshold_crossed"]
        assert sorted(e["threshold_percent"] for e in crossed) == [50, 75, 100]
        refused = [e for e in receiver.events() if e["type"] == "budget.create_refused"]
        assert [(e["used_credits"], e["needed_credits"]) for e in refused] == [(8, 8)]
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")


async def test_an_alert_names_the_period_the_script_enforced(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """Replica A cached the team with a monthly budget; ops made it daily through B. A's alert
    named "month" (its cached team) for a crossing the script counted in the day."""
    receiver = Receiver()
    transport = httpx.MockTransport(receiver.handle)
    settings = alert_settings(redis_url, budget_alert_thresholds="100", key_cache_seconds=60)
    async with (
        running_gateway(settings, sim_app, clock, alert_transport=transport) as replica_a,
        running_gateway(settings, sim_app, clock, alert_transport=transport) as replica_b,
    ):
        key = await replica_a.team_with_key("design", budget_credits=16, budget_period="month")
        assert (await create(replica_a, key)).status_code == 202  # A caches the team
        moved = await replica_b.http.patch(
            "/admin/teams/design", json={"budget_period": "day"}, headers=admin_headers()
        )
        assert moved.status_code == 200
        assert (await create(replica_a, key)).status_code == 202  # 16 of 16 this day
        await deliver(replica_a)
        [event] = receiver.events()
        assert (event["budget_period"], event["period_id"][:4]) == ("day", "day:")
        await settle_all(replica_a, clock)
        await assert_books_close(replica_a, "design")


async def test_an_alert_outlives_the_replica_that_moved_the_money(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """The replica that crossed the threshold dies mid-delivery (its POST never returns): the
    alert lived only in its memory, so it was lost. Now another replica delivers it."""
    posting, never = asyncio.Event(), asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        posting.set()
        await never.wait()
        return httpx.Response(204)

    receiver = Receiver()
    settings = alert_settings(redis_url, budget_alert_thresholds="100")
    async with running_gateway(
        settings, sim_app, clock, alert_transport=httpx.MockTransport(hang)
    ) as dying:
        key = await dying.team_with_key("design", budget_credits=8, budget_period="day")
        assert (await create(dying, key)).status_code == 202
        delivering = asyncio.create_task(dying.app.state.services.settler.run_once())
        await posting.wait()
        delivering.cancel()  # killed mid-delivery
    clock.advance(600)  # its claim on the team lapses
    async with running_gateway(
        settings, sim_app, clock, alert_transport=httpx.MockTransport(receiver.handle)
    ) as other:
        await deliver(other)
        assert [e["threshold_percent"] for e in receiver.events()] == [100]
        await settle_all(other, clock)
        await assert_books_close(other, "design")


def test_a_webhook_without_a_signing_secret_is_refused_at_start(redis_url: str) -> None:
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_SECRET"):
        gateway_settings(redis_url, alert_webhook_url=RECEIVER)
