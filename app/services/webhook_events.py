"""What a webhook is sent for an outbox entry: the event in Rivya's shape (``id``, ``type``,
``api_version``, ``created_at``, and under ``data`` the generation object exactly as
``GET /api/v1/generations/{id}`` answers it, with the gateway's result links)."""

from __future__ import annotations

from typing import Any

from app.clock import iso_timestamp
from app.domain.tasks import TaskRecord
from app.domain.webhooks import API_VERSION, EventType, Webhook, event_id
from app.services.result_links import ResultLinks
from app.store.outbox import OutboxEntry
from app.store.tasks import TaskStore


class WebhookEvents:
    def __init__(self, tasks: TaskStore, links: ResultLinks, public_url: str | None) -> None:
        self._tasks, self._links, self._public_url = tasks, links, public_url

    async def event(self, tenant: str, entry: OutboxEntry, webhook: Webhook) -> dict[str, Any]:
        """The event of ``entry``, the same (but for fresh links) on every attempt."""
        kind = entry.fields.get("type", "")
        task_id = entry.fields.get("task", "")
        if kind == EventType.TEST:
            the_id = entry.fields.get("event", f"evt_test_{entry.id}")
            data: dict[str, Any] = {
                "webhook_id": webhook.id,
                "message": "A test event, sent on request: this webhook is reachable.",
            }
        else:
            the_id = event_id(tenant, task_id, kind)
            data = await self._generation(tenant, task_id, kind, webhook)
        return {
            "id": the_id,
            "type": kind,
            "api_version": API_VERSION,
            "created_at": iso_timestamp(entry.written_ms / 1000),
            "data": data,
        }

    async def _generation(
        self, tenant: str, task_id: str, kind: str, webhook: Webhook
    ) -> dict[str, Any]:
        stored = await self._tasks.get(tenant, task_id)
        if stored is None:  # past its retention: what the event itself says
            return {"id": task_id, "status": kind.removeprefix("generation.")}
        base = self._public_url or webhook.link_base

        def link(record: TaskRecord, index: int) -> str:
            return self._links.link(base, record.team, record.id, index)

        return stored.record.rivya_view(link if base else None)
