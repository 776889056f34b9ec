"""Point 3 of the money audit with real processes: a gateway whose Redis stalls past its timeout
while admitting a create answers 503, and that create is never sent, then or later."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis as SyncRedis

from app.domain.teams import tenant_of
from app.store.keyspace import KeySpace
from tests.e2e.test_processes import ADMIN, Stack, running_stack
from tests.support import RedisServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def stalling_stack(redis_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(
        redis_server,
        tmp_path,
        REDIS_TIMEOUT_SECONDS="0.3",
        KEY_CACHE_SECONDS="60",
        # A create's lease: 1 s x 1 attempt + 0 s + 5 s = 6 s, so a resolver would act soon.
        RIVYA_TIMEOUT_SECONDS="1",
        RIVYA_RETRY_ATTEMPTS="1",
        RIVYA_RETRY_BUDGET_SECONDS="0",
        SETTLER_TICK_SECONDS="0.2",
    )


def creates_at_rivya(stack: Stack) -> int:
    log = httpx.get(f"{stack.sim_url}/_sim/requests", timeout=5).json()["data"]
    return sum(1 for r in log if r["method"] == "POST" and r["path"] == "/api/v1/generations")


def test_a_create_admitted_during_a_redis_stall_is_never_sent(
    stalling_stack: Stack, redis_server: RedisServer
) -> None:
    stack = stalling_stack
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=stack.gw_url, timeout=30) as http:
        team = {"id": "alpha", "budget_credits": 80, "budget_period": "total"}
        assert http.post("/admin/teams", json=team, headers=admin).status_code == 201
        key = http.post("/admin/teams/alpha/keys", json={}, headers=admin).json()["key"]
        auth = {"Authorization": f"Bearer {key}"}
        warm = http.post("/v1/images", json={"prompt": "warm"}, headers=auth)
        assert warm.status_code == 202  # the key is cached: the next create goes to admission

        redis_server.stall(1.5)
        stalled = http.post(
            "/v1/images", json={"prompt": "stalled", "client_request_id": "s1"}, headers=auth
        )
        assert stalled.status_code == 503, stalled.text
        assert stalled.json()["error"]["code"] == "store_unavailable"
        assert "will never be sent" in stalled.json()["error"]["message"]
        # Had it been left pending, its lease (6 s) would end here, and a resolver would send it.
        lease_end = time.monotonic() + 6 + 1

        # Nothing is left that anyone could send: no pending create, no reservation but the
        # warm task's.
        redis = SyncRedis(port=redis_server.port, decode_responses=True)
        keys = KeySpace("gw")
        alpha = tenant_of("alpha", str(redis.hget(keys.team("alpha"), "generation")))
        assert redis.hlen(keys.pending_creates(alpha)) == 0
        assert list(redis.hgetall(keys.reservations(alpha))) == [warm.json()["id"]]

        # Well past the stalled create's lease, with the settler and its resolver running:
        # the warm task settles, and the stalled create has still not reached Rivya.
        deadline = time.monotonic() + 30
        usage = http.get("/v1/usage", headers=auth).json()
        while usage["spent_credits"] != 8 or time.monotonic() < lease_end:
            assert time.monotonic() < deadline, usage
            # Absence is only proved over time: poll the real processes until past the lease.
            time.sleep(0.2)
            usage = http.get("/v1/usage", headers=auth).json()
        assert (usage["reserved_credits"], usage["in_flight"]) == (0, 0)
        assert creates_at_rivya(stack) == 1
        redis.close()

    stack.stop()
    log = [
        json.loads(line) for line in stack.gateway_log.read_text().splitlines() if line[:1] == "{"
    ]
    assert not [line for line in log if "anomaly" in line["msg"]]
