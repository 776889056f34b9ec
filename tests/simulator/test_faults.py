"""Fault switches: injected errors, hangs, garbage bodies and latency, and their reset.

Hangs and latency are real time (a gateway's HTTP timeouts are), so these use short ones.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from app.clock import FakeClock
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from tests.simulator.helpers import create


async def test_error_status_answers_the_next_n_requests(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(error_status=429, error_count=2, retry_after=3)

    first = await create(client)
    second = await client.get("/api/v1/credits")
    third = await create(client)

    for limited in (first, second):
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "3"
        error = limited.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["requestId"] == limited.headers["x-request-id"]
    assert third.status_code == 201
    assert len(state.tasks) == 1  # the refused create did nothing
    assert state.faults.error_count == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "public_api_disabled"), (500, "internal_error"), (429, "rate_limited")],
)
async def test_error_status_has_rivya_s_code(
    client: httpx.AsyncClient, state: SimState, status: int, code: str
) -> None:
    state.set_faults(error_status=status, error_count=1)

    response = await client.get("/api/v1/credits")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "retry-after" not in response.headers


async def test_error_code_override(client: httpx.AsyncClient, state: SimState) -> None:
    state.set_faults(error_status=401, error_count=1, error_code="api_key_revoked")

    response = await client.get("/api/v1/credits")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"


async def test_error_paths_limit_which_requests_fail(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(error_status=503, error_count=1, error_paths="/api/v1/generations")

    credits = await client.get("/api/v1/credits")
    created = await create(client)

    assert credits.status_code == 200
    assert created.status_code == 503


async def test_error_method_limits_errors_to_creates_and_spares_polls(
    client: httpx.AsyncClient, state: SimState
) -> None:
    created = await create(client)
    state.set_faults(
        error_status=500, error_count=1, error_paths="/generations", error_method="POST"
    )

    poll = await client.get(f"/api/v1/generations/{created.json()['id']}")
    failed = await create(client)
    after = await create(client)

    assert poll.status_code == 200
    assert failed.status_code == 500
    assert after.status_code == 201


async def test_hang_before_acting_leaves_nothing_done(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(hang_seconds=30, hang_count=1, hang_mode="before")

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):  # the hang is 30 s: 2 s proves it without racing a busy CI
            await create(client)

    assert state.tasks == {}
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 1000
    assert state.requests[0].path == "/api/v1/generations"  # it did arrive
    assert state.requests[0].status is None  # and was never answered


async def test_hang_after_acting_loses_the_answer(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(hang_seconds=30, hang_count=1, hang_mode="after")

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):  # the hang is 30 s: 2 s proves it without racing a busy CI
            await create(client)

    assert len(state.tasks) == 1  # Rivya acted; only the answer was lost
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 992


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_short_hang_delays_then_answers(
    client: httpx.AsyncClient, state: SimState, mode: str
) -> None:
    state.set_faults(hang_seconds=0.05, hang_count=1, hang_mode=mode)

    started = time.monotonic()
    slow = await create(client)
    slow_elapsed = time.monotonic() - started

    assert slow.status_code == 201
    assert slow_elapsed >= 0.05
    assert len(state.tasks) == 1
    assert state.faults.hang_count == 0


async def test_hang_paths_limit_which_requests_hang(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(hang_seconds=30, hang_count=1, hang_paths="/api/v1/files")

    async with asyncio.timeout(5):  # would blow up if the credits call hung
        response = await client.get("/api/v1/credits")

    assert response.status_code == 200
    assert state.faults.hang_count == 1


async def test_malformed_answer_after_the_task_was_created(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(malformed_count=1)

    garbled = await create(client)
    normal = await create(client)

    assert garbled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        garbled.json()
    assert normal.status_code == 201
    assert len(state.tasks) == 2  # the garbled create still made its task


async def test_malformed_paths(client: httpx.AsyncClient, state: SimState) -> None:
    state.set_faults(malformed_count=1, malformed_paths="/api/v1/generations/")

    created = await create(client)
    polled = await client.get(f"/api/v1/generations/{created.json()['id']}")

    assert created.status_code == 201
    assert polled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        polled.json()


async def test_latency_is_added_to_api_responses(
    client: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(latency_ms=60)

    started = time.monotonic()
    response = await client.get("/api/v1/credits")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.06


async def test_faults_are_set_and_read_over_http(
    anon: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    updated = await anon.post("/_sim/faults", json={"error_status": 503, "error_count": 1})
    current = (await anon.get("/_sim/faults")).json()
    refused = await client.get("/api/v1/credits")

    assert updated.status_code == 200
    assert current["error_status"] == 503
    assert current["error_count"] == 1
    assert current["latency_ms"] == 0  # untouched by a partial update
    assert refused.status_code == 503


@pytest.mark.parametrize(
    "changes", [{"error_count": -1}, {"failure_rate": 1.5}, {"hang_mode": "sideways"}, {"bogus": 1}]
)
async def test_bad_fault_updates_are_refused(
    anon: httpx.AsyncClient, state: SimState, changes: dict[str, object]
) -> None:
    response = await anon.post("/_sim/faults", json=changes)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert state.faults == state.initial_faults()


async def test_force_fail_next_over_http(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SimState
) -> None:
    await anon.post("/_sim/faults", json={"force_fail_next": 2})

    ids = [(await create(client)).json()["id"] for _ in range(3)]

    assert [state.tasks[i].will_fail for i in ids] == [True, True, False]


async def test_reset_clears_faults_but_keeps_state(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SimState
) -> None:
    await create(client)
    await anon.post("/_sim/faults", json={"error_count": 5, "latency_ms": 10})

    response = await anon.post("/_sim/reset")

    assert response.status_code == 200
    assert (await anon.get("/_sim/faults")).json()["error_count"] == 0
    assert (await client.get("/api/v1/credits")).status_code == 200
    assert len(state.tasks) == 1


async def test_reset_with_state_starts_over(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SimState
) -> None:
    await create(client)
    await anon.post("/_sim/faults", json={"force_fail_next": 3})

    await anon.post("/_sim/reset", json={"state": True})

    assert state.tasks == {}
    assert state.requests == []
    assert state.faults.force_fail_next == 0
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 1000


async def test_control_endpoints_ignore_faults_and_auth(
    anon: httpx.AsyncClient, state: SimState
) -> None:
    state.set_faults(
        error_count=5, error_paths="/", malformed_count=5, malformed_paths="/", latency_ms=0
    )

    response = await anon.get("/_sim/faults")

    assert response.status_code == 200
    assert response.json()["error_count"] == 5
    assert state.requests == []


async def test_env_sets_the_starting_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_LATENCY_MS", "25")
    monkeypatch.setenv("SIM_FAILURE_RATE", "0.25")
    app = create_simulator_app(SimulatorSettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        faults = (await c.get("/_sim/faults")).json()
        await c.post("/_sim/faults", json={"latency_ms": 0})
        reset = (await c.post("/_sim/reset")).json()["faults"]

    assert faults["latency_ms"] == 25
    assert faults["failure_rate"] == 0.25
    assert reset["latency_ms"] == 25  # reset goes back to the starting values


async def test_charge_next_makes_tasks_charge_otherwise_and_say_so(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, state: SimState, clock: FakeClock
) -> None:
    """A charge other than the reservation, and an answer whose final_credits is null while the
    reservation is charged: what the gateway must settle to (or hold) without knowing why."""
    await anon.post("/_sim/faults", json={"charge_next": [5, None]})
    before = state.current_credits()
    ids = [(await create(client)).json()["id"] for _ in range(3)]
    clock.advance(60)
    ended = [(await client.get(f"/api/v1/generations/{i}")).json() for i in ids]
    assert [t["status"] for t in ended] == ["succeeded"] * 3
    assert [t["final_credits"] for t in ended] == [5, None, 8]
    assert before - state.current_credits() == 5 + 8 + 8
