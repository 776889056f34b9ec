"""The public model list and contract: exactly what rivya-api.md documents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulator.helpers import FLUX_MAX, FLUX_PRO

# rivya-api.md's table for the flux models, written out here rather than read from the catalogue.
FLUX_PARAMS: dict[str, dict[str, Any]] = {
    "aspectRatio": {
        "type": "select",
        "default": "16:9",
        "options": ["21:9", "16:9", "4:3", "1:1", "3:4", "9:16"],
    },
    "outputFormat": {"type": "select", "default": "jpeg", "options": ["jpeg", "png"]},
    "enableTranslation": {"type": "select", "default": "true", "options": ["true", "false"]},
    "promptUpsampling": {"type": "select", "default": "false", "options": ["false", "true"]},
    "safetyTolerance": {"type": "number", "default": 2, "min": 0, "max": 6},
    "watermark": {"type": "text", "default": None},
}


async def test_models_are_public_and_listed(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/models")

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert {m["id"] for m in body["data"]} == {FLUX_MAX, FLUX_PRO}


@pytest.mark.parametrize(("model_id", "credits"), [(FLUX_MAX, 8), (FLUX_PRO, 4)])
async def test_flux_entries_match_the_documentation(
    anon: httpx.AsyncClient, model_id: str, credits: int
) -> None:
    data = (await anon.get("/api/v1/models")).json()["data"]
    entry = next(m for m in data if m["id"] == model_id)

    assert entry["runtime"] == "async_task"
    assert entry["base_credits"] == credits
    assert entry["billing_type"] == "FIXED"
    assert entry["api_status"] == "available"
    assert entry["requires_files_api"] is True
    assert "image" in entry["file_kinds"]
    params = {p["name"]: p for p in entry["params"]}
    assert set(params) == set(FLUX_PARAMS)
    for name, expected in FLUX_PARAMS.items():
        for key, value in expected.items():
            assert params[name].get(key) == value, (name, key)


async def test_openapi_document_is_public_and_describes_the_api(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/v1/generations", "/api/v1/generations/{task_id}", "/api/v1/files"):
        assert path in document["paths"]
    assert not any(p.startswith("/_sim") for p in document["paths"])
