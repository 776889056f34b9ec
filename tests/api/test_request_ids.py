"""The gateway's request id is always its own; a caller's X-Request-ID is logged beside it."""

from __future__ import annotations

import logging

import pytest

from tests.support import Gateway


async def test_an_incoming_request_id_is_kept_apart_not_adopted(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    first = await gateway.http.get("/v1/models", headers={"X-Request-ID": "req_reused0001"})
    second = await gateway.http.get("/v1/models", headers={"X-Request-ID": "req_reused0001"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert "req_reused0001" not in ids
    assert ids[0] != ids[1]  # two requests, two ids, whatever the callers claim
    assert first.json()["error"]["requestId"] == ids[0]
    logged = [r for r in caplog.records if r.getMessage() == "request"]
    assert [r.request_id for r in logged] == ids  # type: ignore[attr-defined]
    assert [r.client_x_request_id for r in logged] == ["req_reused0001"] * 2  # type: ignore[attr-defined]
