"""The contract's answer when a call to Rivya failed (CONTRACT §9): one table from what the
failure means (``upstream/failures.py`` decides that, once) to the error a caller gets. Used
wherever a failure is answered: the error handlers, a create whose outcome is unknown (named by
its handle, so a retry can learn it), an error remembered for a create's replays."""

from __future__ import annotations

from collections.abc import Callable

from app.errors import (
    GatewayError,
    InsufficientCredits,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from app.upstream.failures import UpstreamFailure, Why


def error_for(failure: UpstreamFailure) -> GatewayError:
    """The contract's error for a failure."""
    return _ERRORS[failure.why](failure)


def unknown_outcome(failure: UpstreamFailure, handle: str) -> GatewayError:
    """The error for a create Rivya may have made: it names the create's handle (its
    ``client_request_id``), whose retry learns the outcome."""
    return error_for(failure).naming_handle(
        handle,
        f"Rivya may have made the task: retry with client_request_id {handle!r} to learn the "
        "outcome (no second task, no second charge).",
    )


def _retry(failure: UpstreamFailure) -> dict[str, str]:
    return {"Retry-After": failure.retry_after} if failure.retry_after else {}


def _not_a_verdict(failure: UpstreamFailure) -> GatewayError:
    # An answer not in Rivya's own words: an edge, a proxy, or Rivya failing after it acted.
    if failure.status == 504:
        return UpstreamTimeout(upstream_request_id=failure.upstream_request_id)
    said = f"Rivya's error {failure.code!r}" if failure.code else "no error of Rivya's"
    kind = UpstreamUnavailable if failure.status in (429, 503) else UpstreamError
    return kind(
        f"The upstream answered HTTP {failure.status} with {said} (from Rivya or something in "
        "front of it).",
        headers=_retry(failure),
        upstream_request_id=failure.upstream_request_id,
    )


def _invalid(failure: UpstreamFailure) -> GatewayError:
    return ValidationFailed(
        f"Rivya rejected the request: {failure.message}" if failure.message else None,
        details=failure.details,
        upstream_request_id=failure.upstream_request_id,
    )


def _not_accepting(failure: UpstreamFailure) -> GatewayError:
    return UpstreamUnavailable(
        "Rivya is not accepting requests right now; retry later.",
        headers=_retry(failure),
        upstream_request_id=failure.upstream_request_id,
    )


_ERRORS: dict[Why, Callable[[UpstreamFailure], GatewayError]] = {
    Why.UNREACHABLE: lambda f: UpstreamUnavailable(
        "Rivya could not be reached.", headers=_retry(f)
    ),
    Why.CIRCUIT_OPEN: lambda f: UpstreamUnavailable(
        "Rivya is failing; the gateway is not sending requests for a few seconds.",
        headers=_retry(f),
    ),
    Why.TIMEOUT: lambda f: UpstreamTimeout(upstream_request_id=f.upstream_request_id),
    Why.CONNECTION_LOST: lambda f: UpstreamUnavailable("The connection to Rivya was lost."),
    Why.UNREADABLE: lambda f: UpstreamError(
        f"Rivya sent an answer the gateway could not read{f': {f.message}' if f.message else ''}."
    ),
    Why.NOT_A_VERDICT: _not_a_verdict,
    Why.SLOW_DOWN: _not_accepting,
    Why.UNAVAILABLE: _not_accepting,
    Why.NO_CREDITS: lambda f: InsufficientCredits(upstream_request_id=f.upstream_request_id),
    Why.AUTH: lambda f: UpstreamAuthFailed(upstream_request_id=f.upstream_request_id),
    Why.NOT_FOUND: lambda f: NotFound(upstream_request_id=f.upstream_request_id),
    Why.INVALID: _invalid,
    Why.KEY_CONFLICT: lambda f: UpstreamError(
        "Rivya reports a conflict on this create's key.", upstream_request_id=f.upstream_request_id
    ),
    Why.REFUSED: lambda f: UpstreamError(
        f"Rivya refused the request ({f.code}).", upstream_request_id=f.upstream_request_id
    ),
    Why.TOO_LARGE: lambda f: PayloadTooLarge(
        "Rivya refused the file as too large.", upstream_request_id=f.upstream_request_id
    ),
    Why.UNSUPPORTED: lambda f: UnsupportedMediaType(
        "Rivya refused the file's type.", upstream_request_id=f.upstream_request_id
    ),
}
