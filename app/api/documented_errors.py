"""What each route may answer besides success, from the error registry (``app/errors.py``): one
source for the OpenAPI document and the code, so the two cannot drift apart.

A route declares the errors it can raise, by their classes; ``answers`` groups them by status
into OpenAPI responses, each listing its ``code`` values (also as ``x-error-codes``, for
generated clients). The groups below are the routes' shared failure modes: who may call,
whether Redis answered, what a create or an upload can meet upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from app.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    ApiKeyRevoked,
    BudgetExceeded,
    Forbidden,
    GatewayError,
    IdempotencyConflict,
    InsufficientCredits,
    ModelNotAllowed,
    NotFound,
    OriginNotAllowed,
    PayloadTooLarge,
    RateLimited,
    RequestInProgress,
    StoreUnavailable,
    TokenExpired,
    UnsupportedMediaType,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from app.schemas.errors import ErrorOut

Errors = tuple[type[GatewayError], ...]

# A team key or a browser token, from a server or an allowed origin; Redis must answer; an
# address (or key id) with too many failed authentications, or a caller with too many requests
# refused as invalid, is told to come back later.
TEAM: Errors = (
    ApiKeyMissing,
    ApiKeyInvalid,
    ApiKeyRevoked,
    ApiKeyExpired,
    TokenExpired,
    OriginNotAllowed,
    StoreUnavailable,
    RateLimited,
)
# The same, where a browser token is out of its scope.
KEY_ONLY: Errors = (*TEAM, Forbidden)
# A team's reads: its read rate, and a bad query.
READ: Errors = (ValidationFailed, RateLimited)
# Rivya answering badly, or not at all.
UPSTREAM: Errors = (
    UpstreamError,
    UpstreamAuthFailed,
    UpstreamUnavailable,
    InsufficientCredits,
    UpstreamTimeout,
)
# A paid create: the body, the policies, idempotency, and Rivya.
CREATE: Errors = (
    ValidationFailed,
    BudgetExceeded,
    ModelNotAllowed,
    NotFound,  # a replay whose task outlived its retention
    IdempotencyConflict,
    RequestInProgress,
    PayloadTooLarge,
    RateLimited,
    *UPSTREAM,
)
UPLOAD: Errors = (ValidationFailed, PayloadTooLarge, UnsupportedMediaType, RateLimited, *UPSTREAM)
# The admin token only (a browser token is told it is out of its scope); an address with too
# many wrong tokens is told to come back later.
ADMIN: Errors = (
    ApiKeyMissing,
    ApiKeyInvalid,
    Forbidden,
    StoreUnavailable,
    ValidationFailed,
    RateLimited,
)
ADMIN_TEAM: Errors = (*ADMIN, NotFound)


# Every 429 says when to come back; a refusal by a rate (not an upload's decode budget) also
# states the policy and what is left of it (draft-ietf-httpapi-ratelimit-headers).
HEADERS: dict[int, dict[str, Any]] = {
    RateLimited.status: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "RateLimit-Policy": {
            "description": 'The limit that refused: "<policy>";q=<burst>;w=<window seconds>.',
            "schema": {"type": "string"},
        },
        "RateLimit": {
            "description": 'What is left of it: "<policy>";r=<remaining>;t=<seconds to full>.',
            "schema": {"type": "string"},
        },
    }
}


def answers(*errors: type[GatewayError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these errors: one per status, naming every code it may carry (and
    the headers that status always or may carry)."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        codes = by_status.setdefault(error.status, [])
        if error.code not in codes:
            codes.append(error.code)
    return {
        status: {
            "model": ErrorOut,
            "description": " | ".join(codes),
            "x-error-codes": codes,
            **({"headers": HEADERS[status]} if status in HEADERS else {}),
        }
        for status, codes in sorted(by_status.items())
    }


def honest(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 HTTPValidationError on every route with parameters; the gateway
    answers 400 validation_failed in its own envelope instead (``handlers.py``). Take them out,
    and give every operation with inputs its 400."""
    bad_request = answers(ValidationFailed)[400]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            had_422 = responses.pop("422", None) is not None
            if had_422 and "400" not in responses:
                responses["400"] = {
                    "description": bad_request["description"],
                    "x-error-codes": bad_request["x-error-codes"],
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    },
                }
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def documented_codes(responses: dict[str, Any]) -> dict[int, set[str]]:
    """The error codes an operation of the OpenAPI document says it may answer, by status."""
    return {
        int(status): set(response.get("x-error-codes", []))
        for status, response in responses.items()
        if "x-error-codes" in response
    }


def documented_json_body(model: type[BaseModel]) -> dict[str, Any]:
    """A route's JSON request body given by hand (the create routes read their own body): a
    reference to the model's schema, which ``with_bodies`` puts among the components, so a
    generated client names it after the model (not after the route and the model)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def with_bodies(schema: dict[str, Any], models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """The models given by ``documented_json_body``, and those they use, as components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    return schema
