"""Bad create bodies: Rivya's 400 validation_failed, with a detail naming each bad field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.catalog import Catalog, default_catalog
from app.clock import FakeClock
from app.simulator.app import create_simulator_app
from app.simulator.settings import SimulatorSettings
from app.simulator.state import SimState
from tests.simulator.helpers import AUTH, FLUX_MAX

GOOD: dict[str, Any] = {"model": FLUX_MAX, "prompt": "a red fox"}


def with_params(**params: Any) -> dict[str, Any]:
    return {**GOOD, "params": params}


def image_ref(url: str = "https://example.com/a.png") -> dict[str, str]:
    return {"url": url, "kind": "image"}


CASES: list[tuple[Any, str, str]] = [
    ({"prompt": "x"}, "model", "is required"),
    ({"model": "flux-ultra", "prompt": "x"}, "model", "not a known model"),
    ({"model": 3, "prompt": "x"}, "model", "must be a string"),
    ({"model": FLUX_MAX}, "prompt", "is required"),
    ({"model": FLUX_MAX, "prompt": "   "}, "prompt", "must not be empty"),
    (with_params(aspectRatio="2:1"), "params.aspectRatio", "must be one of"),
    (with_params(outputFormat="webp"), "params.outputFormat", "must be one of"),
    # Select params are strings even when they look boolean.
    (with_params(enableTranslation=True), "params.enableTranslation", "must be one of"),
    (with_params(safetyTolerance=7), "params.safetyTolerance", "at most 6"),
    (with_params(safetyTolerance=-1), "params.safetyTolerance", "at least 0"),
    (with_params(safetyTolerance="2"), "params.safetyTolerance", "must be a number"),
    (with_params(watermark=5), "params.watermark", "must be a string"),
    (with_params(seed=42), "params.seed", "is not a parameter"),
    ({**GOOD, "params": ["aspectRatio"]}, "params", "must be an object"),
    ({**GOOD, "files": [{"url": "u"}]}, "files", "not accepted"),
    ({**GOOD, "client_request_id": "c" * 129}, "client_request_id", "at most 128"),
    (with_params(referenceMediaItems=[image_ref(), image_ref()]), "params.referenceMediaItems",
     "at most 1 image"),
    (with_params(referenceMediaItems=image_ref()), "params.referenceMediaItems", "must be a list"),
    (with_params(referenceMediaItems=["u"]), "params.referenceMediaItems[0]", "must be an object"),
    (with_params(referenceMediaItems=[{"kind": "image"}]), "params.referenceMediaItems[0].url",
     "non-empty string"),
    (with_params(referenceMediaItems=[{"url": "u", "kind": "pdf"}]),
     "params.referenceMediaItems[0].kind", "must be one of"),
    (with_params(referenceMediaItems=[{"url": "u", "kind": "video"}]),
     "params.referenceMediaItems[0].kind", "does not take video"),
    (["not", "an", "object"], "body", "JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field", "message"), CASES)
async def test_bad_body_is_validation_failed(
    client: httpx.AsyncClient, state: SimState, body: Any, field: str, message: str
) -> None:
    response = await client.post("/api/v1/generations", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["requestId"].startswith("req_")
    details = {d["field"]: d["message"] for d in error["details"]}
    assert field in details, details
    assert message in details[field]
    assert state.tasks == {}  # nothing created ...
    assert (await client.get("/api/v1/credits")).json()["current_credits"] == 1000  # ... or charged


async def test_every_problem_is_reported_at_once(client: httpx.AsyncClient) -> None:
    body = {**with_params(aspectRatio="5:4", seed=1), "prompt": "", "files": []}

    response = await client.post("/api/v1/generations", json=body)

    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"prompt", "params.aspectRatio", "params.seed", "files"}


async def test_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/generations", content=b"model=flux", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "body"


async def test_a_valid_body_with_all_params_is_accepted(client: httpx.AsyncClient) -> None:
    body = with_params(
        aspectRatio="1:1",
        outputFormat="png",
        enableTranslation="false",
        promptUpsampling="true",
        safetyTolerance=6,
        watermark="ACME",
        referenceMediaItems=[image_ref()],
    )

    assert (await client.post("/api/v1/generations", json=body)).status_code == 201


async def test_model_not_available_through_the_api(
    settings: SimulatorSettings, clock: FakeClock
) -> None:
    base = default_catalog()
    soon = base.models[0].model_copy(update={"id": "flux-next", "api_status": "coming_soon"})
    catalog = Catalog(default_model=base.default_model, models=(*base.models, soon))
    app = create_simulator_app(settings, clock=clock, catalog=catalog)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers=AUTH) as c:
        listed = {m["id"]: m for m in (await c.get("/api/v1/models")).json()["data"]}
        response = await c.post("/api/v1/generations", json={**GOOD, "model": "flux-next"})

    assert listed["flux-next"]["api_status"] == "coming_soon"
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "model", "message": "flux-next is not available via the API (coming_soon)"}
    ]
