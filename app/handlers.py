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
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
    field_errors,
)
from app.upstream.failures import UpstreamFailure
from app.wire import error_envelope


class JsonAnswer(JSONResponse):
    """A JSON answer encoded by orjson (a tenth of json's cost on the create path): the same
    compact UTF-8 JSON Starlette writes."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: GatewayError) -> JSONResponse:
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
    # The one edge where a Rivya failure becomes the contract's error; a create whose outcome is
    # unknown names its client_request_id, so the caller's retry can learn what became of it.
    return error_response(failure.contract_error(handle=context.current_client_request_id()))


async def _upstream_failure(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpstreamFailure)
    return upstream_error_response(exc)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = list(exc.errors())
    return error_response(ValidationFailed(details=field_errors(errors)))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: GatewayError
    if exc.status_code == 404:
        error = NotFound("No such route.")
    elif exc.status_code == 405:
        allowed = _methods_of(request)
        # Starlette names the first route's methods only; a path may have several routes.
        error = MethodNotAllowed(
            f"{request.url.path} answers {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
        return error_response(error)
    elif exc.status_code == 413:
        error = PayloadTooLarge(str(exc.detail))
    elif exc.status_code == 429:
        error = RateLimited(str(exc.detail))
    elif exc.status_code == 400:
        error = ValidationFailed(str(exc.detail))
    else:
        error = GatewayError(str(exc.detail))
        error.status = exc.status_code
    error.headers.update(exc.headers or {})
    return error_response(error)


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
