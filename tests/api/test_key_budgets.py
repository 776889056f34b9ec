"""A credit budget per key (issue 24.6), beside the team's and the browser tokens' caps: enforced
by the admission script, set and changed by an admin, and with books that close per key."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from app.clock import FakeClock
from app.store.keyspace import KeySpace
from tests.support import (
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    mint_token,
    rivya_charged,
    settle_all,
    tenant_of,
    total_spend,
)


async def issue(gateway: Gateway, team: str, **body: Any) -> dict[str, Any]:
    issued = await gateway.http.post(
        f"/admin/teams/{team}/keys", json=body, headers=admin_headers()
    )
    assert issued.status_code == 201, issued.text
    answer: dict[str, Any] = issued.json()
    return answer


async def listed_keys(gateway: Gateway, team: str) -> dict[str, dict[str, Any]]:
    answer = await gateway.http.get(f"/admin/teams/{team}/keys", headers=admin_headers())
    assert answer.status_code == 200, answer.text
    return {key["key_id"]: key for key in answer.json()["data"]}


async def create(gateway: Gateway, key: str, prompt: str = "p") -> Any:
    return await gateway.http.post("/v1/images", json={"prompt": prompt}, headers=bearer(key))


async def key_books(gateway: Gateway, redis_url: str, key_id: str, stamp: str) -> dict[str, int]:
    """A key's spend hash of one period, straight from Redis."""
    settings = gateway.app.state.services.settings
    keys = KeySpace(settings.redis_key_prefix)
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = await redis.hgetall(keys.key_spend(await tenant_of(gateway, "alpha"), key_id, stamp))
    finally:
        await redis.aclose()
    figures = {str(field): str(value) for field, value in raw.items()}
    return {field: int(value) for field, value in figures.items() if value.lstrip("-").isdigit()}


async def test_a_key_spends_no_more_than_its_own_budget_and_its_books_close(
    gateway: Gateway, clock: FakeClock, redis_url: str
) -> None:
    await gateway.create_team("alpha", budget_credits=1000)
    capped = await issue(gateway, "alpha", name="ci", budget_credits=16, budget_period="day")
    other = await issue(gateway, "alpha", name="web")
    assert (capped["budget_credits"], capped["budget_period"]) == (16, "day")
    assert (capped["remaining_credits"], other["budget_credits"]) == (16, None)

    for prompt in ("a", "b"):
        assert (await create(gateway, capped["key"], prompt)).status_code == 202
    refused = await create(gateway, capped["key"], "c")
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "This key has 0 of its 16 credits left today" in error["message"]
    assert "raise the key's budget" in error["message"]
    assert len(gateway.upstream_requests("/api/v1/generations")) == 2  # nothing sent for it
    # The team's other key spends on: the budget was the key's, not the team's.
    assert (await create(gateway, other["key"], "d")).status_code == 202

    keys = await listed_keys(gateway, "alpha")
    held = keys[capped["key_id"]]
    assert (held["spent_credits"], held["reserved_credits"], held["remaining_credits"]) == (
        0,
        16,
        0,
    )
    assert keys[other["key_id"]]["reserved_credits"] == 8
    # The key sees its own budget beside its team's; a Rivya script sees the lesser.
    usage = (await gateway.http.get("/v1/usage", headers=bearer(capped["key"]))).json()
    assert (usage["remaining_credits"], usage["key"]["remaining_credits"]) == (1000 - 24, 0)
    assert usage["key"]["budget_period"] == "day"
    credits = await gateway.http.get("/api/v1/credits", headers=bearer(capped["key"]))
    assert credits.json()["current_credits"] == 0
    credits = await gateway.http.get("/api/v1/credits", headers=bearer(other["key"]))
    assert credits.json()["current_credits"] == 1000 - 24

    await settle_all(gateway, clock)
    keys = await listed_keys(gateway, "alpha")
    figures = {key_id: (k["spent_credits"], k["reserved_credits"]) for key_id, k in keys.items()}
    assert figures == {capped["key_id"]: (16, 0), other["key_id"]: (8, 0)}
    # Per key, as per team: charged exactly what Rivya charged, nothing held.
    totals = [await key_books(gateway, redis_url, k, "total") for k in keys]
    assert sum(t["spent"] for t in totals) == (await total_spend(gateway, "alpha")).spent
    assert [t["reserved"] for t in totals] == [0, 0]
    assert sum(t["tasks_succeeded"] for t in totals) == 3
    await assert_books_close(gateway, "alpha")
    assert rivya_charged(gateway.sim) == 24


async def test_concurrent_creates_never_pass_a_keys_budget(
    gateway: Gateway, clock: FakeClock
) -> None:
    await gateway.create_team("alpha", max_in_flight=50, rate_limit_per_minute=600)
    capped = await issue(gateway, "alpha", budget_credits=24, budget_period="total")
    answers = await asyncio.gather(*(create(gateway, capped["key"], f"p{i}") for i in range(10)))
    assert sorted(a.status_code for a in answers) == [202] * 3 + [402] * 7
    await settle_all(gateway, clock)
    [key] = (await listed_keys(gateway, "alpha")).values()
    assert (key["spent_credits"], key["reserved_credits"], key["remaining_credits"]) == (24, 0, 0)
    await assert_books_close(gateway, "alpha")


async def test_a_failed_task_gives_its_keys_credits_back(
    gateway: Gateway, clock: FakeClock
) -> None:
    await gateway.create_team("alpha")
    capped = await issue(gateway, "alpha", budget_credits=8, budget_period="week")
    gateway.sim.set_faults(force_fail_next=1)
    failed = await gateway.http.post(
        "/v1/images", params={"wait": 30}, json={"prompt": "p"}, headers=bearer(capped["key"])
    )
    assert failed.json()["status"] == "failed"
    [key] = (await listed_keys(gateway, "alpha")).values()
    assert (key["spent_credits"], key["reserved_credits"], key["remaining_credits"]) == (0, 0, 8)
    assert (await create(gateway, capped["key"])).status_code == 202  # the budget is whole
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_browser_tokens_spend_from_the_budget_of_the_key_that_minted_them(
    token_gateway: Gateway, clock: FakeClock
) -> None:
    gateway = token_gateway
    await gateway.create_team("alpha")
    capped = await issue(gateway, "alpha", budget_credits=16, budget_period="month")
    for subject in ("ann", "bob"):
        token = await mint_token(gateway, capped["key"], subject)
        assert (await create(gateway, token)).status_code == 202
    token = await mint_token(gateway, capped["key"], "cy")
    refused = await create(gateway, token)
    assert refused.status_code == 402
    assert "This key has 0 of its 16 credits left" in refused.json()["error"]["message"]
    await settle_all(gateway, clock)
    [key] = (await listed_keys(gateway, "alpha")).values()
    assert (key["spent_credits"], key["reserved_credits"]) == (16, 0)
    await assert_books_close(gateway, "alpha")


async def test_an_admin_sets_changes_and_removes_a_keys_budget(
    gateway: Gateway, clock: FakeClock
) -> None:
    await gateway.create_team("alpha")
    issued = await issue(gateway, "alpha")
    path = f"/admin/keys/{issued['key_id']}/budget"
    assert (await create(gateway, issued["key"])).status_code == 202

    # Set below what it has already spent this month: the next create is refused at once.
    set_low = await gateway.http.put(
        path, json={"budget_credits": 8, "budget_period": "month"}, headers=admin_headers()
    )
    assert set_low.status_code == 200, set_low.text
    assert (set_low.json()["budget_credits"], set_low.json()["remaining_credits"]) == (8, 0)
    assert (await create(gateway, issued["key"])).status_code == 402

    raised = await gateway.http.put(path, json={"budget_credits": 16}, headers=admin_headers())
    assert raised.json()["remaining_credits"] == 8
    assert (await create(gateway, issued["key"])).status_code == 202
    assert (await create(gateway, issued["key"])).status_code == 402

    removed = await gateway.http.put(path, json={"budget_credits": None}, headers=admin_headers())
    assert removed.json()["budget_credits"] is None
    assert removed.json()["remaining_credits"] is None
    assert (await create(gateway, issued["key"])).status_code == 202

    # What an admin gets wrong is named, and changes nothing.
    for body, field in (
        ({"budget_credits": -1}, "budget_credits"),
        ({"budget_credits": 8, "budget_period": "year"}, "budget_period"),
        ({"budget_credits": "8"}, "budget_credits"),
        ({"credits": 8}, "credits"),
    ):
        bad = await gateway.http.put(path, json=body, headers=admin_headers())
        assert bad.status_code == 400, body
        assert field in str(bad.json()["error"]["details"]), bad.text
    unknown = await gateway.http.put(
        "/admin/keys/key_0000000000000000/budget",
        json={"budget_credits": 8},
        headers=admin_headers(),
    )
    assert unknown.status_code == 404
    await gateway.http.delete(f"/admin/keys/{issued['key_id']}", headers=admin_headers())
    revoked = await gateway.http.put(path, json={"budget_credits": 8}, headers=admin_headers())
    assert revoked.status_code == 400
    assert "revoked" in revoked.json()["error"]["message"]
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_key_budget_refusals_are_counted_for_ops(gateway: Gateway, clock: FakeClock) -> None:
    await gateway.create_team("alpha")
    capped = await issue(gateway, "alpha", budget_credits=0)
    assert (await create(gateway, capped["key"])).status_code == 402
    spend = await gateway.http.get("/admin/spend", headers=admin_headers())
    [row] = spend.json()["teams"]
    assert row["refusals"]["budget_exceeded"] == 1
    metrics = (await gateway.http.get("/metrics", headers=admin_headers())).text
    assert 'gateway_refusals_total{reason="budget_exceeded",team="alpha"} 1.0' in metrics
    assert gateway.upstream_requests("/api/v1/generations") == []
    await assert_books_close(gateway, "alpha")


async def test_a_keys_daily_budget_starts_afresh_each_utc_day(
    gateway: Gateway, clock: FakeClock
) -> None:
    await gateway.create_team("alpha")
    capped = await issue(gateway, "alpha", budget_credits=8, budget_period="day")
    assert (await create(gateway, capped["key"])).status_code == 202
    assert (await create(gateway, capped["key"])).status_code == 402
    await settle_all(gateway, clock)
    clock.advance(86_400)
    [key] = (await listed_keys(gateway, "alpha")).values()
    assert (key["spent_credits"], key["remaining_credits"]) == (0, 8)  # today's figures
    assert (await create(gateway, capped["key"])).status_code == 202
    # A new amount without a period keeps the key's period (a day's, not the default month).
    raised = await gateway.http.put(
        f"/admin/keys/{capped['key_id']}/budget",
        json={"budget_credits": 16},
        headers=admin_headers(),
    )
    assert (raised.json()["budget_period"], raised.json()["remaining_credits"]) == ("day", 8)
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
