"""Odd and hostile input: never a 500, never a cost, never a secret in a log line."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from tests.support import (
    ADMIN_TOKEN,
    ORG_KEY,
    Gateway,
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
)


@pytest.mark.parametrize(
    "content",
    [
        b'{"prompt": "p", "safety_tolerance": 1' + b"0" * 400 + b"}",
        b'{"prompt": "p", "safety_tolerance": 1' + b"0" * 5000 + b"}",
        b"[" * 100_000,
        b'{"prompt": "\xff\xfe"}',
    ],
)
async def test_pathological_json_is_a_400_not_a_500(gateway: Gateway, content: bytes) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images",
        content=content,
        headers={**bearer(key), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    assert gateway.upstream_requests() == []


async def test_a_chunked_body_is_capped_as_it_streams(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(40):
            yield b"x" * 65_536  # 2.6 MB in all, no Content-Length
        yield b'"}'

    response = await gateway.http.post(
        "/v1/images", content=chunks(), headers={**bearer(key), "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert gateway.upstream_requests() == []


async def test_null_model_means_the_default_and_tabs_separate_bearer(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images",
        json={"prompt": "p", "model": None},
        headers={"Authorization": f"Bearer\t{key}"},
    )
    assert response.status_code == 202
    assert response.json()["model"] == "flux-kontext-max"


async def test_an_empty_idempotency_key_names_the_header(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images", json={"prompt": "p"}, headers={**bearer(key), "Idempotency-Key": '""'}
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


async def test_admin_input_is_strict_and_bad_json_names_the_body(gateway: Gateway) -> None:
    loose = await gateway.http.post(
        "/admin/teams",
        json={"id": "t", "rate_limit_per_minute": True, "budget_credits": "12"},
        headers=admin_headers(),
    )
    assert loose.status_code == 400
    fields = {d["field"] for d in loose.json()["error"]["details"]}
    assert fields == {"rate_limit_per_minute", "budget_credits"}
    broken = await gateway.http.post(
        "/admin/teams",
        content=b'{"id": ',
        headers={**admin_headers(), "content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["details"] == [{"field": "body", "message": "is not valid JSON"}]


async def test_a_rivya_500_on_create_keeps_the_reservation(gateway: Gateway) -> None:
    """A 500 may come after Rivya made the task: the credits stay reserved, not refunded."""
    key = await gateway.team_with_key("alpha", budget_credits=16)
    gateway.sim.set_faults(error_status=500, error_count=1)
    assert (
        await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    ).status_code == 502
    usage = (await gateway.http.get("/v1/usage", headers=bearer(key))).json()
    assert usage["reserved_credits"] == 8


async def test_no_key_appears_in_any_formatted_log_line(
    json_log: io.StringIO, redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, raise_app_exceptions=False
    ) as gw:
        key = await gw.team_with_key("alpha")
        await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        await gw.http.get("/v1/models", headers=bearer(key[:-3] + "abc"))  # a wrong secret
        await gw.http.get("/v1/models", headers=bearer(ORG_KEY))  # the org key, misused
        gw.sim.set_faults(error_status=401, error_code="api_key_invalid", error_count=1)
        await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    [created] = [line for line in lines if line["msg"] == "request" and line["status"] == 202]
    # One line per request, with what ops ask of it: who, what, how long, which task, what cost.
    assert created["route"] == "/v1/images"
    assert created["team"] == "alpha"
    assert created["task_id"].startswith("task_")
    assert created["credits_reserved"] == 8
    assert created["subject"] is None  # a team key names no end user
    assert created["latency_ms"] > 0
    assert created["request_id"].startswith("req_")
    assert any("refused the organisation key" in line["msg"] for line in lines)
    for secret in (ORG_KEY, key, key[:-3] + "abc", ADMIN_TOKEN):
        assert secret not in text
