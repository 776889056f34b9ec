"""Creating tasks and following them through their lifecycle on the fake clock."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FakeClock, iso_timestamp
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from tests.simulator.helpers import AUTH, FLUX_MAX, FLUX_PRO, create, decode


async def test_create_answers_201_with_a_queued_task(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await create(client)

    assert response.status_code == 201
    task = response.json()
    assert task["id"].startswith("task_")
    assert len(task["id"]) == len("task_") + 24
    assert task["status"] == "queued"
    assert task["model"] == FLUX_MAX
    assert task["reserved_credits"] == 8
    assert task["final_credits"] == 0
    assert task["created_at"] == task["updated_at"] == iso_timestamp(clock.now())
    assert task["result"] is None
    assert task["error"] is None


async def test_task_moves_queued_processing_succeeded(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await create(client)).json()
    start = clock.now()
    url = f"/api/v1/generations/{created['id']}"

    clock.advance(0.9)
    assert (await client.get(url)).json()["status"] == "queued"

    clock.advance(0.2)
    processing = (await client.get(url)).json()
    assert processing["status"] == "processing"
    assert processing["updated_at"] == iso_timestamp(start + 1.0)
    assert processing["final_credits"] == 0
    assert processing["result"] is None

    clock.advance(4.0)
    done = (await client.get(url)).json()
    assert done["status"] == "succeeded"
    assert done["updated_at"] == iso_timestamp(start + 5.0)
    assert done["final_credits"] == 8
    assert done["error"] is None
    assert done["result"]["urls"] == [done["result"]["primary_url"]]


@pytest.mark.parametrize(
    ("ratio", "fmt"),
    [("21:9", "jpeg"), ("16:9", "png"), ("4:3", "jpeg"), ("1:1", "png"), ("3:4", "jpeg"),
     ("9:16", "png")],
)  # fmt: skip
async def test_result_image_has_the_ratio_and_format(
    client: httpx.AsyncClient, clock: FakeClock, ratio: str, fmt: str
) -> None:
    created = await create(client, aspectRatio=ratio, outputFormat=fmt)
    clock.advance(5)
    task = (await client.get(f"/api/v1/generations/{created.json()['id']}")).json()

    result = await client.get(task["result"]["primary_url"])

    assert result.status_code == 200
    assert result.headers["content-type"] == f"image/{fmt}"
    image = decode(result.content)
    assert image.format == fmt.upper()
    width, height = image.size
    ratio_w, ratio_h = (int(x) for x in ratio.split(":"))
    assert max(width, height) == 256  # the image_size setting
    assert abs(width / height - ratio_w / ratio_h) < 0.01


async def test_default_params_give_a_16_9_jpeg(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = (await create(client)).json()
    clock.advance(5)
    task = (await client.get(f"/api/v1/generations/{created['id']}")).json()

    assert task["result"]["primary_url"].endswith(".jpg")
    image = decode((await client.get(task["result"]["primary_url"])).content)
    assert image.format == "JPEG"
    assert image.size == (256, 144)


async def test_result_is_not_served_before_success(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    task_id = (await create(client)).json()["id"]

    early = await anon.get(f"/results/{task_id}.jpg")
    clock.advance(5)
    wrong_extension = await anon.get(f"/results/{task_id}.png")
    ready = await anon.get(f"/results/{task_id}.jpg")

    assert early.status_code == 404
    assert early.json()["error"]["code"] == "not_found"
    assert wrong_extension.status_code == 404
    assert ready.status_code == 200


async def test_public_base_url_shapes_result_urls(
    clock: FakeClock, settings: SimulatorSettings
) -> None:
    custom = settings.model_copy(update={"public_base_url": "https://cdn.example/rivya/"})
    app = create_simulator_app(custom, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers=AUTH) as c:
        task_id = (await create(c)).json()["id"]
        clock.advance(5)
        task = (await c.get(f"/api/v1/generations/{task_id}")).json()

    assert task["result"]["primary_url"] == f"https://cdn.example/rivya/results/{task_id}.jpg"


async def test_create_reserves_the_model_credits(client: httpx.AsyncClient) -> None:
    before = (await client.get("/api/v1/credits")).json()["current_credits"]

    await create(client, model=FLUX_MAX)
    await create(client, model=FLUX_PRO)

    after = (await client.get("/api/v1/credits")).json()["current_credits"]
    assert before == 1000
    assert after == 1000 - 8 - 4


async def test_success_keeps_the_charge(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client)
    clock.advance(10)

    assert (await client.get("/api/v1/credits")).json() == {"current_credits": 992}


async def test_insufficient_credits(client: httpx.AsyncClient, state: SimState) -> None:
    state.set_balance(7)

    too_poor = await create(client, model=FLUX_MAX)
    affordable = await create(client, model=FLUX_PRO)

    assert too_poor.status_code == 402
    assert too_poor.json()["error"]["code"] == "insufficient_credits"
    assert affordable.status_code == 201
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 3


async def test_unknown_top_level_fields_are_tolerated(client: httpx.AsyncClient) -> None:
    body = {"model": FLUX_MAX, "prompt": "p", "client_request_id": "c-1", "future_field": {"x": 1}}

    response = await client.post("/api/v1/generations", json=body)

    assert response.status_code == 201


async def test_unknown_task_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/generations/task_ffffffffffffffffffffffff")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
