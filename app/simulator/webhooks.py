"""Rivya's account-level webhooks, simulated: registration, and a delivery of
``generation.succeeded`` / ``generation.failed`` to every webhook subscribed when a task ends,
retried with backoff (``rivya-api.md``: JSON POSTs, no redirects, short timeout, public HTTPS
targets).

Rivya's signature header and algorithm are undocumented; the simulator signs the Standard
Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), which the gateway
does not rely on: a delivery is only a hint to poll the task now.

Tasks end by the clock, with nothing running (``lifecycle.py``), so deliveries are made by
``deliver_due``: under a server, a loop calls it every ``TICK_SECONDS``; tests call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.clock import iso_timestamp
from app.domain.webhooks import API_VERSION, new_secret, signature
from app.simulator.state import SimState, new_id

log = logging.getLogger("app.simulator.webhooks")

EVENT_TYPES = ("generation.succeeded", "generation.failed")
TICK_SECONDS = 0.05
ATTEMPTS = 5  # a delivery is given up after this many
TIMEOUT_SECONDS = 5.0


@dataclass
class SimWebhook:
    id: str
    name: str
    url: str
    event_types: list[str]
    secret: str
    created_at: float

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "webhook",
            "name": self.name,
            "url": self.url,
            "event_types": self.event_types,
            "created_at": iso_timestamp(self.created_at),
        }


@dataclass
class Pending:
    webhook_id: str
    event: dict[str, Any]
    due_at: float
    attempt: int = 1


@dataclass
class SimWebhooks:
    """The account's webhooks and their deliveries (``SimState.webhooks``)."""

    state: SimState
    allow_insecure: bool = False  # plain http and loopback targets, for local use
    transport: httpx.AsyncBaseTransport | None = None  # tests: where deliveries go
    hooks: dict[str, SimWebhook] = field(default_factory=dict)
    deliveries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (when it was sent, event id) of each delivery its receiver took
    sent: list[tuple[float, str]] = field(default_factory=list)
    _pending: list[Pending] = field(default_factory=list)
    _unannounced: list[str] = field(default_factory=list)
    _seen: int = 0

    def url_problem(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return None
        if self.allow_insecure and parts.scheme == "http" and parts.hostname:
            return None
        return "The webhook URL must be a public HTTPS URL."

    def register(self, name: str, url: str, event_types: list[str]) -> SimWebhook:
        hook = SimWebhook(
            new_id("wh_"), name, url, event_types, new_secret(), self.state.clock.now()
        )
        self.hooks[hook.id] = hook
        return hook

    def queue_test(self, hook: SimWebhook) -> str:
        now = self.state.clock.now()
        event = {
            "id": new_id("evt_"),
            "type": "webhook.test",
            "api_version": API_VERSION,
            "created_at": iso_timestamp(now),
            "data": {"webhook_id": hook.id},
        }
        self._pending.append(Pending(hook.id, event, now))
        return str(event["id"])

    async def deliver_due(self) -> int:
        """Queue the events of tasks that ended since, and send every delivery due; returns
        how many were sent."""
        now = self.state.clock.now()
        self._announce(now)
        due = [p for p in self._pending if p.due_at <= now]
        self._pending = [p for p in self._pending if p.due_at > now]
        if not due:
            return 0
        async with httpx.AsyncClient(
            transport=self.transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            await asyncio.gather(*(self._send(client, p) for p in due))
        return len(due)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.deliver_due()
            except Exception:
                log.exception("webhook deliveries failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), TICK_SECONDS)

    def _announce(self, now: float) -> None:
        tasks = list(self.state.tasks)
        self._unannounced += tasks[self._seen :]
        self._seen = len(tasks)
        waiting = []
        for task_id in self._unannounced:
            task = self.state.tasks.get(task_id)
            if task is None:
                continue
            if task.finished_at > now:
                waiting.append(task_id)
                continue
            view = task.view(now)
            event_type = f"generation.{view.status}"
            event = {
                "id": new_id("evt_"),
                "type": event_type,
                "api_version": API_VERSION,
                "created_at": iso_timestamp(now),
                "data": view.wire(),
            }
            for hook in self.hooks.values():
                if event_type in hook.event_types:
                    self._pending.append(Pending(hook.id, event, now))
        self._unannounced = waiting

    async def _send(self, client: httpx.AsyncClient, pending: Pending) -> None:
        hook = self.hooks.get(pending.webhook_id)
        if hook is None:
            return
        body = json.dumps(pending.event, separators=(",", ":")).encode()
        stamp = int(time.time())  # receivers check it against their own clocks
        headers = {
            "content-type": "application/json",
            "webhook-id": pending.event["id"],
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature(hook.secret, pending.event["id"], stamp, body),
        }
        status, error, started = None, None, self.state.clock.now()
        try:
            answer = await client.post(hook.url, content=body, headers=headers)
            status = answer.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        delivered = status is not None and 200 <= status < 300
        if delivered:
            self.sent.append((started, pending.event["id"]))
        self._log(hook, pending, status, error, delivered)
        if not delivered and pending.attempt < ATTEMPTS:
            pending.attempt += 1
            pending.due_at = self.state.clock.now() + 2.0**pending.attempt
            self._pending.append(pending)

    def _log(
        self, hook: SimWebhook, pending: Pending, status: int | None, error: str | None, ok: bool
    ) -> None:
        entry = {
            "id": new_id("dlv_"),
            "event_id": pending.event["id"],
            "event_type": pending.event["type"],
            "attempt": pending.attempt,
            "status": "delivered" if ok else "failed",
            "response_status": status,
            "error": error,
            "created_at": iso_timestamp(self.state.clock.now()),
        }
        self.deliveries.setdefault(hook.id, []).insert(0, entry)
        del self.deliveries[hook.id][100:]
