"""Ops' view of the money: the ledger, per-model figures, refusals and the reconciliation with
Rivya's balance agree with what Rivya charged, after a run where answers are lost, creates are
refused upstream and tasks fail."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.clock import FakeClock
from app.services.settlement import GIVEN_UP_POLL_SECONDS
from tests.api.test_metrics import scrape
from tests.api.test_money_audit import Upstream, audit_settings, create
from tests.support import (
    ORG_KEY,
    Gateway,
    admin_get,
    admin_headers,
    assert_books_close,
    rivya_charged,
    running_gateway,
    settle_all,
    simulator_app,
    total_spend,
)


async def whole_ledger(gw: Gateway, team: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = await admin_get(gw, f"/admin/teams/{team}/ledger", **params)
        entries += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def test_ledger_metrics_and_reconciliation_agree_with_rivya_after_a_mixed_run(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    upstream = Upstream(sim_app)
    async with running_gateway(audit_settings(redis_url), sim_app, clock, upstream=upstream) as gw:
        alpha = await gw.team_with_key("alpha", budget_period="total", rate_limit_per_minute=1000)
        beta = await gw.team_with_key(
            "beta", budget_credits=64, budget_period="total", rate_limit_per_minute=1000
        )
        reset = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        assert reset.status_code == 200
        assert reset.json()["drift_credits"] == 0
        gw.sim.set_faults(failure_rate=0.3)
        u = upstream
        upstream.steps = [u.passed, u.lost, u.acted_then_502, u.refused, u.lost, u.passed] * 3
        for n in range(18):
            await create(gw, alpha if n % 2 else beta, client_request_id=f"r{n}")
        # Two more for beta than its budget allows (64 credits: 8 tasks): refused, counted.
        for n in range(2):
            await create(gw, beta, model="flux-kontext-max", client_request_id=f"x{n}")
        await settle_all(gw, clock, rounds=12)
        await assert_books_close(gw, "alpha", "beta")

        # The reconciliation: Rivya's balance fell by exactly what the books say.
        report = await admin_get(gw, "/admin/upstream")
        assert report["rivya"]["current_credits"] == gw.sim.current_credits()
        assert report["since_baseline"]["rivya_spent"] == rivya_charged(gw.sim)
        assert report["since_baseline"]["gateway_spent"] == rivya_charged(gw.sim)
        assert report["since_baseline"]["gateway_reserved"] == 0
        assert report["drift_credits"] == 0
        assert report["suspect_tasks"] == []

        spend = await admin_get(gw, "/admin/spend", period="current")
        samples = await scrape(gw)
        for team in ("alpha", "beta"):
            books = await total_spend(gw, team)
            # The ledger: every move, and its sums are the books.
            entries = await whole_ledger(gw, team)
            assert sum(e["spent_change"] for e in entries) == books.spent
            assert sum(e["reserved_change"] for e in entries) == 0
            events = {e["event"] for e in entries}
            assert {"reserve", "settle"} <= events
            assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
            # Per model, in the report and as counters (charged less taken back = spent).
            row = next(r for r in spend["teams"] if r["team"] == team)
            assert row["by_model"] == {"flux-kontext-max": books.spent}
            labels = (("model", "flux-kontext-max"), ("team", team))
            settled = samples[("gateway_credits_settled_total", labels)]
            refunded = samples.get(("gateway_credits_refunded_total", labels), 0)
            assert settled - refunded == books.spent
            reserved = samples[("gateway_credits_reserved_total", labels)]
            released = samples.get(("gateway_credits_released_total", labels), 0)
            # Every credit brought onto the books was charged (net) or given back.
            assert reserved - released == books.spent == settled - refunded
            reserves = sum(1 for e in entries if e["event"] == "reserve")
            assert samples[("gateway_ledger_events_total", (("event", "reserve"), ("team", team)))]
            assert reserves * 8 == reserved
        beta_row = next(r for r in spend["teams"] if r["team"] == "beta")
        assert beta_row["refusals"]["budget_exceeded"] >= 2
        assert spend["totals"]["by_model"]["flux-kontext-max"] == rivya_charged(gw.sim)
        assert samples[("gateway_reconciliation_drift_credits", ())] == 0
        assert samples[("gateway_rivya_balance_credits", ())] == gw.sim.current_credits()

        # Someone spends on the org's account behind the gateway's back: drift, explained.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw.sim_app), base_url="http://rivya.test"
        ) as rivya:
            made = await rivya.post(
                "/api/v1/generations",
                json={"model": "flux-kontext-max", "prompt": "not through the gateway"},
                headers={"Authorization": f"Bearer {ORG_KEY}"},
            )
            assert made.status_code < 300, made.text
        drifted = await admin_get(gw, "/admin/upstream")
        assert drifted["drift_credits"] == drifted["unexplained_credits"] == 8
        assert drifted["suspect_tasks"] == []
        assert "outside the gateway" in drifted["explanation"]
        assert ORG_KEY not in str(drifted)
        # Understood: ops reset the baseline, and the books match again from there.
        again = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        assert again.json()["drift_credits"] == 0


async def test_a_task_given_up_is_a_suspect_and_its_late_end_corrects_the_charge(
    redis_url: str, clock: FakeClock
) -> None:
    # Rivya takes far longer than the gateway waits (the simulator's clock is the test's).
    sim_app = simulator_app(clock, processing_seconds=600)
    settings = audit_settings(redis_url, settler_give_up_after_seconds=60)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        gw.sim.set_faults(force_fail_next=1)
        created = await create(gw, key)
        assert created.status_code == 202
        await settle_all(gw, clock, rounds=8)  # 120 s: past the give-up age
        given_up = await admin_get(gw, "/admin/upstream")
        assert [(s["event"], s["task"]) for s in given_up["suspect_tasks"]] == [
            ("give_up", created.json()["id"])
        ]
        # Charged what it held while Rivya still holds it: the books still match.
        assert given_up["drift_credits"] == 0
        assert (await total_spend(gw, "alpha")).spent == 8
        # A task given up on is still looked at, hourly: its late end (it failed) costs 0.
        clock.advance(GIVEN_UP_POLL_SECONDS)
        await settle_all(gw, clock, rounds=2)
        await assert_books_close(gw, "alpha")
        ended = await admin_get(gw, "/admin/upstream")
        assert ended["drift_credits"] == 0
        events = [e["event"] for e in await whole_ledger(gw, "alpha")]
        assert events == ["correct", "give_up", "reserve"]
        # Charged 8 when given up, taken back when it failed: counters only ever grow.
        samples = await scrape(gw)
        labels = (("model", "flux-kontext-max"), ("team", "alpha"))
        assert samples[("gateway_credits_settled_total", labels)] == 8
        assert samples[("gateway_credits_refunded_total", labels)] == 8
        assert samples[("gateway_credits_reserved_total", labels)] == 8
        assert samples[("gateway_credits_released_total", labels)] == 8
        give_ups = (("event", "give_up"), ("team", "alpha"))
        assert samples[("gateway_ledger_events_total", give_ups)] == 1


async def test_credits_in_flight_move_the_drift_but_explain_it(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(audit_settings(redis_url), sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", rate_limit_per_minute=1000)
        # A task Rivya failed and refunded, which the gateway has not polled yet: a baseline
        # taken now counts its 8 credits as held, while Rivya holds nothing.
        gw.sim.set_faults(force_fail_next=1)
        assert (await create(gw, key)).status_code == 202
        clock.advance(120)
        taken = await gw.http.post("/admin/upstream/baseline", headers=admin_headers())
        assert taken.json()["baseline"]["uncertain_credits"] == 8
        # Creates admitted and sent meanwhile, not yet settled: Rivya holds them too.
        for _ in range(3):
            assert (await create(gw, key)).status_code == 202
        during = await admin_get(gw, "/admin/upstream")
        assert during["unexplained_credits"] == 0
        samples = await scrape(gw)
        assert samples[("gateway_reconciliation_unexplained_credits", ())] == 0
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")
        # The failed task settled at 0. Rivya had refunded it before it read the baseline's
        # balance (its end is dated before that answer): the books match, and the baseline's
        # uncertainty is over (it no longer hides anything spent after it).
        after = await admin_get(gw, "/admin/upstream")
        assert after["baseline"]["still_uncertain_credits"] == 0
        assert (after["drift_credits"], after["unexplained_credits"]) == (0, 0)
        assert after["explanation"] == "The books match Rivya's balance."
