"""A rate limit's state as callers are told it: the IETF RateLimit headers
(draft-ietf-httpapi-ratelimit-headers) of a bucket of ``burst`` requests per window."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateState:
    """What the IETF RateLimit headers report: a bucket of ``burst`` creates per ``window``."""

    burst: int
    window_seconds: int
    remaining: int
    full_in_seconds: int


RATE_POLICY = "creates"
SUBJECT_RATE_POLICY = "creates-per-user"


def rate_limit_headers(state: RateState, policy: str = RATE_POLICY) -> dict[str, str]:
    """``RateLimit-Policy`` / ``RateLimit`` as in draft-ietf-httpapi-ratelimit-headers: a quota
    of ``burst`` requests per window, what remains of it, and when it is whole again."""
    return {
        "RateLimit-Policy": f'"{policy}";q={state.burst};w={max(state.window_seconds, 1)}',
        "RateLimit": f'"{policy}";r={state.remaining};t={state.full_in_seconds}',
    }


def ceil_seconds(ms: int) -> int:
    """A wait in whole seconds, rounded up: never tell a client to come back too early."""
    return max(0, -(-ms // 1000))


def rate_state(burst: int, window_ms: int, remaining: int, full_in_ms: int) -> RateState:
    """A bucket's state from a script's figures, in milliseconds."""
    return RateState(burst, ceil_seconds(window_ms), remaining, ceil_seconds(full_in_ms))
