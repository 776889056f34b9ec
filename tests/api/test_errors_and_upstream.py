"""Every error in the contract's envelope, and every Rivya failure mapped to the contract's code."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from app.clock import FakeClock
from app.factory import create_app
from app.services.tasks import TaskService
from app.wiring.resources import Seams
from tests.api.test_files import picture
from tests.memory_link import MemoryConnector
from tests.rivya_side import Reply, Request, json_reply, text_reply
from tests.support import (
    ORG_KEY,
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    served,
    settle_all,
)


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["requestId"] == response.headers["x-request-id"]
    return error


async def test_framework_errors_use_the_envelope(gateway: Gateway) -> None:
    assert_envelope(await gateway.http.get("/nowhere"), 404, "not_found")
    assert_envelope(await gateway.http.delete("/v1/models"), 405, "method_not_allowed")


async def test_request_id_is_returned_and_always_the_gateways_own(gateway: Gateway) -> None:
    response = await gateway.http.get("/healthz")
    assert response.headers["x-request-id"].startswith("req_")
    echoed = await gateway.http.get("/nowhere", headers={"X-Request-ID": "trace-abc.1"})
    assert echoed.headers["x-request-id"].startswith("req_")  # logged apart (test_request_ids)
    assert echoed.json()["error"]["requestId"] == echoed.headers["x-request-id"]


async def test_an_unexpected_exception_is_a_500_that_leaks_nothing(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_: object, **__: object) -> None:
        raise RuntimeError(f"internal detail /srv/app.py {ORG_KEY}")

    monkeypatch.setattr(TaskService, "create", explode)
    async with running_gateway(
        gateway_settings(redis_url), sim_app, clock, raise_app_exceptions=False
    ) as gw:
        key = await gw.team_with_key("alpha")
        response = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    error = assert_envelope(response, 500, "internal_error")
    assert "internal detail" not in response.text
    assert ORG_KEY not in response.text
    assert "Traceback" not in response.text
    assert error["message"] == "The gateway failed to handle the request."


async def test_an_oversized_body_is_refused_before_it_is_read(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    huge = json.dumps({"prompt": "x" * 2_000_000})
    response = await gateway.http.post(
        "/v1/images", content=huge, headers={**bearer(key), "content-type": "application/json"}
    )
    assert_envelope(response, 413, "file_too_large")
    assert gateway.upstream_requests() == []


async def create(gateway: Gateway, key: str) -> httpx.Response:
    return await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        ({"error_status": 500, "error_count": 1}, 502, "upstream_error"),
        # Retried where safe: these need to fail every attempt of the create.
        ({"error_status": 503, "error_count": 3}, 503, "upstream_unavailable"),
        ({"error_status": 429, "error_count": 2, "retry_after": 7}, 503, "upstream_unavailable"),
        ({"malformed_count": 1}, 502, "upstream_error"),
        (
            {"error_status": 402, "error_code": "insufficient_credits", "error_count": 1},
            503,
            "insufficient_credits",
        ),
        (
            {"error_status": 401, "error_code": "api_key_revoked", "error_count": 1},
            502,
            "upstream_auth_failed",
        ),
        (
            {"error_status": 403, "error_code": "api_scope_denied", "error_count": 1},
            502,
            "upstream_auth_failed",
        ),
    ],
)
async def test_upstream_failures_map_to_contract_codes(
    gateway: Gateway, faults: dict[str, Any], status: int, code: str
) -> None:
    key = await gateway.team_with_key("alpha")
    gateway.sim.set_faults(**faults)
    response = await create(gateway, key)
    error = assert_envelope(response, status, code)
    assert ORG_KEY not in response.text
    if faults.get("retry_after"):
        assert response.headers["retry-after"] == "7"
    if code != "upstream_error" or "error_status" in faults:
        assert error["upstreamRequestId"].startswith("req_")
    # The fault was used up: the next create goes through.
    assert (await create(gateway, key)).status_code == 202


async def test_an_empty_org_account_is_insufficient_credits(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    gateway.sim.set_balance(0)
    assert_envelope(await create(gateway, key), 503, "insufficient_credits")


async def test_the_upstream_rejecting_the_org_key_never_shows_the_key(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "rvya_sk_wrong_key_0000000000"
    caplog.set_level(logging.DEBUG)
    async with running_gateway(
        gateway_settings(redis_url, rivya_api_key=wrong), sim_app, clock
    ) as gw:
        key = await gw.team_with_key("alpha")
        response = await create(gw, key)
    assert_envelope(response, 502, "upstream_auth_failed")
    assert wrong not in response.text
    assert wrong not in caplog.text
    assert any("refused the organisation key" in r.getMessage() for r in caplog.records)


@asynccontextmanager
async def over_real_sockets(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, **settings: Any
) -> AsyncIterator[Gateway]:
    """A gateway whose upstream is the simulator behind a real uvicorn server: the only way
    to see timeouts (httpx's ASGITransport has none)."""
    async with served(sim_app) as sim_url:
        config = gateway_settings(redis_url, rivya_base_url=sim_url, **settings)
        async with running_gateway(config, sim_app, clock, upstream="network") as gw:
            yield gw


async def test_an_upstream_that_never_answers_in_time_is_upstream_timeout(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with over_real_sockets(redis_url, sim_app, clock, rivya_timeout_seconds=0.3) as gw:
        key = await gw.team_with_key("alpha")
        gw.sim.set_faults(hang_seconds=3, hang_count=3)  # every attempt
        assert_envelope(await create(gw, key), 504, "upstream_timeout")
        # The hangs were used up; the next create goes through over the same client.
        assert (await create(gw, key)).status_code == 202


async def test_a_hang_then_recovery_is_retried_into_one_task(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with over_real_sockets(redis_url, sim_app, clock, rivya_timeout_seconds=0.3) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        # Rivya makes the task, but its answer never arrives; the retry carries the same
        # upstream Idempotency-Key, so Rivya answers with that same task.
        gw.sim.set_faults(hang_seconds=2, hang_count=1, hang_mode="after")
        response = await create(gw, key)
        assert response.status_code == 202
        assert len(gw.sim.tasks) == 1
        assert response.json()["id"] in gw.sim.tasks
        creates = gw.upstream_requests("/api/v1/generations")
        assert len(creates) == 2
        assert creates[0].header("idempotency-key") == creates[1].header("idempotency-key")
        usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
        assert usage["reserved_credits"] == 8


async def test_replies_the_simulator_never_gives(redis_url: str, clock: FakeClock) -> None:
    """A 2xx with an unexpected shape, HTML 502s and connection failures."""
    replies: list[Callable[[Request], Reply]] = [
        lambda r: json_reply(200, {"unexpected": True}),
        *[lambda r: text_reply(502, "<html>Bad gateway</html>", "text/html")] * 3,
    ]
    seen: list[str] = []

    async def handler(request: Request) -> Reply:
        seen.append(request.method)
        reply = replies.pop(0)(request)
        if not replies:
            rivya.go_down()  # from now on, connections are refused
        return reply

    rivya = MemoryConnector(handler)
    app = create_app(
        gateway_settings(redis_url, circuit_breaker_threshold=100),
        seams=Seams(upstream=rivya),
        clock=clock,
        configure_logs=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            await http.post("/admin/teams", json={"id": "alpha"}, headers=admin_headers())
            key = (
                await http.post("/admin/teams/alpha/keys", json={}, headers=admin_headers())
            ).json()["key"]
            results = [
                await http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
                for _ in range(3)
            ]
    assert_envelope(results[0], 502, "upstream_error")  # unreadable: not retried
    assert_envelope(results[1], 502, "upstream_error")  # 502 three times: retried, then given up
    assert_envelope(results[2], 503, "upstream_unavailable")  # never connected, three times
    assert (len(seen), rivya.refused) == (1 + 3, 3)


async def test_reads_fall_back_to_the_last_known_state_when_rivya_is_down(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task = (await create(gateway, key)).json()
    gateway.sim.set_faults(error_status=503, error_count=5)
    clock.advance(3)
    response = await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


async def test_an_edit_over_real_sockets_sends_its_image_as_rivya_reads_it(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """The production engine (aiohttp) sends the multipart upload and the create as Rivya's
    Files API and create read them: the same bytes arrive, and the task refers to them."""
    reference = picture("PNG", (20, 120, 220), size=(64, 64))
    async with over_real_sockets(redis_url, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        response = await gw.http.post(
            "/v1/images/edits",
            files={"image": ("product.png", reference, "image/png")},
            data={"prompt": "on a marble table"},
            headers=bearer(key),
        )
        assert response.status_code == 202, response.text
        [sim_file] = gw.sim.files.values()
        assert sim_file.mime_type == "image/png"
        assert Image.open(io.BytesIO(sim_file.data)).getpixel((3, 3)) == (20, 120, 220)
        [sent] = [r for r in gw.upstream_requests("/api/v1/generations") if r.method == "POST"]
        [item] = sent.body["params"]["referenceMediaItems"]
        assert item["url"] == sim_file.url
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
