"""``POST /webhooks/rivya``: where Rivya's account-level webhook calls the gateway
(``RIVYA_WEBHOOK_URL``). A delivery is a hint, never proof (``services/rivya_hints.py``): it is
answered 202 whatever it names, so Rivya does not retry, and costs one round trip when it
names no task of any team."""

from __future__ import annotations

import hmac
import json

from fastapi import APIRouter, Request, Response

from app.api.documented_errors import answers
from app.deps import ServicesDep
from app.errors import Forbidden, NotFound, StoreUnavailable
from app.services.rivya_hints import hinted_task

router = APIRouter(tags=["ops"])


@router.post(
    "/webhooks/rivya",
    status_code=202,
    responses=answers(Forbidden, NotFound, StoreUnavailable),
    summary="Rivya's webhook: a hint to poll a task now",
)
async def rivya_hint(request: Request, services: ServicesDep) -> Response:
    settings = services.settings
    if services.rivya_hints is None:
        raise NotFound("Rivya's webhook hints are off (RIVYA_WEBHOOK_URL is not set).")
    expected = settings.rivya_webhook_token
    given = request.query_params.get("token", "")
    if expected is not None and not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise Forbidden("This hint's token is not the one registered with Rivya.")
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    outcome = await services.rivya_hints.hint(hinted_task(body))
    services.metrics.rivya_hints.labels(outcome.value).inc()
    return Response(status_code=202)
