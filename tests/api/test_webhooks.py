"""Per-team webhooks (issue 25.2): Rivya's routes, scoped to the caller's team; every task end
written to the team's outbox by the script that ends the task, and delivered at least once,
signed per Standard Webhooks (checked here by the ``standardwebhooks`` library), the same id on
every attempt; targets that could reach inside the org refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock
from app.store.keyspace import KeySpace
from tests.support import (
    ADMIN_TOKEN,
    ORG_KEY,
    Gateway,
    RedisServer,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
    tenant_of,
)
from tests.webhook_receivers import (
    HOOK_HOST,
    HOOK_URL,
    PUBLIC_ADDRESS,
    Dns,
    Receiver,
    deliver,
    hooked_gateway,
    register,
)


async def ended_task(gw: Gateway, key: str, clock: FakeClock, prompt: str = "a kite") -> str:
    made = await gw.http.post("/v1/images", json={"prompt": prompt}, headers=bearer(key))
    assert made.status_code == 202, made.text
    task_id: str = made.json()["id"]
    await settle_all(gw, clock)
    return task_id


async def test_a_rivya_client_registers_rotates_and_reads_deliveries_unchanged(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver()
    async with hooked_gateway(redis_url, sim_app, clock, receiver) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        secret = hook["secret"]
        assert secret.startswith("whsec_")
        assert hook["status"] == "enabled"
        assert hook["object"] == "webhook"
        listed = (await gw.http.get("/api/v1/webhooks", headers=bearer(key))).json()
        assert [h["id"] for h in listed["data"]] == [hook["id"]]
        assert listed["data"][0]["secret"] is None  # shown once

        task_id = await ended_task(gw, key, clock)
        [event] = list(receiver.verified(secret))
        assert event["type"] == "generation.succeeded"
        assert event["api_version"] == "2026-05-11"
        assert event["id"].startswith("evt_")
        generation = (
            await gw.http.get(f"/api/v1/generations/{task_id}", headers=bearer(key))
        ).json()
        for field in ("id", "status", "model", "final_credits", "reserved_credits"):
            assert event["data"][field] == generation[field]
        link = event["data"]["result"]["primary_url"]
        assert link.startswith(f"http://gateway/v1/results/{task_id}/0?")
        assert (await gw.http.get(link)).status_code == 200  # no header needed
        # Sent to the address checked, under the name registered; no key ever sent.
        request = receiver.requests[0]
        assert request.url.host == PUBLIC_ADDRESS
        assert request.headers["host"] == HOOK_HOST
        assert request.extensions["sni_hostname"] == HOOK_HOST
        for held in (ORG_KEY, ADMIN_TOKEN, key):
            assert held not in str(request.headers)
            assert held not in request.content.decode()

        # A rotation: the new secret is shown once; both sign for the overlap.
        rotated = await gw.http.post(
            f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=bearer(key)
        )
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != secret
        tested = await gw.http.post(f"/api/v1/webhooks/{hook['id']}/test", headers=bearer(key))
        assert tested.status_code == 202
        await deliver(gw)
        assert receiver.events()[-1]["type"] == "webhook.test"
        assert receiver.events()[-1]["id"] == tested.json()["event_id"]
        receiver.requests = receiver.requests[-1:]
        assert list(receiver.verified(new_secret)) == list(receiver.verified(secret))

        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        assert [d["status"] for d in log.json()["data"]] == ["delivered", "delivered"]
        assert log.json()["data"][1]["event_id"] == event["id"]
        kinds = (await gw.http.get("/api/v1/webhook-events", headers=bearer(key))).json()
        assert [k["type"] for k in kinds["data"]] == ["generation.succeeded", "generation.failed"]

        # Changed, then deleted: gone for good.
        patched = await gw.http.patch(
            f"/api/v1/webhooks/{hook['id']}",
            json={"event_types": ["generation.failed"]},
            headers=bearer(key),
        )
        assert patched.json()["event_types"] == ["generation.failed"]
        await ended_task(gw, key, clock, "succeeds: not subscribed any more")
        assert len(receiver.requests) == 1
        gone = await gw.http.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(key))
        assert gone.status_code == 204
        again = await gw.http.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(key))
        assert again.status_code == 404
        await assert_books_close(gw, "alpha")


async def test_a_receiver_failing_three_times_gets_the_event_with_one_id(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver([503, 500, 502])
    async with hooked_gateway(redis_url, sim_app, clock, receiver) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        await ended_task(gw, key, clock)
        for _ in range(10):  # each retry waits out its backoff (5 s, 15 s, 45 s, with jitter)
            if len(receiver.requests) == 4:
                break
            clock.advance(60)
            await deliver(gw)
        assert len(receiver.requests) == 4
        events = list(receiver.verified(hook["secret"]))
        assert len({e["id"] for e in events}) == 1
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        attempts = [(d["attempt"], d["status"], d["response_status"]) for d in log.json()["data"]]
        assert attempts == [
            (4, "delivered", 204),
            (3, "retrying", 502),
            (2, "retrying", 500),
            (1, "retrying", 503),
        ]
        clock.advance(3600)
        await deliver(gw)
        assert len(receiver.requests) == 4  # delivered: never sent again
        await assert_books_close(gw, "alpha")


async def test_a_replica_killed_mid_delivery_loses_nothing(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    hanging, healthy = Receiver(hang=True), Receiver()
    async with (
        hooked_gateway(redis_url, sim_app, clock, hanging) as one,
        hooked_gateway(redis_url, sim_app, clock, healthy) as two,
    ):
        key = await one.team_with_key("alpha")
        hook = await register(one, key)
        made = await one.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
        for _ in range(3):  # the task ends; replica one starts its delivery, which hangs
            clock.advance(15)
            claims = await one.app.state.services.settler.due.claim(lease_seconds=60, limit=5)
            for claim in claims:
                await one.app.state.services.settler.work(claim)
        await asyncio.wait_for(hanging.arrived.wait(), 5)
        await one.app.state.services.settler.deliveries.aclose()  # replica one dies
        # Nobody else sends it while its lease holds; once it lapses, replica two does.
        await deliver(two)
        assert healthy.requests == []
        clock.advance(60)
        await deliver(two)
        [event] = list(healthy.verified(hook["secret"]))
        assert event["id"] == hanging.requests[0].headers["webhook-id"]
        assert event["data"]["id"] == made.json()["id"]
        await assert_books_close(one, "alpha")


async def test_a_thousand_tasks_give_a_thousand_distinct_events(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver()
    async with hooked_gateway(
        redis_url, sim_app, clock, receiver, webhook_deliveries_per_team=32
    ) as gw:
        key = await gw.team_with_key(
            "alpha", rate_limit_per_minute=100_000, burst=1000, max_in_flight=1000
        )
        hook = await register(gw, key)
        for start in range(0, 1000, 50):
            made = await asyncio.gather(
                *(
                    gw.http.post("/v1/images", json={"prompt": f"p{n}"}, headers=bearer(key))
                    for n in range(start, start + 50)
                )
            )
            assert {m.status_code for m in made} == {202}
        for _ in range(200):
            if len(receiver.requests) >= 1000:
                break
            clock.advance(15)
            await deliver(gw)
        events = list(receiver.verified(hook["secret"]))
        assert len(events) == 1000
        assert len({e["id"] for e in events}) == 1000
        assert len({e["data"]["id"] for e in events}) == 1000
        await assert_books_close(gw, "alpha")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.team.example/rivya",  # plain http
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",  # a private address dressed as IPv6
        "https://localhost/hook",
        "https://internal.example/hook",  # a name for a private address
        "https://mixed.example/hook",  # a public and a private address
        "https://nowhere.example/hook",  # no such name
        "https://user:pass@hooks.team.example/rivya",
        "ftp://hooks.team.example/rivya",
        "https://bücher.example/hook",  # not in its ASCII form: it could never be sent
        "https://[64:ff9b::a00:7]/hook",  # NAT64: 10.0.0.7
        "https://[2002:a9fe:a9fe::]/hook",  # 6to4: the metadata address
        "https://[::a9fe:a9fe]/hook",  # IPv4-compatible: the metadata address
    ],
)
async def test_targets_that_could_reach_inside_the_org_are_refused(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, url: str
) -> None:
    receiver = Receiver()
    async with hooked_gateway(redis_url, sim_app, clock, receiver) as gw:
        key = await gw.team_with_key("alpha")
        answer = await gw.http.post(
            "/api/v1/webhooks",
            json={"name": "x", "url": url, "event_types": ["generation.succeeded"]},
            headers=bearer(key),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "webhook_url_rejected"
        listed = await gw.http.get("/api/v1/webhooks", headers=bearer(key))
        assert listed.json()["data"] == []


async def test_a_name_that_turns_private_later_is_not_called_and_redirects_are_not_followed(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    dns, receiver = Dns(), Receiver([302] * 50)
    async with hooked_gateway(redis_url, sim_app, clock, receiver, dns) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        await ended_task(gw, key, clock)
        # Each attempt answered 302: one request each, the redirect never followed.
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        attempts = log.json()["data"]
        assert len(attempts) == len(receiver.requests) >= 2
        assert {r.url.host for r in receiver.requests} == {PUBLIC_ADDRESS}
        assert all(a["response_status"] == 302 for a in attempts)
        assert "redirects" in attempts[0]["error"]
        dns.names[HOOK_HOST] = ["169.254.169.254"]  # rebound to the metadata address
        clock.advance(3600)
        await deliver(gw)
        assert len(receiver.requests) == len(attempts)  # never called there
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        latest = log.json()["data"][0]
        assert latest["status"] == "retrying"
        assert "not at a public address" in latest["error"]
        # A host ops list may be plain http, and private.
        internal = await register(gw, key, "http://receiver.internal:8080/hook")
        assert internal["url"] == "http://receiver.internal:8080/hook"


async def test_a_webhook_failing_for_its_whole_window_is_stopped_until_restarted(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver([500] * 100)
    async with hooked_gateway(redis_url, sim_app, clock, receiver, webhook_retry_hours=0.1) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        await ended_task(gw, key, clock)
        for _ in range(20):
            clock.advance(120)
            await deliver(gw)
        tried = len(receiver.requests)
        assert 3 <= tried < 20
        seen = (await gw.http.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(key))).json()
        assert (seen["status"], seen["disabled_reason"]) == ("disabled", "failing")
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        assert log.json()["data"][0]["status"] == "failed"
        scraped = (await gw.http.get("/metrics")).text
        assert 'gateway_webhooks_stopped_total{reason="failing",team="alpha"} 1.0' in scraped

        # Stopped: a task that ends is not sent. Restarted: the next one is.
        await ended_task(gw, key, clock, "while stopped")
        assert len(receiver.requests) == tried
        receiver.statuses = []
        restarted = await gw.http.patch(
            f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=bearer(key)
        )
        assert restarted.json()["status"] == "enabled"
        task_id = await ended_task(gw, key, clock, "after the restart")
        assert receiver.events()[-1]["data"]["id"] == task_id
        await assert_books_close(gw, "alpha")


async def test_a_teams_webhooks_are_its_own(
    redis_url: str, sim_app: FastAPI, clock: FakeClock, redis_server: RedisServer
) -> None:
    receiver = Receiver()
    async with hooked_gateway(redis_url, sim_app, clock, receiver, webhooks_per_team=2) as gw:
        alpha, beta = await gw.team_with_key("alpha"), await gw.team_with_key("beta")
        hook = await register(gw, alpha)
        for path in ("", "/deliveries"):
            other = await gw.http.get(f"/api/v1/webhooks/{hook['id']}{path}", headers=bearer(beta))
            assert other.status_code == 404
        stolen = await gw.http.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(beta))
        assert stolen.status_code == 404
        await ended_task(gw, beta, clock)  # beta's task: nothing for alpha's webhook
        assert receiver.requests == []

        await register(gw, alpha, name="second")
        third = await gw.http.post(
            "/api/v1/webhooks",
            json={"name": "third", "url": HOOK_URL, "event_types": ["generation.failed"]},
            headers=bearer(alpha),
        )
        assert third.status_code == 400
        assert "2 webhooks" in third.json()["error"]["message"]
        unknown = await gw.http.post(
            "/api/v1/webhooks",
            json={"name": "x", "url": HOOK_URL, "event_types": ["task.succeeded"]},
            headers=bearer(beta),
        )
        assert unknown.status_code == 400
        assert "generation.succeeded" in unknown.json()["error"]["details"][0]["message"]

        # Admins see and manage every team's; deleting the team takes its webhooks with it.
        admin = await gw.http.get("/admin/teams/alpha/webhooks", headers=admin_headers())
        assert len(admin.json()["data"]) == 2
        stopped = await gw.http.patch(
            f"/admin/teams/alpha/webhooks/{hook['id']}",
            json={"enabled": False},
            headers=admin_headers(),
        )
        assert stopped.json()["disabled_reason"] == "stopped by the team"
        tenant = await tenant_of(gw, "alpha")
        await gw.http.delete("/admin/teams/alpha", headers=admin_headers())
        keys = KeySpace(gw.app.state.settings.redis_key_prefix)
        with SyncRedis(port=redis_server.port) as raw:
            assert raw.exists(keys.webhooks(tenant)) == 0
        await assert_books_close(gw, "beta")


async def test_a_test_event_is_sent_once_and_tests_are_paced(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver([500, 500])
    async with hooked_gateway(redis_url, sim_app, clock, receiver) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        path = f"/api/v1/webhooks/{hook['id']}/test"
        assert (await gw.http.post(path, headers=bearer(key))).status_code == 202
        again = await gw.http.post(path, headers=bearer(key))
        assert again.status_code == 429
        assert again.headers["retry-after"] == "10"
        for _ in range(3):
            clock.advance(60)
            await deliver(gw)
        assert len(receiver.requests) == 1  # failed, and not tried again: it was a test
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        assert [d["status"] for d in log.json()["data"]] == ["failed"]
        seen = await gw.http.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(key))
        assert seen.json()["status"] == "enabled"  # a failed test stops nothing
        assert (await gw.http.post(path, headers=bearer(key))).status_code == 202


async def test_a_receiver_that_answers_slowly_cannot_hold_a_delivery_past_its_timeout(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    stalled = asyncio.Event()

    async def trickle(request: httpx.Request) -> httpx.Response:
        stalled.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    async with running_gateway(
        gateway_settings(redis_url, webhook_timeout_seconds=0.2),
        sim_app,
        clock,
        webhook_transport=httpx.MockTransport(trickle),
        webhook_resolver=Dns().resolve,
    ) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        await gw.http.post(f"/api/v1/webhooks/{hook['id']}/test", headers=bearer(key))
        await deliver(gw)  # ends: the attempt was cut off at its timeout
        assert stalled.is_set()
        log = await gw.http.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(key))
        [attempt] = log.json()["data"]
        assert (attempt["status"], attempt["error"]) == ("failed", "timed out")


async def test_a_rotation_and_an_edit_at_once_lose_neither(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    receiver = Receiver()
    async with hooked_gateway(redis_url, sim_app, clock, receiver) as gw:
        key = await gw.team_with_key("alpha")
        hook = await register(gw, key)
        path = f"/api/v1/webhooks/{hook['id']}"
        for round_ in range(4):
            rotated, renamed = await asyncio.gather(
                gw.http.post(f"{path}/rotate-secret", headers=bearer(key)),
                gw.http.patch(path, json={"name": f"n{round_}"}, headers=bearer(key)),
            )
            assert (rotated.status_code, renamed.status_code) == (200, 200)
            seen = (await gw.http.get(path, headers=bearer(key))).json()
            assert seen["name"] == f"n{round_}"  # the edit stands
            clock.advance(30 * 3600)  # the old secret's overlap is over: only the new signs
            await gw.http.post(f"{path}/test", headers=bearer(key))
            await deliver(gw)
            receiver.requests = receiver.requests[-1:]
            [event] = list(receiver.verified(rotated.json()["secret"]))  # the rotation stands
            assert event["type"] == "webhook.test"
