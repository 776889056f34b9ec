"""Small helpers shared by the routers: reading a JSON body, answering with a task."""

from __future__ import annotations

import json
from typing import Any

from app.catalog import FieldError
from app.domain import TaskRecord
from app.errors import ValidationFailed
from app.handlers import JsonAnswer
from app.services.admission import rate_limit_headers
from app.services.tasks import Created


def json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise ValidationFailed(details=[FieldError("body", "a JSON object is required")])
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON, bad UTF-8 and integers past Python's digit limit;
        # RecursionError, absurdly deep nesting.
        raise ValidationFailed(details=[FieldError("body", "is not valid JSON")]) from None


def created_headers(created: Created) -> dict[str, str]:
    """RateLimit headers for an admitted create; ``Idempotent-Replayed`` for a replay."""
    if created.replayed:
        return {"Idempotent-Replayed": "true"}
    return rate_limit_headers(created.rate) if created.rate else {}


def task_response(record: TaskRecord, headers: dict[str, str] | None = None) -> JsonAnswer:
    """The gateway's task shape: 200 once the task has ended, 202 while it has not."""
    if record.upstream.is_terminal:
        return JsonAnswer(record.public(), headers=headers)
    # Still running: where to look for its end (RFC 9110, 202 Accepted).
    location = {"Location": f"/v1/images/{record.id}"}
    return JsonAnswer(record.public(), status_code=202, headers={**(headers or {}), **location})


def rivya_task_response(
    record: TaskRecord, *, status: int = 200, headers: dict[str, str] | None = None
) -> JsonAnswer:
    """Rivya's own JSON for the task, as a drop-in client expects it."""
    return JsonAnswer(record.rivya_view(), status_code=status, headers=headers)
