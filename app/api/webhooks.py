"""Webhooks: Rivya's routes (``/api/v1/webhooks``…), scoped to the caller's team so a Rivya
client that registers one works unchanged, and the admin's over every team's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.documented_errors import ADMIN, KEY_ONLY, answers
from app.deps import AdminOnly, KeyReader, TeamsDep, WebhooksDep
from app.domain.webhooks import SUBSCRIBABLE
from app.errors import NotFound, ValidationFailed, WebhookUrlRejected
from app.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    EventTypeList,
    EventTypeOut,
    TestSent,
    WebhookCreate,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)

router = APIRouter(prefix="/api/v1", tags=["Rivya-compatible"], responses=answers(*KEY_ONLY))
admin_router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminOnly], responses=answers(*ADMIN)
)
_ONE = answers(NotFound)
_WRITE = answers(ValidationFailed, WebhookUrlRejected)
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/webhooks", summary="The team's webhooks")
async def list_webhooks(caller: KeyReader, webhooks: WebhooksDep) -> WebhookList:
    return WebhookList(data=[WebhookOut.of(w) for w in await webhooks.of_team(caller.team.tenant)])


@router.post(
    "/webhooks", status_code=201, responses=_WRITE, summary="Register a webhook (secret shown once)"
)
async def create_webhook(
    body: WebhookCreate, request: Request, caller: KeyReader, webhooks: WebhooksDep
) -> WebhookOut:
    webhook = await webhooks.register(
        caller.team.tenant,
        name=body.name,
        url=body.url,
        event_types=body.event_types,
        link_base=str(request.base_url),
    )
    return WebhookOut.of(webhook, with_secret=True)


@router.get("/webhooks/{webhook_id}", responses=_ONE, summary="Read a webhook")
async def get_webhook(webhook_id: str, caller: KeyReader, webhooks: WebhooksDep) -> WebhookOut:
    return WebhookOut.of(await webhooks.get(caller.team.tenant, webhook_id))


@router.patch(
    "/webhooks/{webhook_id}", responses={**_ONE, **_WRITE}, summary="Change, stop or restart"
)
async def update_webhook(
    webhook_id: str, body: WebhookPatch, caller: KeyReader, webhooks: WebhooksDep
) -> WebhookOut:
    changed = await webhooks.update(
        caller.team.tenant, webhook_id, **body.model_dump(exclude_unset=True)
    )
    return WebhookOut.of(changed)


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=_ONE, summary="Delete")
async def delete_webhook(webhook_id: str, caller: KeyReader, webhooks: WebhooksDep) -> Response:
    await webhooks.delete(caller.team.tenant, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    responses=_ONE,
    summary="A new signing secret (the old one signs too, for the overlap)",
)
async def rotate_webhook_secret(
    webhook_id: str, caller: KeyReader, webhooks: WebhooksDep
) -> WebhookOut:
    return WebhookOut.of(await webhooks.rotate(caller.team.tenant, webhook_id), with_secret=True)


@router.get("/webhooks/{webhook_id}/deliveries", responses=_ONE, summary="Latest delivery attempts")
async def list_webhook_deliveries(
    webhook_id: str, caller: KeyReader, webhooks: WebhooksDep, limit: Limit = 50
) -> DeliveryList:
    records = await webhooks.deliveries(caller.team.tenant, webhook_id, limit)
    return DeliveryList(data=[DeliveryOut.of(r) for r in records])


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    responses={**_ONE, **answers(ValidationFailed)},
    summary="Send a test event",
)
async def test_webhook(webhook_id: str, caller: KeyReader, webhooks: WebhooksDep) -> TestSent:
    event_id = await webhooks.test(caller.team.tenant, webhook_id)
    return TestSent(event_id=event_id, webhook_id=webhook_id)


@router.get("/webhook-events", summary="The events a webhook may subscribe to")
async def list_webhook_events(caller: KeyReader) -> EventTypeList:
    return EventTypeList(
        data=[EventTypeOut(type=str(t), description=d) for t, d in SUBSCRIBABLE.items()]
    )


@admin_router.get("/teams/{team_id}/webhooks", responses=_ONE, summary="A team's webhooks")
async def admin_list_webhooks(team_id: str, teams: TeamsDep, webhooks: WebhooksDep) -> WebhookList:
    tenant = (await teams.get(team_id)).tenant
    return WebhookList(data=[WebhookOut.of(w) for w in await webhooks.of_team(tenant)])


@admin_router.patch(
    "/teams/{team_id}/webhooks/{webhook_id}",
    responses={**_ONE, **_WRITE},
    summary="Change, stop or restart a team's webhook",
)
async def admin_update_webhook(
    team_id: str, webhook_id: str, body: WebhookPatch, teams: TeamsDep, webhooks: WebhooksDep
) -> WebhookOut:
    tenant = (await teams.get(team_id)).tenant
    changes = body.model_dump(exclude_unset=True)
    return WebhookOut.of(await webhooks.update(tenant, webhook_id, **changes))


@admin_router.delete(
    "/teams/{team_id}/webhooks/{webhook_id}",
    status_code=204,
    responses=_ONE,
    summary="Delete a team's webhook",
)
async def admin_delete_webhook(
    team_id: str, webhook_id: str, teams: TeamsDep, webhooks: WebhooksDep
) -> Response:
    await webhooks.delete((await teams.get(team_id)).tenant, webhook_id)
    return Response(status_code=204)


@admin_router.get(
    "/teams/{team_id}/webhooks/{webhook_id}/deliveries",
    responses=_ONE,
    summary="A team's webhook's latest delivery attempts",
)
async def admin_list_webhook_deliveries(
    team_id: str, webhook_id: str, teams: TeamsDep, webhooks: WebhooksDep, limit: Limit = 50
) -> DeliveryList:
    tenant = (await teams.get(team_id)).tenant
    records = await webhooks.deliveries(tenant, webhook_id, limit)
    return DeliveryList(data=[DeliveryOut.of(r) for r in records])
