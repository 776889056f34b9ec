"""A team's webhooks, as its callers and admins manage them (``/api/v1/webhooks``, in Rivya's
shape, scoped to the caller's team; ``/admin/teams/{team}/webhooks``): register (the signing
secret shown once), read, change, stop and restart, delete, rotate the secret, read the
delivery log, send a test event."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from app.catalog import FieldError
from app.clock import Clock
from app.domain.webhook_targets import TargetRefused
from app.domain.webhooks import (
    SUBSCRIBABLE,
    DeliveryRecord,
    Webhook,
    new_secret,
    new_webhook_id,
)
from app.errors import (
    NotFound,
    RateLimited,
    RequestInProgress,
    ValidationFailed,
    WebhookUrlRejected,
)
from app.services.webhook_targets import Targets
from app.store.outbox import TEST_INTERVAL_SECONDS, Outbox
from app.store.webhooks import Put, WebhookStore

MAX_NAME = 100
CHANGE_ATTEMPTS = 5  # reads of a webhook changed meanwhile, before giving up


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        outbox: Outbox,
        targets: Targets,
        clock: Clock,
        *,
        most: int,
        overlap_seconds: float,
    ) -> None:
        self._store, self._outbox, self._targets, self._clock = store, outbox, targets, clock
        self._most, self._overlap_ms = most, int(overlap_seconds * 1000)

    async def register(
        self, tenant: str, *, name: str, url: str, event_types: Sequence[str], link_base: str
    ) -> Webhook:
        """A new webhook; the answer is the one place its secret is shown."""
        now_ms = self._now_ms()
        webhook = Webhook(
            id=new_webhook_id(),
            name=_name(name),
            url=await self._target(url),
            event_types=_event_types(event_types),
            secret=new_secret(),
            created_ms=now_ms,
            updated_ms=now_ms,
            link_base=link_base,
        )
        if await self._store.put(tenant, webhook, most=self._most) is Put.FULL:
            raise ValidationFailed(
                f"This team has {self._most} webhooks, its most: delete one first."
            )
        return webhook

    async def of_team(self, tenant: str) -> list[Webhook]:
        return await self._store.of_team(tenant)

    async def get(self, tenant: str, webhook_id: str) -> Webhook:
        webhook = await self._store.get(tenant, webhook_id)
        if webhook is None:
            raise NotFound(f"No webhook {webhook_id!r} in this team.")
        return webhook

    async def update(
        self,
        tenant: str,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change what is given; ``enabled`` restarts a stopped webhook (or stops one)."""
        checked_url = None if url is None else await self._target(url)
        checked_types = None if event_types is None else _event_types(event_types)
        checked_name = None if name is None else _name(name)

        def change(webhook: Webhook) -> Webhook:
            return replace(
                webhook,
                name=checked_name or webhook.name,
                url=checked_url or webhook.url,
                event_types=checked_types or webhook.event_types,
                updated_ms=max(self._now_ms(), webhook.updated_ms + 1),
            )

        await self._change(tenant, webhook_id, change)
        if enabled is True:
            await self._store.restart(tenant, webhook_id)
        elif enabled is False:
            await self._store.stop(tenant, webhook_id, "stopped by the team")
        return await self.get(tenant, webhook_id)

    async def delete(self, tenant: str, webhook_id: str) -> None:
        if not await self._store.delete(tenant, webhook_id):
            raise NotFound(f"No webhook {webhook_id!r} in this team.")

    async def rotate(self, tenant: str, webhook_id: str) -> Webhook:
        """A new secret; the old one also signs for the overlap (both signatures are sent)."""

        def rotate(webhook: Webhook) -> Webhook:
            now_ms = max(self._now_ms(), webhook.updated_ms + 1)
            return webhook.rotated(now_ms, self._overlap_ms)

        return await self._change(tenant, webhook_id, rotate)

    async def deliveries(self, tenant: str, webhook_id: str, limit: int) -> list[DeliveryRecord]:
        await self.get(tenant, webhook_id)
        return await self._store.deliveries(tenant, webhook_id, limit)

    async def test(self, tenant: str, webhook_id: str) -> str:
        """Send the webhook a test event (through the outbox, like every event); its id."""
        webhook = await self.get(tenant, webhook_id)
        if not webhook.enabled:
            raise ValidationFailed("This webhook is stopped: enable it first (PATCH enabled).")
        event = "evt_" + secrets.token_hex(12)
        written = await self._outbox.add_test(tenant, webhook_id, event)
        if written == -2:
            raise RateLimited(
                f"This webhook was tested less than {TEST_INTERVAL_SECONDS:.0f} s ago: try "
                "again in a moment.",
                headers={"Retry-After": str(int(TEST_INTERVAL_SECONDS))},
            )
        if written == -1:
            raise ValidationFailed(
                "This webhook has too many events waiting (its receiver is not taking them): "
                "see its deliveries."
            )
        return event

    async def _change(
        self, tenant: str, webhook_id: str, change: Callable[[Webhook], Webhook]
    ) -> Webhook:
        """Apply ``change`` to the webhook as stored, again if another change landed between
        the read and the write (compare and set on ``updated_ms``)."""
        for _ in range(CHANGE_ATTEMPTS):
            read = await self.get(tenant, webhook_id)
            changed = change(read)
            outcome = await self._store.put(tenant, changed, most=self._most, read=read)
            if outcome is Put.WRITTEN:
                return changed
            if outcome is Put.MISSING:
                raise NotFound(f"No webhook {webhook_id!r} in this team.")
        raise RequestInProgress("This webhook is being changed by another request: try again.")

    async def _target(self, url: str) -> str:
        try:
            await self._targets.resolve(url)
        except TargetRefused as refused:
            raise WebhookUrlRejected(str(refused)) from None
        return url

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationFailed(details=[FieldError("name", f"must be 1-{MAX_NAME} characters")])
    return name


def _event_types(wanted: Sequence[str]) -> tuple[str, ...]:
    known = [str(t) for t in SUBSCRIBABLE]
    unknown = [t for t in wanted if t not in known]
    if unknown or not wanted:
        problem = f"unknown: {', '.join(unknown)}; " if unknown else ""
        raise ValidationFailed(
            details=[FieldError("event_types", f"{problem}choose from {', '.join(known)}")]
        )
    return tuple(dict.fromkeys(wanted))
