"""Rivya's account-level webhook routes, simulated (``/api/v1/webhooks``…): what the gateway
registers at start (``RIVYA_WEBHOOK_URL``) so that Rivya tells it when a task ends."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.catalog import FieldError
from app.domain.webhooks import new_secret
from app.simulator.deps import require_api_key
from app.simulator.errors import SimError
from app.simulator.webhooks import EVENT_TYPES, SimWebhook, SimWebhooks

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_key)], tags=["webhooks"])


def _webhooks(request: Request) -> SimWebhooks:
    hooks = request.app.state.webhooks
    assert isinstance(hooks, SimWebhooks)
    return hooks


WebhooksDep = Annotated[SimWebhooks, Depends(_webhooks)]


def _one(hooks: SimWebhooks, webhook_id: str) -> SimWebhook:
    hook = hooks.hooks.get(webhook_id)
    if hook is None:
        raise SimError("not_found", 404, "No such webhook.")
    return hook


def _checked(hooks: SimWebhooks, body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors = []
    named = isinstance(body.get("name"), str) and body["name"]
    if (not partial or "name" in body) and not named:
        errors.append(FieldError("name", "is required"))
    types = body.get("event_types", None if partial else [])
    if types is not None and (
        not isinstance(types, list) or not types or any(t not in EVENT_TYPES for t in types)
    ):
        errors.append(FieldError("event_types", f"choose from {', '.join(EVENT_TYPES)}"))
    if errors:
        raise SimError.validation(errors)
    if not partial or "url" in body:
        problem = hooks.url_problem(str(body.get("url", "")))
        if problem:
            raise SimError("webhook_url_rejected", 400, problem)
    return body


@router.get("/webhooks")
async def list_webhooks(hooks: WebhooksDep) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [h.view() for h in hooks.hooks.values()]})


@router.post("/webhooks", status_code=201)
async def create_webhook(request: Request, hooks: WebhooksDep) -> JSONResponse:
    body = _checked(hooks, await request.json(), partial=False)
    hook = hooks.register(body["name"], body["url"], list(body["event_types"]))
    return JSONResponse({**hook.view(), "secret": hook.secret}, status_code=201)


@router.get("/webhooks/{webhook_id}")
async def get_webhook(webhook_id: str, hooks: WebhooksDep) -> JSONResponse:
    return JSONResponse(_one(hooks, webhook_id).view())


@router.patch("/webhooks/{webhook_id}")
async def update_webhook(webhook_id: str, request: Request, hooks: WebhooksDep) -> JSONResponse:
    hook = _one(hooks, webhook_id)
    body = _checked(hooks, await request.json(), partial=True)
    hook.name = body.get("name", hook.name)
    hook.url = body.get("url", hook.url)
    hook.event_types = list(body.get("event_types", hook.event_types))
    return JSONResponse(hook.view())


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, hooks: WebhooksDep) -> Response:
    _one(hooks, webhook_id)
    del hooks.hooks[webhook_id]
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret")
async def rotate_webhook_secret(webhook_id: str, hooks: WebhooksDep) -> JSONResponse:
    hook = _one(hooks, webhook_id)
    hook.secret = new_secret()
    return JSONResponse({**hook.view(), "secret": hook.secret})


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_webhook_deliveries(webhook_id: str, hooks: WebhooksDep) -> JSONResponse:
    _one(hooks, webhook_id)
    return JSONResponse({"object": "list", "data": hooks.deliveries.get(webhook_id, [])})


@router.post("/webhooks/{webhook_id}/test", status_code=202)
async def test_webhook(webhook_id: str, hooks: WebhooksDep) -> JSONResponse:
    event_id = hooks.queue_test(_one(hooks, webhook_id))
    return JSONResponse({"object": "webhook_test", "event_id": event_id}, status_code=202)


@router.get("/webhook-events")
async def list_webhook_events() -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"type": t} for t in EVENT_TYPES]})
