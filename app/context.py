"""The per-request context: what the access log line reports about the request.

The middleware opens one per request; auth and services fill in what they learn (team, task).
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    request_id: str
    team: str | None = None
    tenant: str | None = None  # the team's data (domain/teams.py): where its counts are kept
    key_id: str | None = None
    subject: str | None = None  # the end user a browser token names; None for a team key
    credits: int | None = None  # credits this request reserved (an admitted create)
    origin_allowed: bool = False  # the caller's team allows the request's Origin (CORS)
    task_id: str | None = None
    upstream_request_id: str | None = None
    error_code: str | None = None  # the contract's code of the error answered, if one was
    # The admission script counted this refusal itself, with its decision (services/refusals).
    refusal_counted: bool = False
    # Seconds spent waiting on each stage of a create (admission, upstream, record): exported
    # as gateway_create_stage_seconds, beside the gateway's own time (the rest).
    stages: dict[str, float] = field(default_factory=dict)
    # The create's idempotency key (given, or assigned by the gateway): the handle an unknown
    # outcome is named by.


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def open_context(request_id: str) -> RequestContext:
    ctx = RequestContext(request_id=request_id)
    _current.set(ctx)
    return ctx


def current() -> RequestContext | None:
    return _current.get()


def note_origin_allowed() -> None:
    if (ctx := _current.get()) is not None:
        ctx.origin_allowed = True


def current_request_id() -> str:
    ctx = _current.get()
    return ctx.request_id if ctx else new_request_id()


def note_team(team: str, tenant: str, key_id: str | None = None) -> None:
    if (ctx := _current.get()) is not None:
        ctx.team, ctx.tenant, ctx.key_id = team, tenant, key_id


def note_error(code: str) -> None:
    if (ctx := _current.get()) is not None:
        ctx.error_code = code


def note_refusal_counted() -> None:
    if (ctx := _current.get()) is not None:
        ctx.refusal_counted = True


def note_subject(subject: str) -> None:
    if (ctx := _current.get()) is not None:
        ctx.subject = subject


def note_credits(credits: int) -> None:
    if (ctx := _current.get()) is not None:
        ctx.credits = credits


def note_task(task_id: str) -> None:
    if (ctx := _current.get()) is not None:
        ctx.task_id = task_id


def note_stage(stage: str, seconds: float) -> None:
    if (ctx := _current.get()) is not None:
        ctx.stages[stage] = seconds


def note_upstream_request(request_id: str | None) -> None:
    if request_id and (ctx := _current.get()) is not None:
        ctx.upstream_request_id = request_id
