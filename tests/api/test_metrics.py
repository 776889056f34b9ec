"""/metrics: Prometheus text whose spend figures equal the API's, with per-process counters of
requests, refusals, upstream calls and money events, and never a secret."""

from __future__ import annotations

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
