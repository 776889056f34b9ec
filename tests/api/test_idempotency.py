"""Safe retries end to end: one client_request_id, one task, one charge."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from app.clock import FakeClock
from tests.api.test_errors_and_upstream import over_real_sockets
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)

BODY = {"prompt": "a lighthouse", "client_request_id": "order-17"}


async def post(
    gateway: Gateway, key: str, body: dict[str, Any] = BODY, **headers: str
) -> httpx.Response:
    return await gateway.http.post("/v1/images", json=body, headers={**bearer(key), **headers})


def creates(gateway: Gateway) -> list[Any]:
    """The creates Rivya received (reads of a task are not creates)."""
    return [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]


async def reserved_and_spent(gateway: Gateway, key: str) -> tuple[int, int]:
    usage = (await gateway.http.get("/v1/usage", headers=bearer(key))).json()
    return usage["reserved_credits"], usage["spent_credits"]


async def test_thirty_concurrent_repeats_make_one_task(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    # Room for all thirty to wait for the first (IDEMPOTENCY_WAITERS_PER_TEAM), and a Redis
    # timeout a busy CI machine does not reach: this test is about one task, not back-pressure.
    settings = gateway_settings(
        redis_url, idempotency_waiters_per_team=30, redis_timeout_seconds=2.0
    )
    async with running_gateway(settings, sim_app, clock) as gateway:
        key = await gateway.team_with_key("alpha", budget_credits=1000, rate_limit_per_minute=1000)
        responses = await asyncio.gather(*(post(gateway, key) for _ in range(30)))
        assert {r.status_code for r in responses} == {202}, [r.text for r in responses][:3]
        assert len({r.json()["id"] for r in responses}) == 1
        assert len(creates(gateway)) == 1
        replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
        assert len(replayed) == 29
        assert await reserved_and_spent(gateway, key) == (8, 0)
        await settle_all(gateway, clock)
        await assert_books_close(gateway, "alpha")


async def test_repeats_beyond_the_waiting_room_are_told_to_retry(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=1000, rate_limit_per_minute=1000)
    responses = await asyncio.gather(*(post(gateway, key) for _ in range(30)))
    # One create; the repeats that could wait (8 by default) replay it, the rest hear 409
    # request_in_progress with a Retry-After: none makes a second task or a second charge.
    assert {r.status_code for r in responses} <= {202, 409}
    refused = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "request_in_progress" for r in refused)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert len({r.json()["id"] for r in responses if r.status_code == 202}) == 1
    assert len(creates(gateway)) == 1
    assert await reserved_and_spent(gateway, key) == (8, 0)
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_a_replay_shows_the_tasks_current_state(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    first = await post(gateway, key)
    clock.advance(10)
    replay = await post(gateway, key)
    assert replay.status_code == 200  # as a read of a finished task
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["status"] == "succeeded"
    assert "ratelimit" not in replay.headers  # nothing was admitted
    assert len(creates(gateway)) == 1


async def test_the_header_and_the_drop_in_surface_name_the_same_claim(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    first = await post(gateway, key, {"prompt": "p"}, **{"Idempotency-Key": '"k-1"'})
    token = await post(gateway, key, {"prompt": "p"}, **{"Idempotency-Key": "k-1"})
    drop_in = await gateway.http.post(
        "/api/v1/generations",
        json={"model": "flux-kontext-max", "prompt": "p", "params": {"aspectRatio": "16:9"}},
        headers={**bearer(key), "Idempotency-Key": "k-1"},
    )
    assert token.json()["id"] == first.json()["id"]
    assert drop_in.status_code == 200  # a replay, answered in Rivya's shape
    assert drop_in.json()["id"] == first.json()["id"]
    assert len(creates(gateway)) == 1


async def test_a_changed_request_is_a_conflict_naming_the_task(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    task_id = (await post(gateway, key)).json()["id"]
    changed = await post(gateway, key, {**BODY, "prompt": "a different lighthouse"})
    assert changed.status_code == 409
    error = changed.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert task_id in error["message"]
    # Field order and explicit defaults do not make a request different.
    same = await post(gateway, key, {"aspect_ratio": "16:9", **BODY, "output_format": "jpeg"})
    assert same.json()["id"] == task_id


async def test_two_teams_may_use_the_same_key(gateway: Gateway) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    a, b = await post(gateway, alpha), await post(gateway, beta)
    assert a.json()["id"] != b.json()["id"]
    assert len(creates(gateway)) == 2


async def test_an_expired_key_makes_a_new_task(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    first = await post(gateway, key)
    clock.advance(86_400 + 1)
    again = await post(gateway, key)
    assert again.status_code == 202
    assert again.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in again.headers
    sent = creates(gateway)
    assert sent[0].header("idempotency-key") != sent[1].header("idempotency-key")


async def test_a_refusal_about_the_request_is_remembered(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    gateway.sim.set_faults(error_status=400, error_code="validation_failed", error_count=1)
    first = await post(gateway, key)
    assert first.status_code == 400
    replay = await post(gateway, key)
    assert replay.status_code == 400
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["error"]["code"] == "validation_failed"
    assert len(creates(gateway)) == 1
    assert await reserved_and_spent(gateway, key) == (0, 0)


async def test_a_passing_refusal_is_forgotten_so_the_retry_runs(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=8)
    gateway.sim.set_faults(error_status=503, error_count=3)
    assert (await post(gateway, key)).status_code == 503
    assert await reserved_and_spent(gateway, key) == (0, 0)  # released: Rivya did nothing
    retry = await post(gateway, key)
    assert retry.status_code == 202
    assert "idempotent-replayed" not in retry.headers


async def test_gateway_refusals_are_not_remembered(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=0)
    assert (await post(gateway, key)).status_code == 402
    await gateway.http.patch(
        "/admin/teams/alpha",
        json={"budget_credits": 8},
        headers={"Authorization": "Bearer admin-test-token-5b8e1c"},
    )
    assert (await post(gateway, key)).status_code == 202


async def test_a_lost_answer_is_resolved_by_the_clients_retry(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with over_real_sockets(redis_url, sim_app, clock, rivya_timeout_seconds=0.3) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        gw.sim.set_faults(hang_seconds=2, hang_count=3, hang_mode="after")
        lost = await post(gw, key)
        assert lost.status_code == 504
        assert lost.json()["error"]["code"] == "upstream_timeout"
        assert len(gw.sim.tasks) == 1  # Rivya did make it
        assert await reserved_and_spent(gw, key) == (8, 0)  # kept, never refunded blindly

        retry = await post(gw, key)
        assert retry.status_code == 202
        assert retry.json()["id"] in gw.sim.tasks
        assert len(gw.sim.tasks) == 1
        assert await reserved_and_spent(gw, key) == (8, 0)  # charged once
        keys = {r.header("idempotency-key") for r in creates(gw)}
        assert len(keys) == 1


async def test_the_settler_resolves_a_lost_create_nobody_retries(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with over_real_sockets(redis_url, sim_app, clock, rivya_timeout_seconds=0.3) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16, max_in_flight=1)
        gw.sim.set_faults(hang_seconds=2, hang_count=3, hang_mode="after")
        assert (await post(gw, key, {"prompt": "no key"})).status_code == 504
        assert (await post(gw, key, {"prompt": "next"})).status_code == 429  # its slot is held
        settler = gw.app.state.services.settler
        await settler.run_once()  # resends it with its upstream key: Rivya answers the task
        clock.advance(10)
        await settler.run_once()  # and that task, ended, is settled
        assert await reserved_and_spent(gw, key) == (0, 8)
        assert len(gw.sim.tasks) == 1
        assert (await post(gw, key, {"prompt": "next"})).status_code == 202


async def test_an_unresolvable_create_is_counted_as_spent(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with over_real_sockets(
        redis_url, sim_app, clock, rivya_timeout_seconds=0.3, rivya_idempotency_window_seconds=60
    ) as gw:
        key = await gw.team_with_key("alpha", budget_credits=16)
        gw.sim.set_faults(hang_seconds=2, hang_count=3, hang_mode="after")
        assert (await post(gw, key)).status_code == 504
        clock.advance(120)  # past Rivya's retry window: resending could make a second task
        await gw.app.state.services.settler.run_once()
        assert await reserved_and_spent(gw, key) == (0, 8)
        replay = await post(gw, key)
        assert replay.status_code == 504
        assert replay.headers["idempotent-replayed"] == "true"
        assert len(gw.sim.tasks) == 1


async def test_the_circuit_opens_fails_fast_and_closes_after_a_probe(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(
        redis_url, circuit_breaker_threshold=3, circuit_breaker_cooldown_seconds=10
    )
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha")
        gw.sim.set_faults(error_status=503, error_count=3)
        assert (
            await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        ).status_code == 503
        sent = len(gw.upstream_requests())
        fast = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert fast.status_code == 503
        assert fast.json()["error"]["code"] == "upstream_unavailable"
        assert int(fast.headers["retry-after"]) >= 1
        assert len(gw.upstream_requests()) == sent  # failed fast: nothing sent
        clock.advance(10)
        probe = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        assert probe.status_code == 202  # Rivya is back: the probe closes the circuit
        assert (
            await gw.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        ).status_code == 202
        usage = (await gw.http.get("/v1/usage", headers=bearer(key))).json()
        assert usage["reserved_credits"] == 16  # the refused creates cost nothing
