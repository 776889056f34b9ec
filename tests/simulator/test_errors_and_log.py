"""Rivya's envelope for every error, request ids, the request log and the balance control."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from app.simulator.state import SimState
from tests.simulator.helpers import FLUX_MAX, create


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/v1/webhooks/wh_nope", 404, "not_found"),
        ("DELETE", "/api/v1/models", 405, "method_not_allowed"),
        ("GET", "/results/unknown.jpg", 404, "not_found"),
    ],
)
async def test_framework_errors_use_the_envelope(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["requestId"] == response.headers["x-request-id"]


async def test_unexpected_exception_is_a_500_envelope(
    client: httpx.AsyncClient, state: SimState, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(state, "create_task", explode)

    response = await create(client)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "boom" not in response.text
    assert response.headers["x-request-id"].startswith("req_")


async def test_every_response_has_its_own_request_id(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, state: SimState
) -> None:
    ids = {
        (await anon.get("/api/v1/models")).headers["x-request-id"],
        (await client.get("/api/v1/credits")).headers["x-request-id"],
        (await anon.get("/_sim/faults")).headers["x-request-id"],
    }

    assert len(ids) == 3
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)


async def test_caller_request_id_is_logged_but_not_echoed(
    client: httpx.AsyncClient, state: SimState
) -> None:
    response = await client.get("/api/v1/credits", headers={"X-Request-ID": "gw-123"})

    assert response.headers["x-request-id"] != "gw-123"
    record = state.requests[-1]
    assert record.header("X-Request-ID") == "gw-123"
    assert record.request_id == response.headers["x-request-id"]


async def test_request_log_shows_what_the_upstream_saw(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, state: SimState
) -> None:
    await create(client, "a cat", headers={"Idempotency-Key": "k-9"}, aspectRatio="1:1")

    logged = (await anon.get("/_sim/requests")).json()["data"]

    assert len(logged) == 1
    entry = logged[0]
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/v1/generations"
    # Who may read the log must not learn the key: redacted, with a digest to tell keys apart.
    assert "rvya_sk_test_key" not in json.dumps(logged)
    digest = hashlib.sha256(b"rvya_sk_test_key").hexdigest()[:12]
    assert entry["headers"]["authorization"] == f"Bearer [REDACTED] sha256:{digest}"
    assert entry["headers"]["idempotency-key"] == "k-9"
    assert entry["body"] == {"model": FLUX_MAX, "prompt": "a cat", "params": {"aspectRatio": "1:1"}}
    assert entry["status"] == 201
    assert entry["time"] == state.clock.now()


async def test_request_log_can_be_cleared(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, state: SimState
) -> None:
    await client.get("/api/v1/credits")

    cleared = await anon.delete("/_sim/requests")

    assert cleared.json() == {"cleared": 1}
    assert (await anon.get("/_sim/requests")).json()["data"] == []
    assert state.requests == []


async def test_public_content_urls_are_not_logged(anon: httpx.AsyncClient, state: SimState) -> None:
    await anon.get("/files/file_ffffffffffffffffffffffff/content")

    assert state.requests == []


async def test_balance_can_be_set_over_http(
    anon: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    response = await anon.post("/_sim/balance", json={"credits": 5})
    refused = await create(client)

    assert response.json() == {"current_credits": 5}
    assert (await client.get("/api/v1/credits")).json() == {"current_credits": 5}
    assert refused.status_code == 402


@pytest.mark.parametrize("body", [{"credits": -1}, {"credits": "5"}, {"credits": True}, {}])
async def test_bad_balance_is_refused(anon: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await anon.post("/_sim/balance", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
