"""What an answer says is what happened (the third money audit): "nothing was sent upstream" is
never said of a create that was made, and a budget refusal describes the period the admission
script enforced, not a replica's cached copy of the team. Each test ends with the books."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from app.domain.tasks import StoredTask
from app.store.tasks import TaskStore
from tests.support import (
    Gateway,
    RedisServer,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)


async def create(gw: Gateway, key: str, **body: Any) -> httpx.Response:
    return await gw.http.post("/v1/images", json={"prompt": "a shoe", **body}, headers=bearer(key))


@pytest.fixture
def redis_down_on_next_task_read(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[bool]]:
    """Arm it (``armed.append(True)``) and Redis goes down just before the next task read: the
    fault strikes between a repeat's admission (answered "replay") and its read of the task."""
    armed: list[bool] = []
    read = TaskStore.get

    async def get(self: TaskStore, team_id: str, task_id: str) -> StoredTask | None:
        if armed:
            armed.clear()
            redis_server.go_down()
        return await read(self, team_id, task_id)

    monkeypatch.setattr(TaskStore, "get", get)
    yield armed
    if redis_server.process is None:
        redis_server.come_back()


async def test_a_replay_whose_task_read_fails_never_says_nothing_was_sent(
    gateway: Gateway,
    clock: FakeClock,
    redis_server: RedisServer,
    redis_down_on_next_task_read: list[bool],
) -> None:
    """The create was made and charged; its repeat's read of the task then fails. The answer
    said "nothing was sent upstream" (the store's default) for a task Rivya made."""
    key = await gateway.team_with_key("alpha", budget_period="total")
    made = await create(gateway, key, client_request_id="order-7")
    assert made.status_code == 202
    redis_down_on_next_task_read.append(True)
    repeat = await create(gateway, key, client_request_id="order-7")
    assert repeat.status_code == 503
    error = repeat.json()["error"]
    assert error["code"] == "store_unavailable"
    assert "nothing was sent" not in error["message"].lower()
    assert "outcome is unknown" in error["message"]
    assert error["client_request_id"] == "order-7"  # the handle whose retry learns it
    redis_server.come_back()
    again = await create(gateway, key, client_request_id="order-7")
    assert again.json()["id"] == made.json()["id"]  # and the retry does learn it
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_a_budget_refusal_describes_the_period_the_script_enforced(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """Replica A cached the team (budget per day); ops move it to a monthly budget through
    replica B. The script enforces the month at once; A's 402 still said "this day"."""
    settings = gateway_settings(redis_url, key_cache_seconds=60)
    async with (
        running_gateway(settings, sim_app, clock) as replica_a,
        running_gateway(settings, sim_app, clock) as replica_b,
    ):
        key = await replica_a.team_with_key("alpha", budget_credits=8, budget_period="day")
        assert (await create(replica_a, key)).status_code == 202  # A caches the team
        moved = await replica_b.http.patch(
            "/admin/teams/alpha", json={"budget_period": "month"}, headers=admin_headers()
        )
        assert moved.status_code == 200
        refused = await create(replica_a, key)
        assert refused.status_code == 402
        message = refused.json()["error"]["message"]
        assert "0 of 8 credits left this month" in message, message
        assert "today" not in message
        await settle_all(replica_a, clock)
        await assert_books_close(replica_a, "alpha")
