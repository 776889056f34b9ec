"""The Redis store on a real redis-server: forward-only task state, script reloads, outages."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from app.domain.tasks import Observed
from app.errors import StoreUnavailable
from app.store.keyspace import KeySpace
from app.store.redis import create_redis
from app.store.schedule import DueTeams
from app.store.scripts import Scripts
from app.store.tasks import TaskStore
from tests.store.conftest import Stores, rivya_task
from tests.support import RedisServer, bearer, gateway_settings, running_gateway


async def test_task_state_only_moves_forward(stores: Stores) -> None:
    await stores.team()
    stored = await stores.record(await stores.admitted())
    task_id = stored.record.id
    observe = stores.tasks.observe
    assert (
        await observe(stored, rivya_task(task_id, "processing", updated="t1"))
        is Observed.PROGRESSED
    )
    assert await observe(stored, rivya_task(task_id, "queued", updated="t0")) is Observed.UNCHANGED
    assert (
        await observe(stored, rivya_task(task_id, "succeeded", final=8, updated="t2"))
        is Observed.SETTLED
    )
    assert await observe(stored, rivya_task(task_id, "failed", updated="t3")) is Observed.UNCHANGED
    again = await stores.tasks.get("alpha", task_id)
    assert again is not None
    assert again.record.upstream.status == "succeeded"
    assert again.record.upstream.updated_at == "t2"
    assert await stores.tasks.get("beta", task_id) is None  # the team is part of the key


async def test_scripts_reload_themselves_after_a_script_flush(
    stores: Stores, redis_url: str
) -> None:
    await stores.team()
    flusher = create_redis(redis_url)
    await flusher.script_flush()
    await flusher.aclose()
    assert (await stores.admitted()).create.credits == 8  # NOSCRIPT handled by reloading


async def test_an_unreachable_redis_raises_store_unavailable() -> None:
    redis = create_redis("redis://127.0.0.1:1/0", timeout=0.2)
    keys, scripts, clock = KeySpace("t"), Scripts(redis), FakeClock()
    due = DueTeams(redis, keys, scripts, clock)
    store = TaskStore(redis, keys, scripts, clock, due, retention_seconds=60)
    with pytest.raises(StoreUnavailable):
        await store.get("alpha", "task_1")
    await redis.aclose()


async def test_redis_down_fails_closed_and_service_recovers_by_itself(
    redis_server: RedisServer, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        created = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert created.status_code == 202
        sent_before = len(gw.upstream_requests())

        redis_server.stop()
        assert (await gw.http.get("/healthz")).status_code == 200
        assert (await gw.http.get("/readyz")).status_code == 503
        # The key is still cached, so this reaches admission: which must fail closed.
        refused = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "store_unavailable"
        clock.advance(10)  # past the key cache: now authentication itself needs Redis
        read = await gw.http.get(f"/v1/images/{created.json()['id']}", headers=bearer(key))
        assert read.json()["error"]["code"] == "store_unavailable"
        assert len(gw.upstream_requests()) == sent_before  # nothing went upstream

        redis_server.start()  # same port, empty data: keys are gone, but service is back
        assert (await gw.http.get("/readyz")).status_code == 200
        await gw.create_team("alpha")
        key = await gw.issue_key("alpha")
        again = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert again.status_code == 202
