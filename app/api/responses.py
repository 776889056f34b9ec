"""Small helpers shared by the routers: reading a JSON body, answering with a task."""

from __future__ import annotations

from typing import Any

import orjson

from app.catalog import FieldError
from app.domain.rates import rate_limit_headers
from app.domain.tasks import ResultLink, TaskRecord
from app.errors import ValidationFailed
from app.handlers import JsonAnswer
from app.services.tasks import Created


def json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise ValidationFailed(details=[FieldError("body", "a JSON object is required")])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Bad JSON or UTF-8, integers past 64 bits, NaN, nesting past 1,024 levels: at a few
        # times the standard library's speed (a 1 MB body parses in a few ms).
        raise ValidationFailed(details=[FieldError("body", "is not valid JSON")]) from None


def created_headers(created: Created) -> dict[str, str]:
    """RateLimit headers for an admitted create; ``Idempotent-Replayed`` for a replay."""
    if created.replayed:
        return {"Idempotent-Replayed": "true"}
    return rate_limit_headers(created.rate) if created.rate else {}


def task_response(
    record: TaskRecord, link: ResultLink, headers: dict[str, str] | None = None
) -> JsonAnswer:
    """The gateway's task shape: 200 once the task has ended, 202 while it has not."""
    if record.upstream.is_terminal:
        return JsonAnswer(record.public(link), headers=headers)
    # Still running: where to look for its end (RFC 9110, 202 Accepted).
    location = {"Location": f"/v1/images/{record.id}"}
    return JsonAnswer(record.public(link), status_code=202, headers={**(headers or {}), **location})


def rivya_task_response(
    record: TaskRecord,
    link: ResultLink,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> JsonAnswer:
    """Rivya's own JSON for the task, as a drop-in client expects it (its result's URLs the
    gateway's links)."""
    return JsonAnswer(record.rivya_view(link), status_code=status, headers=headers)
