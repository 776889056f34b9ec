"""What a failed call to Rivya means, decided once, here, and nowhere else.

The client turns every failure (a socket error, a timeout, an error answer, an answer it could
not read, its own circuit breaker) into one ``UpstreamFailure``: why it failed, Rivya's status
and code, its ``Retry-After``, and the fact that matters for money: whether Rivya may have
acted on the request. Services decide on that fact alone; the contract's error is made from the
failure by one table, ``app/upstream_errors.py`` (the upstream layer knows nothing of the
gateway's own contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from app.catalog import FieldError


class Why(Enum):
    UNREACHABLE = "unreachable"  # no connection was made: nothing was sent
    CIRCUIT_OPEN = "circuit_open"  # refused by our own breaker: nothing was sent
    TIMEOUT = "timeout"  # sent, no answer in time
    CONNECTION_LOST = "connection_lost"  # sent, then the connection broke
    UNREADABLE = "unreadable"  # an answer we could not read
    # An error answer that is not one of Rivya's own verdicts (no envelope, an edge's HTML, an
    # unknown code, a code at a status Rivya never gives it): something between us and Rivya,
    # or Rivya failing after it acted. Rivya may have acted.
    NOT_A_VERDICT = "not_a_verdict"
    # Rivya's own verdicts (its envelope, a documented code at its documented status):
    SLOW_DOWN = "slow_down"  # 429 rate_limited: refused for now
    UNAVAILABLE = "unavailable"  # 503 public_api_disabled: refused for now
    NO_CREDITS = "no_credits"  # insufficient_credits: the org's account is empty
    AUTH = "auth"  # 401 api_key_*, 403 api_scope_denied: Rivya refused the org key
    NOT_FOUND = "not_found"  # 404 not_found
    INVALID = "invalid"  # 400 validation_failed
    KEY_CONFLICT = "key_conflict"  # 409 on the Idempotency-Key: something is held under it
    REFUSED = "refused"  # 400 webhook_url_rejected
    # A body refused by status alone (Rivya documents no code for these; an edge refuses a body
    # before forwarding it): only uploads meet them, and only a file's fate hangs on them.
    TOO_LARGE = "too_large"  # 413
    UNSUPPORTED = "unsupported"  # 415


# Failures that say Rivya itself is struggling (they count towards opening the circuit). Not a
# 429: "slower" is handled by Retry-After, and one team's burst must not shut every team out.
_RIVYA_DOWN = frozenset(
    {Why.UNREACHABLE, Why.TIMEOUT, Why.CONNECTION_LOST, Why.UNREADABLE, Why.UNAVAILABLE}
)
_RETRYABLE = frozenset(
    {Why.UNREACHABLE, Why.TIMEOUT, Why.CONNECTION_LOST, Why.SLOW_DOWN, Why.UNAVAILABLE}
)
# Statuses of an answer that is not Rivya's verdict worth another attempt with the same
# Idempotency-Key (a proxy's "bad gateway", "unavailable", "gateway timeout", a CDN's 429).
_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_HONOURS_RETRY_AFTER = frozenset({Why.SLOW_DOWN, Why.UNAVAILABLE, Why.NOT_A_VERDICT})


# Rivya's documented error codes, the status it documents for each (docs/rivya-api.md; None:
# undocumented, any 4xx) and what the code says. Only an answer in Rivya's envelope whose code
# is here, at its status, is Rivya's own word; everything else is ``NOT_A_VERDICT``.
VERDICTS: dict[str, tuple[int | None, Why]] = {
    "public_api_disabled": (503, Why.UNAVAILABLE),
    "api_key_missing": (401, Why.AUTH),
    "api_key_invalid": (401, Why.AUTH),
    "api_key_revoked": (401, Why.AUTH),
    "api_key_expired": (401, Why.AUTH),
    "api_scope_denied": (403, Why.AUTH),
    "rate_limited": (429, Why.SLOW_DOWN),
    "validation_failed": (400, Why.INVALID),
    "not_found": (404, Why.NOT_FOUND),
    "webhook_url_rejected": (400, Why.REFUSED),
    "idempotency_conflict": (409, Why.KEY_CONFLICT),
    "insufficient_credits": (None, Why.NO_CREDITS),
}
RIVYA_ERROR_CODES = frozenset({*VERDICTS, "generation_failed"})


@dataclass(eq=False)
class UpstreamFailure(Exception):
    why: Why
    # True when Rivya may have acted although we cannot tell (a timeout after the request was
    # sent, a dropped connection, an unreadable 2xx, an answer not in Rivya's own words): never
    # refund on such a failure.
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
        if self.why is Why.NOT_A_VERDICT:
            return (self.status or 0) >= 500  # a proxy's 5xx: Rivya is not answering behind it
        return self.why in _RIVYA_DOWN

    @property
    def retryable(self) -> bool:
        if self.why is Why.NOT_A_VERDICT:
            return self.status in _RETRYABLE_STATUSES
        return self.why in _RETRYABLE

    def after(self, earlier_maybe_sent: bool) -> UpstreamFailure:
        """This failure as the outcome of a whole call whose earlier attempts (or an earlier
        call: a resend) may have reached Rivya: once one may have, the outcome stays unknown,
        whatever later ones say. Not even Rivya's own 400 or 404 proves otherwise: its answer to
        a repeat may differ from its answer to the first (a reference file gone meanwhile, an
        idempotency record expired), and the first may have made the task."""
        if self.may_have_acted or not earlier_maybe_sent:
            return self
        return replace(self, may_have_acted=True)

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
    """One error answer as a failure. ``code`` is the code of Rivya's envelope, "" when the
    answer had none. Only Rivya's envelope with a documented code at its documented status is
    a verdict; a status alone says nothing about what Rivya did (an edge, a load balancer or a
    proxy answers bare 404s and 503s after forwarding the request)."""

    def failure(why: Why, may_have_acted: bool = False) -> UpstreamFailure:
        return UpstreamFailure(
            why,
            may_have_acted,
            status=status,
            code=code,
            message=message,
            retry_after=retry_after if why in _HONOURS_RETRY_AFTER else None,
            upstream_request_id=upstream_request_id,
            details=list(details or []),
        )

    verdict = VERDICTS.get(code)
    if verdict is not None:
        documented, why = verdict
        if status == documented or (documented is None and 400 <= status < 500):
            # Rivya holds something under the key of an idempotency conflict: whatever it is, we
            # cannot call the create failed.
            return failure(why, may_have_acted=why is Why.KEY_CONFLICT)
    if status == 413:
        return failure(Why.TOO_LARGE)
    if status == 415:
        return failure(Why.UNSUPPORTED)
    return failure(Why.NOT_A_VERDICT, may_have_acted=True)
