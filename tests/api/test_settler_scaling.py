"""The settler scales with due work, not with teams ever created: an idle fleet's tick is a
claim whatever the number of teams, and one team whose resends hang delays no other team's.
Each test that moves credits ends with the books."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from app.domain.tasks import TaskRecord
from app.store.keyspace import KeySpace
from app.store.tasks import TaskStore
from tests.rivya_side import AnswerLost, Asgi, Reply, Request
from tests.support import (
    Gateway,
    RedisServer,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
    total_spend,
)

# What this counting does itself: its INFO, and the handshake of its connection.
_COUNTING = ("cmdstat_info", "cmdstat_client|setinfo", "cmdstat_hello")


def commands_run(server: RedisServer) -> int:
    """Every command Redis has run so far (INFO commandstats, which counts the commands a
    script runs too), this counting's own left out."""
    client = SyncRedis(port=server.port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(int(v["calls"]) for name, v in stats.items() if name not in _COUNTING)


@pytest.fixture
def idle_fleet(redis_server: RedisServer) -> int:
    """10,000 teams ever created, none with anything to do (as the registry holds them)."""
    client = SyncRedis(port=redis_server.port)
    tenants = [f"idle-{n}@1" for n in range(10_000)]
    client.sadd(KeySpace("gw").settle_teams(), *tenants)
    client.close()
    return len(tenants)


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "p", **body}, headers=bearer(key))


async def test_an_idle_fleets_tick_costs_one_claim_however_many_teams_exist(
    gateway: Gateway, clock: FakeClock, redis_server: RedisServer, idle_fleet: int
) -> None:
    """It walked every team ever created, two round trips each, twice a second: 20,000
    commands a tick for this fleet."""
    settler = gateway.app.state.services.settler
    key = await gateway.team_with_key("busy", budget_period="total")
    assert (await create(gateway, key)).status_code == 202
    clock.advance(15)  # the busy team's task has ended at Rivya and is due for a poll
    before = commands_run(redis_server)
    assert await settler.run_once() == 1  # the one due task, settled
    busy_tick = commands_run(redis_server) - before
    assert busy_tick < 100, busy_tick  # the claim, one team's work and its release
    for _ in range(3):
        before = commands_run(redis_server)
        assert await settler.run_once() == 0
        # The claim script and the one read it runs, finding nothing due: not O(teams).
        assert commands_run(redis_server) - before == 2
    await assert_books_close(gateway, "busy")


async def test_a_sweep_indexes_a_team_with_work_the_index_lost(
    gateway: Gateway, clock: FakeClock, redis_server: RedisServer, idle_fleet: int
) -> None:
    """The index is a safety-netted hint: a team whose entry is gone (an upgrade from before
    the index, a Cluster node that lost it) is found by the sweep, and only it is indexed."""
    key = await gateway.team_with_key("alpha", budget_period="total")
    assert (await create(gateway, key)).status_code == 202
    client = SyncRedis(port=redis_server.port)
    client.delete(KeySpace("gw").due_teams())  # lost
    client.close()
    settler = gateway.app.state.services.settler
    clock.advance(15)
    assert await settler.run_once() == 0  # nothing indexed: the task waits
    assert await settler.sweep() == 1  # of 10,001 teams, the one with work
    assert await settler.run_once() == 1
    spend = await total_spend(gateway, "alpha")
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    await assert_books_close(gateway, "alpha")


class HangingForOne:
    """The simulator, except that every create's first answer is lost, and the resends of the
    creates whose prompt is ``hang`` never end (a proxy holding the connection)."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)
        self.seen: set[str] = set()
        self.released = asyncio.Event()
        self.hanging = asyncio.Event()

    async def __call__(self, request: Request) -> Reply:
        if request.method != "POST" or "/generations" not in request.path:
            return await self.sim(request)
        body = request.json()
        key = request.headers["idempotency-key"]
        if key not in self.seen:
            self.seen.add(key)
            await self.sim(request)
            raise AnswerLost
        if body["prompt"] == "hang":
            self.hanging.set()
            await self.released.wait()
        return await self.sim(request)


async def test_one_teams_hung_resend_delays_no_other_teams(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Teams were worked one after another: a resend hanging up to its lease held every team
    behind it past its own resends (and, past Rivya's window, to an abandon charged as spent)."""
    upstream = HangingForOne(sim_app)
    recorded = {"aaa-stuck": asyncio.Event(), "zzz-fine": asyncio.Event()}
    record = TaskStore.record

    async def recording(self: TaskStore, task: TaskRecord, *args: Any, **kwargs: Any) -> Any:
        done = await record(self, task, *args, **kwargs)
        recorded[task.team.partition("@")[0]].set()
        return done

    monkeypatch.setattr(TaskStore, "record", recording)
    settings = gateway_settings(
        redis_url, rivya_retry_attempts=1, settler_tick_seconds=0.01, rivya_timeout_seconds=60
    )
    async with running_gateway(settings, sim_app, clock, upstream=upstream) as gw:
        stuck = await gw.team_with_key("aaa-stuck", budget_period="total")
        fine = await gw.team_with_key("zzz-fine", budget_period="total")
        assert (await create(gw, stuck, prompt="hang")).status_code == 504
        assert (await create(gw, fine, prompt="fine")).status_code == 504
        clock.advance(120)  # both creates' leases have ended: the settlers resend them
        stopping = asyncio.Event()
        settler = asyncio.create_task(gw.app.state.services.settler.run_forever(stopping))
        try:
            await asyncio.wait_for(upstream.hanging.wait(), timeout=10)
            # The other team's create is resent and recorded meanwhile.
            await asyncio.wait_for(recorded["zzz-fine"].wait(), timeout=10)
            assert not recorded["aaa-stuck"].is_set()  # still hanging, on its own
            assert await _listed(gw, fine)
        finally:
            upstream.released.set()
            stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await settler
        await settle_all(gw, clock, rounds=12)  # past the stopped settler's claim (150 s)
        await assert_books_close(gw, "aaa-stuck", "zzz-fine")


async def _listed(gw: Gateway, key: str) -> bool:
    """Whether the team's one create has its task listed."""
    listed = await gw.http.get("/v1/images", headers=bearer(key))
    return bool(listed.json()["data"])


async def test_a_create_in_a_busy_team_costs_two_redis_round_trips(
    gateway: Gateway, redis_server: RedisServer
) -> None:
    """The index of due teams costs a create nothing once its team is indexed: the admission
    script and the record script, as before (MONITOR shows what clients sent, and marks what
    scripts ran inside as such)."""
    key = await gateway.team_with_key("busy", rate_limit_per_minute=1000, max_in_flight=100)
    assert (await create(gateway, key)).status_code == 202  # the key is cached, the team indexed
    seen: list[str] = []
    started = threading.Event()
    stop = threading.Event()

    def monitor() -> None:
        client = SyncRedis(port=redis_server.port, decode_responses=True)
        with client.monitor() as lines:  # type: ignore[no-untyped-call]  # redis-py untyped
            started.set()
            for line in lines.listen():
                if stop.is_set() and "PING" in line["command"].upper():
                    break
                if line.get("client_type") != "lua":
                    seen.append(line["command"].split(" ", 1)[0].upper())
        client.close()

    watcher = threading.Thread(target=monitor)
    watcher.start()
    await asyncio.to_thread(started.wait)
    assert (await create(gateway, key)).status_code == 202
    stop.set()
    client = SyncRedis(port=redis_server.port)
    client.ping()  # ends the watch
    client.close()
    await asyncio.to_thread(watcher.join)
    # Less the stopping client's own handshake and PING.
    assert [c for c in seen if c not in ("HELLO", "PING")] == ["EVALSHA", "EVALSHA"], seen
