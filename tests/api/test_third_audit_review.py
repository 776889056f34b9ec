"""An adversarial review of the third audit's fixes (the index of due teams, the outbox, the
reconciliation), each finding kept as a regression test: it failed on the code the review read
and ends with the books."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from app.store.keyspace import KeySpace
from tests.api.test_budget_alerts import alert_settings as budget_alert_settings
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
    tenant_of,
    total_spend,
)


def alert_settings(redis_url: str, **overrides: Any) -> Any:
    return budget_alert_settings(redis_url, **{"budget_alert_thresholds": "50", **overrides})


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "p", **body}, headers=bearer(key))


class SlowFailing(httpx.AsyncBaseTransport):
    """A receiver that holds the request until released, then answers 503."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        await self.release.wait()
        return httpx.Response(503)


class HeldCreate:
    """The simulator; the first create waits at the door until released, then Rivya makes it."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.held = False

    async def __call__(self, request: Request) -> Reply:
        if request.method == "POST" and "/generations" in request.path and not self.held:
            self.held = True
            self.arrived.set()
            await self.go.wait()
        return await self.sim(request)


async def test_a_team_worked_twice_at_once_is_not_looped_on_forever(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, redis_server: RedisServer
) -> None:
    """Two settlers deliver one outbox entry (the first stalled past its lease): the second
    delivers it (and deletes it), the first's attempt fails and notes a retry for the entry now
    gone. That orphan attempt made
    the idle team due *now* at every release, forever."""
    slow = SlowFailing()
    ok = httpx.MockTransport(lambda request: httpx.Response(204))
    settings = alert_settings(redis_url)
    async with (
        running_gateway(settings, sim_app, clock, alert_transport=slow) as one,
        running_gateway(settings, sim_app, clock, alert_transport=ok) as two,
    ):
        key = await one.team_with_key("design", budget_credits=10, budget_period="total")
        assert (await create(one, key)).status_code == 202  # 8 of 10: crosses 50 %
        tenant = await tenant_of(one, "design")
        first = asyncio.create_task(one.app.state.services.settler.deliveries.deliver_due(tenant))
        await slow.arrived.wait()
        # Leased by replica one: not sent twice at once.
        assert await two.app.state.services.settler.deliveries.deliver_due(tenant) == 0
        clock.advance(60)  # replica one stalls past its lease: replica two takes it over
        assert await two.app.state.services.settler.deliveries.deliver_due(tenant) == 1
        slow.release.set()
        await first  # its attempt failed, for an entry now gone
        await settle_all(one, clock)
        await assert_books_close(one, "design")
        keys = KeySpace(settings.redis_key_prefix)
        raw = SyncRedis(port=redis_server.port, decode_responses=True)
        try:
            assert raw.xlen(keys.outbox(tenant)) == 0
            settler = one.app.state.services.settler
            claimed = 0
            for _ in range(120):  # a quiet hour
                clock.advance(30)
                claims = await settler.due.claim(lease_seconds=105, limit=10)
                claimed += len(claims)
                for claim in claims:
                    await settler.work(claim)
            orphan = raw.hgetall(keys.outbox_attempts(tenant))
            assert (orphan, claimed) == ({}, 0), f"{orphan}; claimed {claimed} times in an hour"
        finally:
            raw.close()


async def test_a_sweep_does_not_hand_a_team_being_worked_to_a_second_settler(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """The sweep indexed every team with work through the script that takes a claim away:
    each sweep made every team being worked claimable again, by another settler."""
    settings = gateway_settings(redis_url)
    async with (
        running_gateway(settings, sim_app, clock) as one,
        running_gateway(settings, sim_app, clock) as two,
    ):
        key = await one.team_with_key("design", rate_limit_per_minute=1000)
        assert (await create(one, key)).status_code == 202
        clock.advance(15)
        mine = await one.app.state.services.settler.due.claim(lease_seconds=105, limit=10)
        assert [c.tenant for c in mine] == [await tenant_of(one, "design")]
        await two.app.state.services.settler.sweep()  # replica two starts meanwhile
        theirs = await two.app.state.services.settler.due.claim(lease_seconds=105, limit=10)
        assert theirs == [], "a second settler claimed a team the first is still working"
        for claim in mine:
            await one.app.state.services.settler.work(claim)
        await settle_all(one, clock)
        await assert_books_close(one, "design")


async def test_an_old_task_past_rivyas_retention_does_not_erase_real_drift(
    gateway: Gateway, clock: FakeClock, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A baseline 30 days old whose earliest task since (29 days ago) Rivya has purged: that
    task was probed, its "not found" read as a new upstream, and real drift erased."""
    key = await gateway.team_with_key("alpha", rate_limit_per_minute=1000)
    taken = await gateway.http.post("/admin/upstream/baseline", headers=admin_headers())
    assert taken.status_code == 200
    tenant = await tenant_of(gateway, "alpha")
    keys = KeySpace(gateway.app.state.services.settings.redis_key_prefix)
    raw = SyncRedis(port=redis_server.port, decode_responses=True)
    day_ms = 86_400_000
    try:
        stored = json.loads(str(raw.get(keys.reconciliation())))
        now_ms = stored["set_at_ms"]
        stored["set_at_ms"] = now_ms - 30 * day_ms
        raw.set(keys.reconciliation(), json.dumps(stored))
        entry: dict[Any, Any] = {"event": "settle", "ref": "task_old", "task": "task_old"}
        entry.update(model="m", reserved=0, spent=0)
        raw.xadd(keys.ledger(tenant), entry, id=f"{now_ms - 29 * day_ms}-0")
    finally:
        raw.close()
    assert (await create(gateway, key)).status_code == 202
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
    gateway.sim.set_balance(gateway.sim.current_credits() - 40)  # spent outside the gateway
    caplog.set_level(logging.WARNING, "app.reconciliation")
    report = await admin_get(gateway, "/admin/upstream")
    replaced = [r for r in caplog.records if "the upstream changed" in r.getMessage()]
    assert (report["unexplained_credits"], len(replaced)) == (40, 0)


async def test_a_baseline_taken_with_a_create_in_flight_invents_no_drift(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """No quiet moment (a create at Rivya's door): the baseline listed its hold by reservation
    id; Rivya made the task after the balance was read and the hold moved to the task's id,
    so the 8 was unexplained forever."""
    upstream = HeldCreate(sim_app)
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, upstream=upstream
    ) as gw:
        key = await gw.team_with_key("alpha", rate_limit_per_minute=1000)
        sending = asyncio.create_task(create(gw, key))
        await upstream.arrived.wait()  # admitted, on its way to Rivya
        taken = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        assert taken.status_code == 200, taken.text
        assert taken.json()["baseline"]["still_uncertain_credits"] == 8
        clock.advance(1)  # Rivya makes it a second after it read the balance
        upstream.go.set()
        assert (await sending).status_code == 202
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
        report = await admin_get(gw, "/admin/upstream")
        assert (report["drift_credits"], report["unexplained_credits"]) == (0, 0), report
        assert report["baseline"]["still_uncertain_credits"] == 0


async def test_a_task_that_failed_in_the_second_of_the_balance_read_stays_uncertain(
    gateway: Gateway, clock: FakeClock
) -> None:
    """Rivya's Date is to the second: a task failed (and refunded) 0.6 s before the balance
    read, in the same second, was placed as refunded after it: +8 unexplained. It cannot be
    placed either way: it stays uncertain (never unexplained)."""
    key = await gateway.team_with_key("alpha", rate_limit_per_minute=1000)
    clock.advance(0.3)
    gateway.sim.set_faults(force_fail_next=1)
    assert (await create(gateway, key)).status_code == 202  # fails at Rivya 6 s later
    clock.advance(6.6)  # it failed 0.6 s ago, refunded; the gateway has not polled it yet
    taken = await gateway.http.post("/admin/upstream/baseline", headers=admin_headers())
    assert taken.status_code == 200
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
    report = await admin_get(gateway, "/admin/upstream")
    assert report["unexplained_credits"] == 0, report
    assert report["baseline"]["still_uncertain_credits"] == 8


async def test_a_create_rivya_refuses_crosses_no_line_even_while_another_records(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """Budget 20, line 50 %: A (8) is at Rivya's door; B (8) is recorded: "16 of 20 crossed
    50 %" was written, counting A's hold. Rivya then refused A: the team never held more than
    8, and when it really reached 16 later nothing was said (the line was used)."""
    received: list[dict[str, Any]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(204)

    upstream = HeldCreate(sim_app)
    async with running_gateway(
        alert_settings(redis_url),
        sim_app,
        clock,
        upstream=upstream,
        alert_transport=httpx.MockTransport(receive),
    ) as gw:
        key = await gw.team_with_key(
            "design", budget_credits=20, budget_period="total", rate_limit_per_minute=1000
        )
        first = asyncio.create_task(create(gw, key, prompt="a"))
        await upstream.arrived.wait()  # A admitted (8 held), at Rivya's door
        assert (await create(gw, key, prompt="b")).status_code == 202  # B recorded
        balance = gw.sim.current_credits()
        gw.sim.set_balance(0)  # Rivya refuses A: insufficient_credits, nothing made
        upstream.go.set()
        assert (await first).status_code == 503
        gw.sim.set_balance(balance)
        await gw.app.state.services.settler.run_once()
        premature = list(received)
        assert (await create(gw, key, prompt="c")).status_code == 202  # now 16 of 20, really
        await settle_all(gw, clock)
        await assert_books_close(gw, "design")
        assert premature == [], f"alerted a crossing that never happened: {premature}"
        assert [e["used_credits"] for e in received] == [16]


@pytest.mark.parametrize("index_write_lost", [False, True])
async def test_a_process_dying_before_its_index_write_stalls_nothing_past_a_sweep(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, index_write_lost: bool
) -> None:
    """A process dies between admit.lua (which marked the team "indexed by now + 2 s") and its
    index write: no later script of the team indexed it, so all its work waited for the sweep
    (600 s then), and the dead process's create, past Rivya's window by then, was abandoned as
    spent. Now the team's next work past the marker indexes it, and the sweep comes every
    120 s, well inside the window: the create is resent and made."""
    upstream = HeldCreate(sim_app)  # the first create never leaves: its process died
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, upstream=upstream
    ) as gw:
        settler = gw.app.state.services.settler
        due = settler.due  # the index every store of this replica writes to
        key = await gw.team_with_key("alpha", rate_limit_per_minute=1000, budget_period="total")
        real_index_at = due.index_at
        dropped: list[int] = []

        async def dies_before_indexing(tenant: str, due_ms: int) -> None:
            dropped.append(due_ms)
            if not index_write_lost:
                await real_index_at(tenant, due_ms)

        due.index_at = dies_before_indexing
        dying = asyncio.create_task(create(gw, key, prompt="lost"))
        await upstream.arrived.wait()
        dying.cancel()  # the process is gone: no index write, no send, no unlease
        with pytest.raises(asyncio.CancelledError):
            await dying
        due.index_at = real_index_at
        assert [d for d in dropped if d >= 0], "admit.lua asked for an index write"
        for n in range(2):  # the team goes on working on a healthy replica
            assert (await create(gw, key, prompt=f"ok-{n}")).status_code == 202
        for tick in range(16):  # 240 s of settler ticks, a sweep every 120 s
            clock.advance(15)
            if tick == 7:
                await settler.sweep()
            await settler.run_once()
        spend = await total_spend(gw, "alpha")
        assert (len(gw.sim.tasks), spend.reserved, spend.in_flight) == (3, 0, 0)
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
