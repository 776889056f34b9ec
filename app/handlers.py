"""Renders every error as the contract's envelope: ``{"error": {code, message, requestId}}``."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import context
from app.errors import (
    GatewayError,
    GivenError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
    field_errors,
)
from app.rivya_schemas import error_envelope
from app.upstream.failures import UpstreamFailure
from app.upstream_errors import error_for


class JsonAnswer(JSONResponse):
    """A JSON answer encoded by orjson (a tenth of json's cost on the create path): the same
    compact UTF-8 JSON Starlette writes."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: GatewayError) -> JSONResponse:
    context.note_error(error.code)  # for the access log, the refusal counts, the request records
    request_id = context.current_request_id()
    body = error_envelope(
        error.code, error.message, request_id, [d.as_dict() for d in error.details]
    )
    body["error"].update(error.extra)
    if error.upstream_request_id:
        body["error"]["upstreamRequestId"] = error.upstream_request_id
    headers = {**error.headers, "X-Request-ID": request_id}
    if error.status == 401:
        # RFC 9110: a 401 names the scheme it wants.
        headers.setdefault("WWW-Authenticate", 'Bearer realm="rivya-gateway"')
    return JsonAnswer(body, status_code=error.status, headers=headers)


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


def upstream_error_response(failure: UpstreamFailure) -> JSONResponse:
    # A read's or an upload's failure (a create's is answered by TaskService, with its handle
    # when Rivya may have made the task); the table is app/upstream_errors.py.
    return error_response(error_for(failure))


async def _upstream_failure(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpstreamFailure)
    return upstream_error_response(exc)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = list(exc.errors())
    return error_response(ValidationFailed(details=field_errors(errors)))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return error_response(NotFound("No such route.", headers=headers))
    if exc.status_code == 405:
        allowed = _methods_of(request)
        # Starlette names the first route's methods only; a path may have several routes.
        return error_response(
            MethodNotAllowed(
                f"{request.url.path} answers {', '.join(allowed)}.",
                headers={**headers, "Allow": ", ".join(allowed)},
            )
        )
    kind = _BY_STATUS.get(exc.status_code)
    if kind is not None:
        return error_response(kind(str(exc.detail), headers=headers))
    return error_response(
        GivenError(
            GatewayError.code,
            exc.status_code,
            str(exc.detail),
            details=[],
            extra={},
            headers=headers,
        )
    )


_BY_STATUS: dict[int, type[GatewayError]] = {
    413: PayloadTooLarge,
    429: RateLimited,
    400: ValidationFailed,
}


def _methods_of(request: Request) -> list[str]:
    """Every method the path answers, from the routes as the OpenAPI document lists them."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(UpstreamFailure, _upstream_failure)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
