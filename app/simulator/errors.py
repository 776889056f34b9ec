"""Rivya's error envelope for everything that goes wrong, and the handlers that render it.

Routes raise ``SimError``; FastAPI's own 404/405/422 are translated here; unexpected
exceptions are caught by the middleware (Starlette would re-raise them after responding).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.catalog import FieldError
from app.rivya_schemas import error_envelope

# The code Rivya would send for a status, when nothing more specific is known.
DEFAULT_CODES: dict[int, str] = {
    400: "validation_failed",
    401: "api_key_invalid",
    402: "insufficient_credits",
    403: "api_scope_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "idempotency_conflict",
    429: "rate_limited",
    500: "internal_error",
    503: "public_api_disabled",
}

DEFAULT_MESSAGES: dict[str, str] = {
    "validation_failed": "The request is invalid.",
    "api_key_invalid": "The API key is invalid.",
    "insufficient_credits": "The account does not have enough credits.",
    "api_scope_denied": "The API key lacks the scope for this call.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "idempotency_conflict": "The Idempotency-Key was used with a different request.",
    "rate_limited": "Too many requests; slow down.",
    "internal_error": "Internal error.",
    "public_api_disabled": "The public API is temporarily disabled.",
}


def default_code(status: int) -> str:
    return DEFAULT_CODES.get(status, "internal_error" if status >= 500 else "request_failed")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class SimError(Exception):
    """An error answer: Rivya's code, the HTTP status, and optional details and headers."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str | None = None,
        *,
        details: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.message = message or DEFAULT_MESSAGES.get(code, code.replace("_", " "))
        self.details = details or []
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    @classmethod
    def validation(cls, errors: list[FieldError]) -> SimError:
        return cls("validation_failed", 400, details=errors)

    def response(self, request_id: str) -> JSONResponse:
        details = [d.as_dict() for d in self.details] or None
        body = error_envelope(self.code, self.message, request_id, details)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def request_id_of(request: Request) -> str:
    """The id the middleware gave this request (a fresh one if it somehow has none)."""
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else new_request_id()


async def _sim_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SimError)
    return exc.response(request_id_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = default_code(exc.status_code)
    if exc.status_code == 404:
        message = f"No resource at {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    return SimError(code, exc.status_code, message, headers=headers).response(
        request_id_of(request)
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    # FastAPI's 422 becomes Rivya's 400 validation_failed, with the same details shape.
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body", err["msg"]
        )
        for err in exc.errors()
    ]
    return SimError.validation(errors).response(request_id_of(request))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SimError, _sim_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
