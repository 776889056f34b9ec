"""Idempotency-Key: a retry gets the same task; a reused key with another body is a 409."""

from __future__ import annotations

from typing import Any

import httpx

from app.clock import FakeClock
from app.simulator.state import SimState
from tests.simulator.helpers import FLUX_MAX

BODY: dict[str, Any] = {"model": FLUX_MAX, "prompt": "a red fox", "params": {"aspectRatio": "1:1"}}


async def post(client: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    return await client.post("/api/v1/generations", json=body, headers={"Idempotency-Key": key})


async def test_same_key_and_body_replays_the_same_task(
    client: httpx.AsyncClient, state: SimState
) -> None:
    first = await post(client, BODY, "key-1")
    second = await post(client, dict(reversed(BODY.items())), "key-1")  # same JSON, other order

    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert len(state.tasks) == 1
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 992  # charged once
    assert state.requests[0].header("Idempotency-Key") == "key-1"


async def test_replay_shows_the_current_state(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await post(client, BODY, "key-1")
    clock.advance(10)

    replay = (await post(client, BODY, "key-1")).json()

    assert replay["status"] == "succeeded"
    assert replay["final_credits"] == 8


async def test_same_key_other_body_is_a_conflict(
    client: httpx.AsyncClient, state: SimState
) -> None:
    await post(client, BODY, "key-1")

    response = await post(client, {**BODY, "prompt": "a blue fox"}, "key-1")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert len(state.tasks) == 1


async def test_different_keys_make_different_tasks(
    client: httpx.AsyncClient, state: SimState
) -> None:
    first = (await post(client, BODY, "key-1")).json()
    second = (await post(client, BODY, "key-2")).json()
    unkeyed = (await client.post("/api/v1/generations", json=BODY)).json()

    assert len({first["id"], second["id"], unkeyed["id"]}) == 3


async def test_key_expires_after_the_window(
    client: httpx.AsyncClient, clock: FakeClock, state: SimState
) -> None:
    first = (await post(client, BODY, "key-1")).json()
    clock.advance(599)
    within = (await post(client, BODY, "key-1")).json()
    clock.advance(2)  # 601 s after the first use
    after = await post(client, {**BODY, "prompt": "something else"}, "key-1")

    assert within["id"] == first["id"]
    assert after.status_code == 201
    assert after.json()["id"] != first["id"]


async def test_a_rejected_request_does_not_claim_the_key(client: httpx.AsyncClient) -> None:
    bad = await post(client, {**BODY, "prompt": ""}, "key-1")
    good = await post(client, BODY, "key-1")

    assert bad.status_code == 400
    assert good.status_code == 201
