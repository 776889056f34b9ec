"""Failed tasks: the error shape and the refund, which must happen exactly once."""

from __future__ import annotations

import httpx

from app.clock import FakeClock
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from tests.simulator.helpers import AUTH, create


async def credits(client: httpx.AsyncClient) -> int:
    value = (await client.get("/api/v1/credits")).json()["current_credits"]
    assert isinstance(value, int)
    return value


async def test_forced_failure_refunds_exactly_once(
    client: httpx.AsyncClient, state: SimState, clock: FakeClock
) -> None:
    state.set_faults(force_fail_next=1)
    failing = (await create(client)).json()
    healthy = (await create(client)).json()
    assert await credits(client) == 1000 - 16

    clock.advance(5)
    assert await credits(client) == 1000 - 8  # the balance read alone settles the refund
    task = (await client.get(f"/api/v1/generations/{failing['id']}")).json()
    again = (await client.get(f"/api/v1/generations/{failing['id']}")).json()

    assert task["status"] == "failed"
    assert task["final_credits"] == 0
    assert task["reserved_credits"] == 8
    assert task["result"] is None
    assert task["error"]["code"] == "generation_failed"
    assert task["error"]["message"]
    assert again == task
    assert await credits(client) == 1000 - 8
    other = (await client.get(f"/api/v1/generations/{healthy['id']}")).json()
    assert other["status"] == "succeeded"


async def test_failure_keeps_credits_reserved_until_terminal(
    client: httpx.AsyncClient, state: SimState, clock: FakeClock
) -> None:
    state.set_faults(force_fail_next=1)
    task_id = (await create(client)).json()["id"]

    clock.advance(2)  # processing: the task will fail, but has not yet
    task = (await client.get(f"/api/v1/generations/{task_id}")).json()

    assert task["status"] == "processing"
    assert task["error"] is None
    assert await credits(client) == 992


async def test_failed_result_is_never_served(
    client: httpx.AsyncClient, state: SimState, clock: FakeClock
) -> None:
    state.set_faults(force_fail_next=1)
    task_id = (await create(client)).json()["id"]
    clock.advance(5)

    assert (await client.get(f"/results/{task_id}.jpg")).status_code == 404


async def test_failure_rate_with_a_seed_is_reproducible(
    settings: SimulatorSettings, clock: FakeClock
) -> None:
    outcomes: list[list[str]] = []
    for _ in range(2):
        app = create_simulator_app(settings.model_copy(update={"failure_rate": 0.5}), clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s", headers=AUTH) as c:
            ids = [(await create(c)).json()["id"] for _ in range(12)]
            clock.advance(5)
            outcomes.append(
                [(await c.get(f"/api/v1/generations/{i}")).json()["status"] for i in ids]
            )

    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {"succeeded", "failed"}
