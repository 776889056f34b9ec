"""/metrics: Prometheus text whose spend figures equal the API's, with per-process counters of
requests, refusals, upstream calls and money events, and never a secret."""

from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.clock import FakeClock
from tests.support import (
    ORG_KEY,
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)


async def scrape(gw: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await gw.http.get("/metrics")
    assert response.status_code == 200
    assert ORG_KEY not in response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_agree_with_the_api(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_credits=24, budget_period="total")
        for _ in range(4):  # three fit the budget; the fourth is refused
            await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        clock.advance(3)
        await gw.app.state.services.settler.run_once()
        samples = await scrape(gw)
        usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
        team = (("period", "total"), ("team", "alpha"))
        assert samples[("gateway_team_spent_credits", team)] == usage["spent_credits"]
        assert samples[("gateway_team_reserved_credits", team)] == usage["reserved_credits"]
        assert samples[("gateway_team_budget_remaining_credits", team)] == 0
        assert samples[("gateway_team_in_flight", (("team", "alpha"),))] == usage["in_flight"]
        refused = (("reason", "budget_exceeded"), ("team", "alpha"))
        assert samples[("gateway_refusals_total", refused)] == 1
        created = (("route", "/v1/images"), ("status", "202"), ("team", "alpha"))
        assert samples[("gateway_requests_total", created)] == 3
        assert samples[("gateway_redis_up", ())] == 1
        assert samples[("gateway_rivya_circuit", (("state", "closed"),))] == 1
        creates = (("method", "POST"), ("outcome", "ok"), ("path", "/api/v1/generations"))
        assert samples[("gateway_upstream_seconds_count", creates)] == 3
        spend = (await gw.http.get("/admin/spend", headers=admin_headers())).json()
        assert spend["totals"]["spent_credits"] == samples[("gateway_team_spent_credits", team)]
        await settle_all(gw, clock, rounds=3)
        settled = await scrape(gw)
        assert settled[("gateway_team_spent_credits", team)] == 24
        assert settled[("gateway_settler_lag_seconds", ())] == 0
        await assert_books_close(gw, "alpha")


async def test_a_create_s_time_is_split_by_stage_and_the_process_s_pauses_are_measured(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    """What ops read to find a slow create's cause: the admission script's round trip, Rivya's
    answer, the record script's round trip and the gateway's own time add up to the request's
    time; the event loop's lag and the collector's pauses are histograms too."""
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_credits=24, budget_period="total")
        for _ in range(4):  # three are made; the fourth is refused at admission
            await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        gc.collect()
        samples = await scrape(gw)

        def stage(name: str, suffix: str) -> float:
            return samples[(f"gateway_create_stage_seconds_{suffix}", (("stage", name),))]

        assert stage("admission", "count") == 4
        assert stage("upstream", "count") == stage("record", "count") == 3
        assert stage("gateway", "count") == 4
        stages = sum(stage(s, "sum") for s in ("admission", "upstream", "record", "gateway"))
        route = (("route", "/v1/images"),)
        assert stages == pytest.approx(samples[("gateway_request_seconds_sum", route)])
        assert all(stage(s, "sum") > 0 for s in ("admission", "upstream", "record"))
        assert samples[("gateway_event_loop_lag_seconds_count", ())] >= 1
        assert samples[("gateway_gc_pause_seconds_count", (("generation", "2"),))] >= 1
        await settle_all(gw, clock, rounds=3)
        await assert_books_close(gw, "alpha")
