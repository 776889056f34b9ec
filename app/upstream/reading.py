"""Reading Rivya's answers: a success as its model, an error answer as the one failure it means
(``failures.classify``), with what it says logged once."""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from app import context
from app.catalog import FieldError
from app.rivya_schemas import RivyaErrorEnvelope
from app.upstream.exchange import Answer
from app.upstream.failures import UpstreamFailure, Why, classify

log = logging.getLogger("app.upstream")
Model = TypeVar("Model", bound=BaseModel)


def parse(response: Answer, model: type[Model]) -> Model:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        log.error("malformed upstream answer", extra={"upstream_status": response.status})
        raise UpstreamFailure(Why.UNREADABLE, may_have_acted=True, status=response.status) from exc


def failure_for(response: Answer) -> UpstreamFailure:
    """One Rivya error answer, read and classified."""
    status = response.status
    code, message, upstream_id, details = "", "", None, []
    try:
        envelope = RivyaErrorEnvelope.model_validate_json(response.content)
        code, message, upstream_id = (
            envelope.error.code,
            envelope.error.message,
            envelope.error.requestId,
        )
        details = _details(getattr(envelope.error, "details", None))
    except ValidationError:
        pass
    context.note_upstream_request(upstream_id)
    failure = classify(
        status,
        code,
        message=message,
        retry_after=response.headers.get("retry-after"),
        upstream_request_id=upstream_id,
        details=details,
    )
    extra = {"upstream_status": status, "upstream_code": code or None}
    if failure.why is Why.NO_CREDITS:
        log.error("the organisation's Rivya account is out of credits", extra=extra)
    elif failure.why is Why.AUTH:
        log.error("Rivya refused the organisation key", extra=extra)
    else:
        log.warning("upstream error", extra=extra)
    return failure


def _details(raw: object) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    return [
        FieldError(str(item.get("field", "")), str(item.get("message", "")))
        for item in raw
        if isinstance(item, dict)
    ]
