"""The Rivya-compatible surface in-process: Rivya's JSON, a team key, the same policies."""

from __future__ import annotations

from typing import Any

import pytest

from app.clock import FakeClock
from tests.support import ORG_KEY, Gateway, assert_books_close, bearer, settle_all

BODY: dict[str, Any] = {
    "model": "flux-kontext-max",
    "prompt": "a red bicycle",
    "params": {"aspectRatio": "1:1", "enableTranslation": "false"},
}


async def test_create_and_read_in_rivyas_shape(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    created = await gateway.http.post("/api/v1/generations", json=BODY, headers=bearer(key))
    assert created.status_code == 201
    task = created.json()
    assert set(task) >= {
        "id",
        "status",
        "model",
        "reserved_credits",
        "final_credits",
        "created_at",
        "updated_at",
        "result",
        "error",
    }
    assert "client_request_id" not in task  # Rivya's shape, not the gateway's
    [sent] = gateway.upstream_requests("/api/v1/generations")
    assert sent.body["params"]["enableTranslation"] == "false"
    assert sent.header("authorization") == f"Bearer {ORG_KEY}"

    clock.advance(10)
    read = await gateway.http.get(f"/api/v1/generations/{task['id']}", headers=bearer(key))
    assert read.status_code == 200
    assert read.json()["status"] == "succeeded"
    assert read.json()["result"]["primary_url"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "files": ["x"]}, "files"),
        ({**BODY, "surprise": 1}, "surprise"),
        ({**BODY, "params": {"aspectRatio": "2:1"}}, "params.aspectRatio"),
        ({**BODY, "params": {"enableTranslation": True}}, "params.enableTranslation"),
        ({**BODY, "params": {"seed": 3}}, "params.seed"),
        ({**BODY, "params": "1:1"}, "params"),
        ({"prompt": "p"}, "model"),
        ({**BODY, "model": "dall-e"}, "model"),
        ({**BODY, "prompt": ""}, "prompt"),
        ({**BODY, "client_request_id": "x" * 129}, "client_request_id"),
    ],
)
async def test_bad_bodies_are_refused_at_no_cost(
    gateway: Gateway, body: dict[str, Any], field: str
) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    response = await gateway.http.post("/api/v1/generations", json=body, headers=bearer(key))
    assert response.status_code == 400
    assert field in {d["field"] for d in response.json()["error"]["details"]}
    assert gateway.upstream_requests() == []
    usage = (await gateway.http.get("/v1/usage", headers=bearer(key))).json()
    assert usage["reserved_credits"] == 0


async def test_rivya_style_trace_ids_are_accepted(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/api/v1/generations",
        json={**BODY, "client_request_id": "trace/1 éà"},
        headers=bearer(key),
    )
    assert response.status_code == 201


async def test_another_teams_generation_is_not_found(gateway: Gateway) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    task = (await gateway.http.post("/api/v1/generations", json=BODY, headers=bearer(alpha))).json()
    response = await gateway.http.get(f"/api/v1/generations/{task['id']}", headers=bearer(beta))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_models_are_public_and_filtered_with_a_key(gateway: Gateway) -> None:
    public = await gateway.http.get("/api/v1/models")
    assert public.status_code == 200
    assert public.json()["object"] == "list"
    assert {m["id"] for m in public.json()["data"]} == {"flux-kontext-max", "flux-kontext-pro"}
    key = await gateway.team_with_key("alpha", allowed_models=["flux-kontext-pro"])
    mine = await gateway.http.get("/api/v1/models", headers=bearer(key))
    assert [m["id"] for m in mine.json()["data"]] == ["flux-kontext-pro"]
    assert mine.json()["data"][0]["base_credits"] == 4
    bad = await gateway.http.get("/api/v1/models", headers=bearer("rgw_nope"))
    assert bad.status_code == 401


async def test_a_drop_in_create_obeys_the_teams_budget(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    assert (
        await gateway.http.post("/api/v1/generations", json=BODY, headers=bearer(key))
    ).status_code == 201
    refused = await gateway.http.post("/api/v1/generations", json=BODY, headers=bearer(key))
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    credits = await gateway.http.get("/api/v1/credits", headers=bearer(key))
    assert credits.json() == {"current_credits": 0}


async def test_a_rivya_script_keys_its_retries_by_idempotency_key_and_traces_by_client_request_id(
    gateway: Gateway, clock: FakeClock
) -> None:
    # Written from Rivya's docs: a fresh trace id on every attempt, one Idempotency-Key for the
    # create. The header alone decides what is a repeat; the trace id reaches Rivya as given.
    key = await gateway.team_with_key("alpha")
    retry_key = {"Idempotency-Key": "5f0c6a9e-2b1d-4f7e-9a51-0d3c8e7b6a21"}

    async def attempt(trace: str) -> Any:
        return await gateway.http.post(
            "/api/v1/generations",
            json={**BODY, "client_request_id": trace},
            headers={**bearer(key), **retry_key},
        )

    first, retried = await attempt("trace-a1"), await attempt("trace-a2")
    assert (first.status_code, retried.status_code) == (201, 200)
    assert retried.json()["id"] == first.json()["id"]
    assert retried.headers["idempotent-replayed"] == "true"
    [sent] = gateway.upstream_requests("/api/v1/generations")
    assert sent.body["client_request_id"] == "trace-a1"
    # The same trace id under another Idempotency-Key is another create, not a conflict.
    retry_key["Idempotency-Key"] = "0b7e1c44-6a3f-4d2e-8c19-7f5a2e9d3b60"
    other = await attempt("trace-a1")
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]
    # Without the header, client_request_id is the key, as the gateway has always promised.
    unkeyed = await gateway.http.post(
        "/api/v1/generations",
        json={**BODY, "client_request_id": "my-create-7"},
        headers=bearer(key),
    )
    again = await gateway.http.post(
        "/api/v1/generations",
        json={**BODY, "client_request_id": "my-create-7"},
        headers=bearer(key),
    )
    assert (unkeyed.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == unkeyed.json()["id"]
    assert len(gateway.upstream_requests("/api/v1/generations")) == 3
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_an_idempotency_key_rivya_would_refuse_is_refused_at_no_cost(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha")
    for bad in ("", "x" * 129):
        response = await gateway.http.post(
            "/api/v1/generations",
            json={**BODY, "client_request_id": "trace-1"},
            headers={**bearer(key), "Idempotency-Key": bad},
        )
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["error"]["details"]] == ["Idempotency-Key"]
    assert gateway.upstream_requests() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/webhooks"),
        ("PATCH", "/api/v1/webhooks/wh_1"),
        ("POST", "/api/v1/webhooks/wh_1/rotate-secret"),
        ("GET", "/api/v1/webhooks/wh_1/deliveries"),
        ("GET", "/api/v1/webhook-events"),
    ],
)
async def test_rivyas_webhook_routes_are_the_teams_own_and_never_reach_rivya(
    gateway: Gateway, method: str, path: str
) -> None:
    # Rivya's account webhooks would tell one account of every team's tasks: the gateway
    # answers them itself, for the caller's team (tests/api/test_webhooks.py has the rest).
    key = await gateway.team_with_key("alpha")
    body = {"name": "n"} if method != "GET" else None
    answer = await gateway.http.request(method, path, json=body, headers=bearer(key))
    assert answer.status_code in (200, 404), answer.text
    if answer.status_code == 404:
        assert answer.json()["error"]["code"] == "not_found"
    unsigned = await gateway.http.request(method, path, json=body)
    assert unsigned.status_code == 401
    assert gateway.upstream_requests() == []


async def test_the_drop_in_surfaces_openapi_document_is_public_like_rivyas(
    gateway: Gateway,
) -> None:
    answer = await gateway.http.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert {"/api/v1/generations", "/api/v1/generations/{task_id}", "/api/v1/files"} <= set(paths)
    assert all(path.startswith("/api/v1/") for path in paths)
