"""Every error the gateway answers with: one class per contract code (CONTRACT §9).

Services raise these; one handler renders them as ``{"error": {code, message, requestId}}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Self

from app.catalog import FieldError
from app.periods import REPORT_PERIOD_FORMS, REPORT_PERIOD_PATTERN


class GatewayError(Exception):
    code: str = "internal_error"
    status: int = 500
    default_message: str = "The gateway failed to handle the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        upstream_request_id: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = _bounded(list(details or []))
        self.headers = dict(headers or {})
        self.upstream_request_id = upstream_request_id
        # More fields of the envelope's "error" object (e.g. the client_request_id that names
        # an unknown outcome).
        self.extra: dict[str, str] = dict(extra or {})
        super().__init__(self.message)

    def naming_handle(self, handle: str, how: str) -> Self:
        """This error, as a new one that also names the create's handle (its
        ``client_request_id``), whose retry learns an unknown outcome; ``how`` says so."""
        named = copy.copy(self)
        named.message = f"{self.message} {how}"
        named.args = (named.message,)
        named.extra = {**self.extra, "client_request_id": handle}
        return named

    def to_dict(self) -> dict[str, Any]:
        """What a replay of this answer needs (remembered with an idempotency claim)."""
        return {
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "details": [d.as_dict() for d in self.details],
            **self.extra,
        }

    @staticmethod
    def from_dict(
        data: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> GatewayError:
        """A remembered answer, to replay as it was given, whatever class first gave it."""
        return GivenError(
            str(data["code"]),
            int(data["status"]),
            str(data.get("message", "")),
            details=[
                FieldError(str(d["field"]), str(d["message"])) for d in data.get("details", [])
            ],
            extra={
                k: str(v)
                for k, v in data.items()
                if k not in ("code", "status", "message", "details")
            },
            headers=headers,
        )


class GivenError(GatewayError):
    """An error whose code and status are given when it is made, not by its class: an error
    remembered with an idempotency claim, answered again as it first was; a framework's
    status."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        *,
        details: Sequence[FieldError],
        extra: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, extra=extra, headers=headers)
        self.code, self.status = code, status


# An answer names at most this many problems: a body crafted with thousands of bad fields gets a
# short answer, not one as large as itself.
MAX_DETAILS = 20


def _bounded(details: list[FieldError]) -> list[FieldError]:
    if len(details) <= MAX_DETAILS:
        return details
    more = len(details) - (MAX_DETAILS - 1)
    return [*details[: MAX_DETAILS - 1], FieldError("body", f"and {more} more problems")]


class ValidationFailed(GatewayError):
    code, status, default_message = "validation_failed", 400, "The request is invalid."


class ApiKeyMissing(GatewayError):
    code, status = "api_key_missing", 401
    default_message = "Send a team key (or a browser token): Authorization: Bearer <key>."


class ApiKeyInvalid(GatewayError):
    code, status, default_message = "api_key_invalid", 401, "The key is not valid."


class ApiKeyRevoked(GatewayError):
    code, status, default_message = "api_key_revoked", 401, "The key has been revoked."


class ApiKeyExpired(GatewayError):
    # An addition to the contract's table: a key issued with an expiry, past it.
    code, status = "api_key_expired", 401
    default_message = "The key has expired: ask an admin for a new one."


class TokenExpired(GatewayError):
    code, status, default_message = "token_expired", 401, "The token has expired."


class BudgetExceeded(GatewayError):
    code, status, default_message = "budget_exceeded", 402, "The team's credit budget is spent."


class ModelNotAllowed(GatewayError):
    code, status, default_message = "model_not_allowed", 403, "The team may not use this model."


class OriginNotAllowed(GatewayError):
    code, status, default_message = "origin_not_allowed", 403, "This origin is not allowed."


class Forbidden(GatewayError):
    code, status, default_message = "forbidden", 403, "This credential may not do that."


class NotFound(GatewayError):
    code, status, default_message = "not_found", 404, "Not found."


class ResultLinkInvalid(GatewayError):
    # Additions to the contract's table: a result link (GET /v1/results/…) whose signature does
    # not hold (altered, another team's, made with another secret), or whose time is up.
    code, status = "result_link_invalid", 403
    default_message = "This result link is not valid: read the task again for a fresh one."


class ResultLinkExpired(ResultLinkInvalid):
    code, default_message = "result_link_expired", "This result link has expired."


class WebhookUrlRejected(GatewayError):
    # Rivya's code: a webhook's URL that may not be called (not https, not public, …).
    code, status = "webhook_url_rejected", 400
    default_message = "This URL may not be a webhook's target."


class MethodNotAllowed(GatewayError):
    # Not a contract code of its own; 405 keeps HTTP semantics with the contract's envelope.
    code, status, default_message = "method_not_allowed", 405, "Method not allowed."


class IdempotencyConflict(GatewayError):
    code, status = "idempotency_conflict", 409
    default_message = "This client_request_id was used with a different request."


class RequestInProgress(GatewayError):
    code, status = "request_in_progress", 409
    default_message = "A request with this client_request_id is still being processed."


class PayloadTooLarge(GatewayError):
    code, status, default_message = "file_too_large", 413, "The request body is too large."


class UnsupportedMediaType(GatewayError):
    code, status, default_message = "unsupported_media_type", 415, "Unsupported media type."


class RateLimited(GatewayError):
    code, status, default_message = "rate_limited", 429, "Too many requests."


class UpstreamError(GatewayError):
    code, status, default_message = "upstream_error", 502, "Rivya answered with an error."


class UpstreamAuthFailed(GatewayError):
    code, status = "upstream_auth_failed", 502
    default_message = "Rivya refused the gateway's credentials; ops have been alerted."


class StoreUnavailable(GatewayError):
    code, status = "store_unavailable", 503
    # Says nothing of what was sent: only a path that knows nothing was sends says so.
    default_message = "The gateway's store is unavailable. Retry soon."

    def __init__(
        self,
        message: str | None = None,
        *,
        may_have_run: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, extra=extra)
        # Whether the failed Redis command may have run all the same (a timeout after it was
        # sent): decided where Redis is wrapped (store/redis.py).
        self.may_have_run = may_have_run


def outcome_unknown(client_request_id: str) -> StoreUnavailable:
    """The store failed after a create was admitted (or recognised as a repeat of one): Rivya
    may have made its task, so the answer names the handle whose retry learns the outcome."""
    return StoreUnavailable(
        "The gateway's store stopped answering while handling this create; its outcome is "
        f"unknown. Retry with client_request_id {client_request_id!r} to learn it (no second "
        "task, no second charge).",
        extra={"client_request_id": client_request_id},
    )


class UpstreamUnavailable(GatewayError):
    code, status, default_message = "upstream_unavailable", 503, "Rivya is unavailable."


class InsufficientCredits(GatewayError):
    code, status = "insufficient_credits", 503
    default_message = "The organisation's Rivya account has run out of credits."


class UpstreamTimeout(GatewayError):
    code, status, default_message = "upstream_timeout", 504, "Rivya did not answer in time."


class AlreadyExists(GatewayError):
    # An addition to the contract's table: creating something whose id is taken.
    code, status, default_message = "already_exists", 409, "That id is already taken."


def field_errors(errors: Sequence[Mapping[str, object]], *, prefix: str = "") -> list[FieldError]:
    """pydantic's error list as the contract's ``details`` (field path, human message)."""
    details = []
    for error in errors:
        if error.get("type") == "json_invalid":
            details.append(FieldError("body", "is not valid JSON"))
            continue
        loc = error.get("loc", ())
        parts = (
            [str(p) for p in loc if p not in ("body", "query", "path")]
            if isinstance(loc, tuple)
            else []
        )
        details.append(FieldError(prefix + (".".join(parts) or "body"), _message(error)))
    return details


# What a pattern means, said as a person would (pydantic would print the regex itself).
_PATTERN_MEANING = {
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$": (
        "must be a slug: lower-case letters, digits and '-', 1-63 characters, not starting or "
        "ending with '-'"
    ),
    r"^[A-Za-z0-9._:@|-]{1,128}$": "must be 1-128 characters of A-Z a-z 0-9 . _ : @ | -",
    REPORT_PERIOD_PATTERN: f"must be {REPORT_PERIOD_FORMS}",
}


def _message(error: Mapping[str, object]) -> str:
    kind = error.get("type")
    context = error.get("ctx")
    if kind == "string_pattern_mismatch" and isinstance(context, Mapping):
        meaning = _PATTERN_MEANING.get(str(context.get("pattern")))
        if meaning:
            return meaning
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    message = str(error.get("msg", ""))
    return message.removeprefix("Value error, ")
