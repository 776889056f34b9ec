"""A team's webhook receiver as the tests stand it up: behind a name the tests' resolver maps to
addresses (public ones, or the private ones an attacker would aim at), recording what arrives,
failing or hanging on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook as StandardWebhook

from app.clock import FakeClock
from tests.support import Gateway, bearer, gateway_settings, running_gateway

HOOK_HOST = "hooks.team.example"
HOOK_URL = f"https://{HOOK_HOST}/rivya"
PUBLIC_ADDRESS = "93.184.216.34"


class Dns:
    """Names to addresses, as the gateway's resolver will find them (changeable mid-test)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {
            HOOK_HOST: [PUBLIC_ADDRESS],
            "internal.example": ["10.0.0.7"],
            "mixed.example": [PUBLIC_ADDRESS, "192.168.1.5"],
        }

    async def resolve(self, host: str, port: int) -> list[str]:
        if host not in self.names:
            raise OSError(f"{host}: no such name")
        return self.names[host]


class Receiver:
    """Records every request; answers ``statuses`` in turn (then 204); may hang until let go."""

    def __init__(self, statuses: list[int] | None = None, *, hang: bool = False) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses or [])
        self.hang, self.arrived, self.let_go = hang, asyncio.Event(), asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived.set()
        if self.hang:
            await self.let_go.wait()
        status = self.statuses.pop(0) if self.statuses else 204
        headers = {"location": "https://elsewhere.example/"} if 300 <= status < 400 else {}
        return httpx.Response(status, headers=headers)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def verified(self, secret: str) -> Iterator[dict[str, Any]]:
        """Each request's event, its signature checked by the standardwebhooks library."""
        checker = StandardWebhook(secret)
        for request in self.requests:
            headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
            yield checker.verify(request.content, headers)


@asynccontextmanager
async def hooked_gateway(
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    receiver: Receiver,
    dns: Dns | None = None,
    **settings: Any,
) -> Any:
    values = {"webhook_allowed_hosts": "receiver.internal", **settings}
    async with running_gateway(
        gateway_settings(redis_url, **values),
        sim_app,
        clock,
        webhook_transport=receiver.transport,
        webhook_resolver=(dns or Dns()).resolve,
    ) as gw:
        yield gw


async def register(gw: Gateway, key: str, url: str = HOOK_URL, **body: Any) -> dict[str, Any]:
    made = await gw.http.post(
        "/api/v1/webhooks",
        json={
            "name": "ops",
            "url": url,
            "event_types": ["generation.succeeded", "generation.failed"],
            **body,
        },
        headers=bearer(key),
    )
    assert made.status_code == 201, made.text
    hook: dict[str, Any] = made.json()
    return hook


async def deliver(gw: Gateway) -> int:
    """One settler pass, its deliveries awaited."""
    handled: int = await gw.app.state.services.settler.run_once()
    return handled
