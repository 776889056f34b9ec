"""The Redis store on a real redis-server: forward-only task state, script reloads, outages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from app.domain import TaskRecord
from app.errors import StoreUnavailable
from app.store.keys import KeySpace
from app.store.redis import create_redis
from app.store.scripts import Scripts
from app.store.tasks import TaskStore
from app.upstream.wire import RivyaTask
from tests.support import RedisServer, bearer, gateway_settings, running_gateway


def rivya_task(status: str, updated: str) -> RivyaTask:
    return RivyaTask.model_validate(
        {
            "id": "task_1",
            "status": status,
            "model": "flux-kontext-max",
            "reserved_credits": 8,
            "final_credits": 8 if status == "succeeded" else 0,
            "created_at": "2026-05-11T00:00:00.000Z",
            "updated_at": updated,
        }
    )


@pytest.fixture
async def tasks(redis_url: str) -> AsyncIterator[TaskStore]:
    redis = create_redis(redis_url)
    yield TaskStore(redis, KeySpace("t"), Scripts(redis), retention_seconds=60)
    await redis.aclose()


async def test_task_state_only_moves_forward(tasks: TaskStore) -> None:
    await tasks.record(TaskRecord(team="alpha", upstream=rivya_task("queued", "t0")), created_ms=1)
    assert await tasks.advance("alpha", rivya_task("processing", "t1"))
    assert not await tasks.advance("alpha", rivya_task("queued", "t0"))  # a stale answer
    assert await tasks.advance("alpha", rivya_task("succeeded", "t2"))
    assert not await tasks.advance("alpha", rivya_task("failed", "t3"))  # terminal is final
    stored = await tasks.get("alpha", "task_1")
    assert stored is not None
    assert stored.upstream.status == "succeeded"
    assert stored.upstream.updated_at == "t2"
    assert await tasks.get("beta", "task_1") is None  # the team is part of the key


async def test_scripts_reload_themselves_after_a_script_flush(
    tasks: TaskStore, redis_url: str
) -> None:
    await tasks.record(TaskRecord(team="alpha", upstream=rivya_task("queued", "t0")), created_ms=1)
    flusher = create_redis(redis_url)
    await flusher.script_flush()
    await flusher.aclose()
    assert await tasks.advance("alpha", rivya_task("processing", "t1"))  # NOSCRIPT handled


async def test_an_unreachable_redis_raises_store_unavailable() -> None:
    redis = create_redis("redis://127.0.0.1:1/0", timeout=0.2)
    store = TaskStore(redis, KeySpace("t"), Scripts(redis), retention_seconds=60)
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
        clock.advance(10)  # past the key cache: the next request must ask Redis
        sent_before = len(gw.upstream_requests())

        redis_server.stop()
        assert (await gw.http.get("/healthz")).status_code == 200
        ready = await gw.http.get("/readyz")
        assert ready.status_code == 503
        refused = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "store_unavailable"
        read = await gw.http.get(f"/v1/images/{created.json()['id']}", headers=bearer(key))
        assert read.json()["error"]["code"] == "store_unavailable"
        assert len(gw.upstream_requests()) == sent_before  # nothing went upstream

        redis_server.start()  # same port, empty data: keys are gone, but service is back
        assert (await gw.http.get("/readyz")).status_code == 200
        await gw.create_team("alpha")
        key = await gw.issue_key("alpha")
        again = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert again.status_code == 202
