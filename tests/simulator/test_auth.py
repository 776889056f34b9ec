"""API keys: Rivya's two 401 codes, and which endpoints need a key."""

from __future__ import annotations

import httpx
import pytest

from app.simulator.state import SimState

PROTECTED = [
    ("POST", "/api/v1/generations"),
    ("GET", "/api/v1/generations/task_000000000000000000000000"),
    ("POST", "/api/v1/files"),
    ("GET", "/api/v1/files/file_000000000000000000000000"),
    ("GET", "/api/v1/credits"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_missing_key_is_api_key_missing(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon.request(method, path)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "api_key_missing"
    assert error["requestId"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "authorization", ["Basic cnZ5YV9za194", "Bearer", "Bearer   ", "rvya_sk_test_key"]
)
async def test_no_bearer_token_is_api_key_missing(
    anon: httpx.AsyncClient, authorization: str
) -> None:
    response = await anon.get("/api/v1/credits", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_wrong_key_is_api_key_invalid(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    headers = {"Authorization": "Bearer rvya_sk_not_the_key"}
    response = await anon.request(method, path, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_invalid"


async def test_right_key_is_accepted_and_seen_by_the_upstream(
    client: httpx.AsyncClient, state: SimState
) -> None:
    response = await client.get("/api/v1/credits")

    assert response.status_code == 200
    assert state.requests[-1].header("Authorization") == "Bearer rvya_sk_test_key"
