"""The simulator's account-level webhooks, as rivya-api.md documents Rivya's: registered with
{name, url, event_types} (public HTTPS only, the whsec_ secret returned once), each task's end
POSTed to every webhook subscribed, signed, retried with backoff, logged."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook

from app.clock import FakeClock
from app.simulator.webhooks import ATTEMPTS, SimWebhooks
from tests.simulator.helpers import create

HOOK = {
    "name": "gateway",
    "url": "https://gateway.example/webhooks/rivya",
    "event_types": ["generation.succeeded", "generation.failed"],
}


class Target:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses or [])

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


def calling(sim_app: FastAPI, target: Target) -> SimWebhooks:
    webhooks: SimWebhooks = sim_app.state.webhooks
    webhooks.transport = httpx.MockTransport(target.handle)
    return webhooks


async def test_a_registered_webhook_hears_of_each_end_signed(
    client: httpx.AsyncClient, sim_app: FastAPI, clock: FakeClock
) -> None:
    target = Target()
    webhooks = calling(sim_app, target)
    made = await client.post("/api/v1/webhooks", json=HOOK)
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert secret.startswith("whsec_")
    listed = (await client.get("/api/v1/webhooks")).json()["data"]
    assert [h["id"] for h in listed] == [made.json()["id"]]
    assert "secret" not in listed[0]

    task = (await create(client)).json()
    assert await webhooks.deliver_due() == 0  # not ended yet
    clock.advance(10)
    assert await webhooks.deliver_due() == 1
    assert await webhooks.deliver_due() == 0  # once
    [request] = target.requests
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    event: dict[str, Any] = Webhook(secret).verify(request.content, headers)
    assert event["type"] == "generation.succeeded"
    assert event["data"]["id"] == task["id"]
    assert event["data"] == (await client.get(f"/api/v1/generations/{task['id']}")).json()


async def test_a_failing_receiver_is_retried_with_backoff_then_given_up(
    client: httpx.AsyncClient, sim_app: FastAPI, clock: FakeClock
) -> None:
    target = Target([500] * 10)
    webhooks = calling(sim_app, target)
    hook = (await client.post("/api/v1/webhooks", json=HOOK)).json()
    await create(client)
    clock.advance(10)
    for _ in range(10):
        await webhooks.deliver_due()
        clock.advance(60)
    assert len(target.requests) == ATTEMPTS
    assert len({json.loads(r.content)["id"] for r in target.requests}) == 1
    log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()["data"]
    assert [d["attempt"] for d in log] == list(range(ATTEMPTS, 0, -1))
    assert {d["status"] for d in log} == {"failed"}


async def test_only_public_https_targets_and_known_event_types(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.post("/api/v1/webhooks", json={**HOOK, "url": "http://gw.example/x"})
    assert plain.status_code == 400
    assert plain.json()["error"]["code"] == "webhook_url_rejected"
    odd = await client.post("/api/v1/webhooks", json={**HOOK, "event_types": ["task.done"]})
    assert odd.status_code == 400
    assert odd.json()["error"]["code"] == "validation_failed"
    assert (await client.get("/api/v1/webhooks")).json()["data"] == []


async def test_a_webhook_is_changed_tested_rotated_and_deleted(
    client: httpx.AsyncClient, sim_app: FastAPI
) -> None:
    target = Target()
    webhooks = calling(sim_app, target)
    hook = (await client.post("/api/v1/webhooks", json=HOOK)).json()
    path = f"/api/v1/webhooks/{hook['id']}"
    changed = await client.patch(path, json={"event_types": ["generation.failed"]})
    assert changed.json()["event_types"] == ["generation.failed"]
    rotated = (await client.post(f"{path}/rotate-secret")).json()["secret"]
    assert rotated != hook["secret"]
    tested = await client.post(f"{path}/test")
    assert tested.status_code == 202
    await webhooks.deliver_due()
    assert json.loads(target.requests[0].content)["type"] == "webhook.test"
    kinds = (await client.get("/api/v1/webhook-events")).json()["data"]
    assert [k["type"] for k in kinds] == ["generation.succeeded", "generation.failed"]
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
