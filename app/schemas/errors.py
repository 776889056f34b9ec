"""The error envelope every failure is answered in (the contract's ``{"error": {...}}``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="branch on this: docs/api.md lists every code")
    message: str = Field(description="what happened, and what to do")
    requestId: str = Field(description="equals the X-Request-ID response header")
    details: list[ErrorDetail] | None = None
    upstreamRequestId: str | None = None
    client_request_id: str | None = Field(
        default=None,
        description=(
            "On a create whose outcome is unknown (Rivya may have made the task): its handle, "
            "yours or one the gateway assigned. Retry the same request with it to get the task "
            "or its final error, never a second task."
        ),
    )


class ErrorOut(BaseModel):
    error: ErrorBody
