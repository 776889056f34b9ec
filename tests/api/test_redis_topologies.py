"""The money paths against real local highly available Redis topologies: a Redis Cluster of
three masters (``redis+cluster://``: every multi-key script stays in its team's slot) and a
Sentinel set of a master, a replica and three sentinels (``redis+sentinel://``). Budgets,
idempotency and settlement hold as on one node, the gateway rides through a failover of either
under load, and the books close."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from redis import Redis as SyncRedis

from app.auth.api_keys import key_id_of
from app.clock import FakeClock
from app.settings import StoreSettings
from tests.support import (
    Gateway,
    RedisClusterNodes,
    RedisSentinelSet,
    admin_headers,
    assert_books_close,
    bearer,
    free_port,
    gateway_settings,
    mint_token,
    running_gateway,
    settle_all,
    token_settings,
)


async def test_a_budget_race_admits_exactly_what_fits(
    topology_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(gateway_settings(topology_url), sim_app, clock) as gw:
        key = await gw.team_with_key(
            "alpha", budget_credits=80, rate_limit_per_minute=10_000, max_in_flight=1000
        )
        answers = await asyncio.gather(
            *(
                gw.http.post("/v1/images", json={"prompt": f"p{i}"}, headers=bearer(key))
                for i in range(40)
            )
        )
        statuses = [a.status_code for a in answers]
        assert (statuses.count(202), statuses.count(402)) == (10, 30)
        assert len(gw.sim.tasks) == 10
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_concurrent_repeats_make_one_task(
    topology_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(topology_url, idempotency_waiters_per_team=40)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        body = {"prompt": "once", "client_request_id": "order-1"}
        answers = await asyncio.gather(
            *(gw.http.post("/v1/images", json=body, headers=bearer(key)) for _ in range(20))
        )
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["id"] for a in answers}) == 1
        assert len(gw.sim.tasks) == 1
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_teams_on_different_masters_of_a_cluster_settle_and_their_books_close(
    redis_cluster: RedisClusterNodes, sim_app: FastAPI, clock: FakeClock
) -> None:
    redis_cluster.flush()
    cluster_url = redis_cluster.url
    teams = [f"team-{i}" for i in range(6)]
    async with running_gateway(gateway_settings(cluster_url), sim_app, clock) as gw:
        keys = {team: await gw.team_with_key(team) for team in teams}
        for team, key in keys.items():
            for n in range(2):
                made = await gw.http.post(
                    "/v1/images", json={"prompt": f"{team} {n}"}, headers=bearer(key)
                )
                assert made.status_code == 202, made.text
        await settle_all(gw, clock)
        await assert_books_close(gw, *teams)
        for team, key in keys.items():
            usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
            assert (usage["spent_credits"], usage["reserved_credits"]) == (16, 0), team
    # The teams' data really is spread: more than one master holds some.
    holding = 0
    for port in redis_cluster.ports:
        node = SyncRedis(port=port)
        holding += node.dbsize() > 0
        node.close()
    assert holding > 1


@pytest.fixture(params=["sentinel", "cluster"])
def failing_over(request: pytest.FixtureRequest) -> Iterator[RedisSentinelSet | RedisClusterNodes]:
    """A Sentinel set, or a Cluster of three masters with a replica each, of this test's own: a
    failover leaves the shared ones as they were."""
    topology = RedisSentinelSet() if request.param == "sentinel" else RedisClusterNodes(replicas=1)
    topology.start()
    yield topology
    topology.stop()


class Clients:
    """Clients creating one image after another, each create retried with its
    ``client_request_id`` while the gateway answers 503 (the store is switching)."""

    def __init__(self, gw: Gateway, key: str) -> None:
        self.gw, self.key = gw, key
        self.accepted: dict[str, str] = {}  # client_request_id -> task id
        self.answers: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self._progress = asyncio.Event()  # set on every accepted create

    async def run(self, clients: int) -> None:
        await asyncio.gather(*(self._client(n) for n in range(clients)))

    async def _client(self, n: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            crid = f"c{n}-{sequence}"
            sequence += 1
            body = {"prompt": crid, "client_request_id": crid}
            while True:
                answer = await self.gw.http.post("/v1/images", json=body, headers=bearer(self.key))
                if answer.status_code == 202:
                    self.answers["accepted"] += 1
                    self.accepted[crid] = answer.json()["id"]
                    self._progress.set()
                    break
                kind = f"{answer.status_code} {answer.json()['error']['code']}"
                self.answers[kind] += 1
                # Fails closed while the master moves: refused, or its outcome unknown (the
                # client_request_id is the handle); anything else is a bug.
                assert kind in ("503 store_unavailable", "409 request_in_progress"), answer.text
                await asyncio.sleep(0.05)  # the client's backoff

    async def wait_for(self, creates: int) -> None:
        target = len(self.accepted) + creates
        async with asyncio.timeout(60):
            while len(self.accepted) < target:
                self._progress.clear()
                await self._progress.wait()


async def test_a_failover_under_load_fails_closed_recovers_and_the_books_close(
    failing_over: RedisSentinelSet | RedisClusterNodes, sim_app: FastAPI, clock: FakeClock
) -> None:
    # Every money write waits for a replica (the default on Sentinel; set for the Cluster).
    # Without it both fail: writes the old master took after the promotion are lost.
    settings = gateway_settings(failing_over.url, redis_timeout_seconds=1.0, redis_wait_replicas=1)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key(
            "alpha", budget_credits=1_000_000, rate_limit_per_minute=100_000, max_in_flight=10_000
        )
        load = Clients(gw, key)
        running = asyncio.create_task(load.run(clients=8))
        await load.wait_for(20)
        await asyncio.to_thread(failing_over.fail_over)  # the replicas are the masters now
        await load.wait_for(30)  # recovered by itself, on the new master
        load.stop.set()
        await running
        # While the master moved, writes its replica no longer acknowledged were refused.
        assert load.answers["503 store_unavailable"] > 0
        await settle_all(gw, clock)
        # One task per create, and the team charged exactly what Rivya charged.
        assert len(set(load.accepted.values())) == len(load.accepted) == len(gw.sim.tasks)
        await assert_books_close(gw, "alpha")


async def until_answered(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The answer of ``request()`` (an awaitable's factory), asked again while the gateway
    answers 503 ``store_unavailable`` (the store is switching masters), as a client would."""
    async with asyncio.timeout(60):
        while True:
            answer = await request()
            if answer.status_code != 503:
                return answer
            assert answer.json()["error"]["code"] == "store_unavailable", answer.text
            await asyncio.sleep(0.05)  # the client's backoff


@dataclass(frozen=True)
class AdminWrite:
    """An admin write, and the credential it takes away: it works before, 401 after."""

    method: str
    path: str
    body: dict[str, Any] | None
    credential: str

    async def send(self, gw: Gateway) -> httpx.Response:
        return await gw.http.request(
            self.method, self.path, json=self.body, headers=admin_headers()
        )

    async def reads(self, gw: Gateway) -> int:
        """What a read with the credential is answered (after any 503s)."""
        answer = await until_answered(
            lambda: gw.http.get("/v1/usage", headers=bearer(self.credential))
        )
        return answer.status_code

    async def assert_taken_away(self, gw: Gateway) -> None:
        assert await self.reads(gw) == 401, self.path
        created = await until_answered(
            lambda: gw.http.post(
                "/v1/images", json={"prompt": "p"}, headers=bearer(self.credential)
            )
        )
        assert created.status_code == 401, (self.path, created.text)


async def admin_writes(gw: Gateway, name: str) -> list[AdminWrite]:
    """A key's revocation, a team's deletion and a user's browser tokens revoked, each taking
    away a credential of a team of its own (``name`` tells sets apart)."""
    key = await gw.team_with_key(f"{name}-key")
    doomed = await gw.team_with_key(f"{name}-doomed")
    token = await mint_token(gw, await gw.team_with_key(f"{name}-tokens"), "ann")
    return [
        AdminWrite("DELETE", f"/admin/keys/{key_id_of(key)}", None, key),
        AdminWrite("DELETE", f"/admin/teams/{name}-doomed", None, doomed),
        AdminWrite("POST", f"/admin/teams/{name}-tokens/tokens/revoke", {"subject": "ann"}, token),
    ]


async def test_admin_writes_answered_before_a_failover_survive_it(
    failing_over: RedisSentinelSet | RedisClusterNodes, sim_app: FastAPI, clock: FakeClock
) -> None:
    # No key cache: every request reads what the master of the moment holds.
    # A replica's acknowledgement is given 2 s: the suite's machine may be busy, and a write
    # short of it is refused (the cut-off writes below wait that long, once each).
    settings = token_settings(
        failing_over.url,
        redis_timeout_seconds=3.0,
        redis_wait_timeout_seconds=2.0,
        redis_wait_replicas=1,
        key_cache_seconds=0,
    )
    async with running_gateway(settings, sim_app, clock) as gw:
        # A topology just started may not acknowledge the very first write in time (a busy
        # machine): the first team is created as a client would, again until answered.
        first = await until_answered(
            lambda: gw.http.post("/admin/teams", json={"id": "first"}, headers=admin_headers())
        )
        assert first.status_code in (201, 409), first.text  # 409: an attempt that ran
        answered, cut_off = await admin_writes(gw, "answered"), await admin_writes(gw, "cut-off")
        for write in answered:
            assert (await write.send(gw)).status_code in (200, 204), write.path
        # From here the master's writes reach no replica, and the failover below promotes one
        # anyway: whatever is written now is lost, deterministically.
        await asyncio.to_thread(failing_over.cut_off_replicas)
        answers = [await write.send(gw) for write in cut_off]
        await asyncio.to_thread(failing_over.fail_over)
        for write in answered:  # a write answered as done is done on the new master too
            await write.assert_taken_away(gw)
        for write, answer in zip(cut_off, answers, strict=True):
            # The new master never had these: the credentials work again...
            assert await write.reads(gw) == 200, write.path
            # ...which is why they were not answered as done: maybe made, retry.
            assert answer.status_code == 503, (
                f"{write.method} {write.path} answered {answer.status_code}, "
                "and was lost in the failover"
            )
            assert "Retry: repeating it is safe" in answer.json()["error"]["message"]
            retried = await until_answered(partial(write.send, gw))
            assert retried.status_code in (200, 204), retried.text
            await write.assert_taken_away(gw)


def test_money_writes_wait_for_a_replica_by_default_on_sentinel() -> None:
    def replicas(url: str, **values: Any) -> int:
        return StoreSettings(_env_file=None, redis_url=url, **values).replicas_to_wait_for

    assert replicas("redis+sentinel://127.0.0.1:26379/mymaster") == 1
    assert replicas("redis://127.0.0.1:6379/0") == 0
    assert replicas("redis://127.0.0.1:6379/0", redis_wait_replicas=2) == 2
    assert replicas("redis+sentinel://127.0.0.1:26379/mymaster", redis_wait_replicas=0) == 0
    # A Cluster may have no replicas: waiting is asked for, not assumed.
    assert replicas("redis+cluster://127.0.0.1:7000") == 0
    assert replicas("redis+cluster://127.0.0.1:7000", redis_wait_replicas=1) == 1
    with pytest.raises(ValidationError, match="shorter than REDIS_TIMEOUT_SECONDS"):
        replicas("redis://h:6379", redis_wait_replicas=1, redis_wait_timeout_seconds=3)


async def test_a_master_without_its_replica_sends_nothing_and_holds_nothing(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    # A single node asked to wait for a replica it does not have: as a master is whose replica
    # was promoted away. Its scripts run, but no write is acknowledged.
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
    settings = gateway_settings(redis_url, redis_wait_replicas=1, redis_wait_timeout_seconds=0.05)
    async with running_gateway(settings, sim_app, clock) as gw:
        answer = await gw.http.post(
            "/v1/images", json={"prompt": "p", "client_request_id": "r1"}, headers=bearer(key)
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "store_unavailable"
        assert gw.sim.tasks == {}  # nothing reached Rivya
        usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
        assert (usage["reserved_credits"], usage["in_flight"], usage["spent_credits"]) == (0, 0, 0)


async def test_an_admin_write_no_replica_acknowledged_is_answered_retry(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    # As above, a master without the replica it waits for: every admin write runs, and none is
    # acknowledged, so none may be answered as done.
    async with running_gateway(token_settings(redis_url), sim_app, clock) as gw:
        writes = await admin_writes(gw, "alpha")
    settings = token_settings(redis_url, redis_wait_replicas=1, redis_wait_timeout_seconds=0.05)
    async with running_gateway(settings, sim_app, clock) as gw:
        # The startup's backfill of active keys done first: run alongside, it would meet the
        # key revoked below and retry its deactivation (never acknowledged here) meanwhile.
        await gw.app.state.services.unfinished_writes.join()
        baseline = AdminWrite("POST", "/admin/upstream/baseline", None, credential="")
        for write in [*writes, baseline]:
            answer = await write.send(gw)
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "store_unavailable"
            assert "may or may not have taken effect" in error["message"], (write.path, error)
            assert "Retry: repeating it is safe." in error["message"], (write.path, error)


@pytest.mark.parametrize("wait_replicas", [0, 1])
async def test_a_cluster_with_no_reachable_node_fails_closed(
    wait_replicas: int, sim_app: FastAPI, clock: FakeClock
) -> None:
    # Nothing listens there: the client cannot learn the slot map (redis-py raises outside its
    # RedisError family). The gateway still starts, and answers 503, not 500.
    url = f"redis+cluster://127.0.0.1:{free_port()}"
    settings = gateway_settings(url, redis_wait_replicas=wait_replicas)
    async with running_gateway(settings, sim_app, clock) as gw:
        answer = await gw.http.post("/admin/teams", json={"id": "alpha"}, headers=admin_headers())
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "store_unavailable"
        assert (await gw.http.get("/readyz")).status_code == 503
