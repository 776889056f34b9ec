"""Every refusal explained (issue 24.3): each refusal code is counted in one place that
``/metrics``, ``/admin/spend`` and the dashboard all read; the access log names the error code;
and ops, given a request id, look it up and see team, key, subject, route, status, code and
task."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from app.context import RequestContext
from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.services.answered import write_tally
from app.services.refusal_counts import RefusalCounts
from app.services.request_records import (
    PER_TEAM_PER_MINUTE,
    PER_UNIDENTIFIED_PER_MINUTE,
    RequestRecords,
)
from tests.support import (
    Gateway,
    RedisServer,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)

CREATE = {"prompt": "a lighthouse"}


async def flushed(gw: Gateway) -> None:
    """What the lifespan writes about once a second, written now (no waiting on real time)."""
    await gw.app.state.services.answered.flush()


async def refusals_today(gw: Gateway, team: str) -> dict[str, int]:
    report = await gw.http.get(
        "/admin/spend", params={"period": "current"}, headers=admin_headers()
    )
    [row] = [r for r in report.json()["teams"] if r["team"] == team]
    refusals: dict[str, int] = row["refusals"]
    return refusals


def metric(text: str, reason: str, team: str) -> float:
    prefix = f'gateway_refusals_total{{reason="{reason}",team="{team}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_every_refusal_is_counted_once_where_every_view_reads_it(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key(
        "alpha", budget_credits=8, budget_period="day", allowed_models=["flux-kontext-max"]
    )
    assert (await gateway.http.post("/v1/images", json=CREATE, headers=bearer(key))).status_code
    # Refused by the admission script (it counts its own), and by the gateway before it.
    over = await gateway.http.post("/v1/images", json=CREATE, headers=bearer(key))
    assert over.json()["error"]["code"] == "budget_exceeded"
    other_model = {**CREATE, "model": "flux-kontext-pro"}
    for _ in range(2):
        denied = await gateway.http.post("/v1/images", json=other_model, headers=bearer(key))
        assert denied.json()["error"]["code"] == "model_not_allowed"
    bad = await gateway.http.post("/v1/images", json={"prompt": ""}, headers=bearer(key))
    assert bad.json()["error"]["code"] == "validation_failed"
    key_id = (await gateway.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()[
        "data"
    ][0]["key_id"]
    await gateway.http.delete(f"/admin/keys/{key_id}", headers=admin_headers())
    clock.advance(2.5)  # past KEY_CACHE_SECONDS
    revoked = await gateway.http.get("/v1/usage", headers=bearer(key))
    assert revoked.json()["error"]["code"] == "api_key_revoked"
    await flushed(gateway)

    expected = {
        "budget_exceeded": 1,
        "model_not_allowed": 2,
        "validation_failed": 1,
        "api_key_revoked": 1,
    }
    assert await refusals_today(gateway, "alpha") == expected
    scraped = (await gateway.http.get("/metrics")).text
    assert {code: metric(scraped, code, "alpha") for code in expected} == expected
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_a_request_is_looked_up_by_its_id(
    gateway: Gateway, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    key = await gateway.team_with_key("alpha", allowed_models=["flux-kontext-max"])
    with caplog.at_level(logging.INFO, logger="app.access"):
        created = await gateway.http.post("/v1/images", json=CREATE, headers=bearer(key))
        refused = await gateway.http.post(
            "/v1/images", json={**CREATE, "model": "flux-kontext-pro"}, headers=bearer(key)
        )
        read = await gateway.http.get(f"/v1/images/{created.json()['id']}", headers=bearer(key))
    await flushed(gateway)

    # The refusal a user reports by its requestId: who, with which key, where, and why.
    request_id = refused.json()["error"]["requestId"]
    found = await gateway.http.get(f"/admin/requests/{request_id}", headers=admin_headers())
    assert found.status_code == 200
    record = found.json()
    key_id = (await gateway.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()[
        "data"
    ][0]["key_id"]
    assert {
        k: record[k] for k in ("team", "key_id", "method", "route", "status", "error_code")
    } == {
        "team": "alpha",
        "key_id": key_id,
        "method": "POST",
        "route": "/v1/images",
        "status": 403,
        "error_code": "model_not_allowed",
    }
    # Successes are not kept by default (they cost create throughput; a create is found by its
    # task id), and asked about, say so and where to look instead.
    for request in (created, read):
        unkept = await gateway.http.get(
            f"/admin/requests/{request.headers['x-request-id']}", headers=admin_headers()
        )
        assert unkept.status_code == 404
        assert "REQUEST_RECORDS" in unkept.json()["error"]["message"]
        assert "task id" in unkept.json()["error"]["message"]
    # The access log line carries the code too.
    [line] = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert line.__dict__["error_code"] == "model_not_allowed"
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_request_records_are_bounded_and_need_the_admin_token(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    refused = await gateway.http.get("/v1/images/task_nope", headers=bearer(key))
    await flushed(gateway)
    request_id = refused.json()["error"]["requestId"]
    as_team = await gateway.http.get(f"/admin/requests/{request_id}", headers=bearer(key))
    assert as_team.status_code == 401
    answer = await gateway.http.get(f"/admin/requests/{request_id}", headers=admin_headers())
    assert answer.json()["error_code"] == "not_found"


@pytest.mark.parametrize(
    ("mode", "kept"),
    [
        ("errors", {"refused"}),
        ("errors_and_writes", {"refused", "created"}),
        ("all", {"refused", "created", "read"}),
        ("off", set()),
    ],
)
async def test_which_requests_are_kept_is_a_setting(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, mode: str, kept: set[str]
) -> None:
    settings = gateway_settings(redis_url, request_records=mode)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        created = await gw.http.post("/v1/images", json=CREATE, headers=bearer(key))
        read = await gw.http.get(f"/v1/images/{created.json()['id']}", headers=bearer(key))
        refused = await gw.http.get("/v1/images/task_nope", headers=bearer(key))
        await flushed(gw)
        answers = {"created": created, "read": read, "refused": refused}
        found = set()
        for name, answer in answers.items():
            looked = await gw.http.get(
                f"/admin/requests/{answer.headers['x-request-id']}", headers=admin_headers()
            )
            if looked.status_code == 200:
                found.add(name)
                assert looked.json()["status"] == answer.status_code
        assert found == kept
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_a_record_a_stalled_redis_did_not_take_is_written_by_the_next_flush(
    redis_url: str, redis_server: RedisServer, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, redis_timeout_seconds=0.3)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        refused = await gw.http.get("/v1/images/task_nope", headers=bearer(key))
        request_id = refused.json()["error"]["requestId"]
        raw = SyncRedis(port=redis_server.port, decode_responses=True)
        try:
            raw.client_pause(5000, all=False)  # writes wait; reads go on
            await flushed(gw)  # Redis stalls past the timeout: the write's fate is unknown
        finally:
            raw.client_unpause()
            raw.close()
        await flushed(gw)
        found = await gw.http.get(f"/admin/requests/{request_id}", headers=admin_headers())
        assert found.status_code == 200
        assert found.json()["error_code"] == "not_found"


@pytest.mark.parametrize(("may_have_run", "kept"), [(False, True), (True, False)])
async def test_refusal_counts_are_sent_again_only_when_redis_surely_did_not_add_them(
    may_have_run: bool, kept: bool
) -> None:
    # Counts are added: a write that may have run is not repeated (a stall loses a second of
    # counts rather than doubling them). Records and last uses are set, so always repeated.
    counts = RefusalCounts(None)
    ctx = RequestContext("req_1", team="alpha", tenant="alpha@1", error_code="not_found")
    counts.answered(ctx, 404)

    async def unavailable(_: object) -> None:
        raise StoreUnavailable(may_have_run=may_have_run)

    await write_tally(counts, unavailable, repeatable=False)
    assert (counts.drain() == {("alpha@1", "not_found"): 1}) is kept


def test_a_flood_of_bad_requests_keeps_a_bounded_share_of_records_a_minute(
    clock: FakeClock,
) -> None:
    # Redis keeps each record REQUEST_RECORD_HOURS: what one caller can make it hold is bounded
    # by its share a minute, not by how fast it sends.
    metrics = Metrics()
    records = RequestRecords("errors", clock, metrics)
    for n in range(PER_TEAM_PER_MINUTE + 50):
        ctx = RequestContext(f"req_t{n}", team="alpha", error_code="validation_failed")
        records.answered(ctx, "POST", "/v1/images", 400, 0.001)
    for n in range(PER_UNIDENTIFIED_PER_MINUTE + 30):
        ctx = RequestContext(f"req_u{n}", error_code="api_key_invalid")
        records.answered(ctx, "GET", "/v1/usage", 401, 0.001)
    kept = records.drain()
    assert len([r for r in kept if r.team == "alpha"]) == PER_TEAM_PER_MINUTE
    assert len([r for r in kept if r.team is None]) == PER_UNIDENTIFIED_PER_MINUTE
    dropped = "gateway_request_records_dropped_total"
    assert metrics.registry.get_sample_value(dropped, {"team": "alpha"}) == 50
    assert metrics.registry.get_sample_value(dropped, {"team": ""}) == 30
    clock.advance(60)  # a new minute, a new share
    records.answered(
        RequestContext("req_next", team="alpha", error_code="not_found"),
        "GET",
        "/v1/images/{task_id}",
        404,
        0.001,
    )
    assert [r.request_id for r in records.drain()] == ["req_next"]
