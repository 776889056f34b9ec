"""What a failed call to Rivya means, decided once, here, and nowhere else.

The client turns every failure (a socket error, a timeout, an error answer, an answer it could
not read, its own circuit breaker) into one ``UpstreamFailure``: why it failed, Rivya's status
and code, its ``Retry-After``, and the fact that matters for money: whether Rivya may have
acted on the request. Services decide on that fact alone; the contract's error is made from the
failure at one edge (``contract_error``), with the create's handle when its outcome is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from app.catalog import FieldError
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


class Why(Enum):
    UNREACHABLE = "unreachable"  # no connection was made: nothing was sent
    CIRCUIT_OPEN = "circuit_open"  # refused by our own breaker: nothing was sent
    TIMEOUT = "timeout"  # sent, no answer in time
    CONNECTION_LOST = "connection_lost"  # sent, then the connection broke
    UNREADABLE = "unreadable"  # an answer we could not read
    SLOW_DOWN = "slow_down"  # 429: Rivya refused for now
    UNAVAILABLE = "unavailable"  # 503 / public_api_disabled: Rivya refused for now
    SERVER_ERROR = "server_error"  # another 5xx: Rivya may have acted first
    NO_CREDITS = "no_credits"  # the org's account is empty
    AUTH = "auth"  # Rivya refused the org key
    NOT_FOUND = "not_found"
    INVALID = "invalid"  # 400 validation_failed
    TOO_LARGE = "too_large"  # 413
    UNSUPPORTED = "unsupported"  # 415
    KEY_CONFLICT = "key_conflict"  # 409 on the Idempotency-Key: something is held under it
    REFUSED = "refused"  # any other 4xx


# Failures that say Rivya itself is struggling (they count towards opening the circuit). Not a
# 429: "slower" is handled by Retry-After, and one team's burst must not shut every team out.
_RIVYA_DOWN = frozenset(
    {Why.UNREACHABLE, Why.TIMEOUT, Why.CONNECTION_LOST, Why.UNREADABLE, Why.UNAVAILABLE}
)
_RETRYABLE = frozenset(
    {
        Why.UNREACHABLE,
        Why.TIMEOUT,
        Why.CONNECTION_LOST,
        Why.SLOW_DOWN,
        Why.UNAVAILABLE,
        Why.SERVER_ERROR,
    }
)


# Rivya's documented error codes (rivya-api.md, docs/rivya-api.md in this repo).
RIVYA_ERROR_CODES = frozenset(
    {
        "public_api_disabled",
        "api_key_missing",
        "api_key_invalid",
        "api_key_revoked",
        "api_key_expired",
        "api_scope_denied",
        "rate_limited",
        "validation_failed",
        "not_found",
        "webhook_url_rejected",
        "idempotency_conflict",
        "insufficient_credits",
        "generation_failed",
    }
)


@dataclass(eq=False)
class UpstreamFailure(Exception):
    why: Why
    # True when Rivya may have acted although we cannot tell (a timeout after the request was
    # sent, a dropped connection, an unreadable 2xx, a 5xx): never refund on such a failure.
    may_have_acted: bool
    status: int | None = None
    code: str = ""
    message: str = ""
    retry_after: str | None = None
    upstream_request_id: str | None = None
    details: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.why.value)

    @property
    def metric_code(self) -> str:
        """Rivya's error code for metrics: one of its documented codes, "other" for any other
        (so a misbehaving upstream cannot mint label values), "" for no HTTP answer."""
        if not self.code:
            return ""
        return self.code if self.code in RIVYA_ERROR_CODES else "other"

    @property
    def says_rivya_is_down(self) -> bool:
        return self.why in _RIVYA_DOWN or self.why is Why.SERVER_ERROR

    @property
    def retryable(self) -> bool:
        if self.why is Why.SERVER_ERROR:
            return self.status in (502, 503, 504)
        return self.why in _RETRYABLE

    def after(self, earlier_maybe_sent: bool) -> UpstreamFailure:
        """This failure as the outcome of a whole call whose earlier attempts may have reached
        Rivya: once one may have, the call's outcome stays unknown, whatever later ones say;
        except a judgement of the request itself (400, 404), which the same bytes got every
        time: no attempt of them can have made a task."""
        if self.may_have_acted or not earlier_maybe_sent or self.is_about_the_request:
            return self
        return replace(self, may_have_acted=True)

    def contract_error(self, *, handle: str | None = None) -> GatewayError:
        """The contract's error for this failure (CONTRACT §9). ``handle``: the create's
        ``client_request_id``, named when the outcome is unknown so a retry can learn it."""
        error = self._error()
        if self.may_have_acted and handle is not None:
            error.message += (
                f" Rivya may have made the task: retry with client_request_id {handle!r} "
                "to learn the outcome (no second task, no second charge)."
            )
            error.extra["client_request_id"] = handle
        return error

    def _error(self) -> GatewayError:
        upstream_id = self.upstream_request_id
        retry = {"Retry-After": self.retry_after} if self.retry_after else {}
        why = self.why
        if why is Why.UNREACHABLE:
            return UpstreamUnavailable("Rivya could not be reached.", headers=retry)
        if why is Why.CIRCUIT_OPEN:
            return UpstreamUnavailable(
                "Rivya is failing; the gateway is not sending requests for a few seconds.",
                headers=retry,
            )
        if why is Why.TIMEOUT:
            return UpstreamTimeout(upstream_request_id=upstream_id)
        if why is Why.CONNECTION_LOST:
            return UpstreamUnavailable("The connection to Rivya was lost.")
        if why is Why.UNREADABLE:
            return UpstreamError("Rivya sent an answer the gateway could not read.")
        if why in (Why.SLOW_DOWN, Why.UNAVAILABLE):
            return UpstreamUnavailable(
                "Rivya is not accepting requests right now; retry later.",
                headers=retry,
                upstream_request_id=upstream_id,
            )
        if why is Why.NO_CREDITS:
            return InsufficientCredits(upstream_request_id=upstream_id)
        if why is Why.AUTH:
            return UpstreamAuthFailed(upstream_request_id=upstream_id)
        if why is Why.NOT_FOUND:
            return NotFound(upstream_request_id=upstream_id)
        if why is Why.INVALID:
            return ValidationFailed(
                f"Rivya rejected the request: {self.message}" if self.message else None,
                details=self.details,
                upstream_request_id=upstream_id,
            )
        if why is Why.TOO_LARGE:
            return PayloadTooLarge(
                "Rivya refused the file as too large.", upstream_request_id=upstream_id
            )
        if why is Why.UNSUPPORTED:
            return UnsupportedMediaType(
                "Rivya refused the file's type.", upstream_request_id=upstream_id
            )
        if why is Why.KEY_CONFLICT:
            return UpstreamError(
                "Rivya reports a conflict on this create's key.", upstream_request_id=upstream_id
            )
        if why is Why.SERVER_ERROR and self.status == 504:
            return UpstreamTimeout(upstream_request_id=upstream_id)
        code = f" ({self.code})" if self.code else ""
        return UpstreamError(
            f"Rivya answered HTTP {self.status}{code}.", upstream_request_id=upstream_id
        )

    @property
    def is_about_the_request(self) -> bool:
        """Rivya judged the request itself: sending it again would get the same answer, so a
        replay of its idempotency key is told the same."""
        return self.why in (Why.INVALID, Why.NOT_FOUND)


def classify(
    status: int,
    code: str,
    *,
    message: str = "",
    retry_after: str | None = None,
    upstream_request_id: str | None = None,
    details: list[FieldError] | None = None,
) -> UpstreamFailure:
    """One Rivya error answer as a failure."""

    def failure(why: Why, may_have_acted: bool = False) -> UpstreamFailure:
        return UpstreamFailure(
            why,
            may_have_acted,
            status=status,
            code=code,
            message=message,
            retry_after=retry_after if why in (Why.SLOW_DOWN, Why.UNAVAILABLE) else None,
            upstream_request_id=upstream_request_id,
            details=list(details or []),
        )

    if code == "insufficient_credits":
        return failure(Why.NO_CREDITS)
    if status == 401 or code.startswith("api_key_") or code == "api_scope_denied":
        return failure(Why.AUTH)
    if status == 404:
        return failure(Why.NOT_FOUND)
    if status == 413:
        return failure(Why.TOO_LARGE)
    if status == 415:
        return failure(Why.UNSUPPORTED)
    if status == 400 and code == "validation_failed":
        return failure(Why.INVALID)
    if status == 429:
        return failure(Why.SLOW_DOWN)
    if status == 503 or code == "public_api_disabled":
        return failure(Why.UNAVAILABLE)
    if code == "idempotency_conflict":
        # Rivya holds something else under this upstream key: whatever it is, we cannot call
        # the create failed.
        return failure(Why.KEY_CONFLICT, may_have_acted=True)
    if status >= 500:
        # A 5xx may have come after Rivya acted (a gateway timeout in front of it, a crash after
        # the insert): the outcome of a create is unknown, not failed.
        return failure(Why.SERVER_ERROR, may_have_acted=True)
    return failure(Why.REFUSED)
