"""When to try Rivya again, and when to stop trying for a while.

Retries: only where a repeat cannot do harm: a connection that never opened, a lost or late
answer (every create carries its upstream Idempotency-Key, so Rivya returns the same task),
502/503/504, and 429 after its Retry-After. Exponential backoff with full jitter, within a
bounded budget of time.

Circuit breaker: after ``threshold`` failures in a row that say "Rivya is down", calls fail fast
(503, nothing sent) for ``cooldown`` seconds; then one probe goes through, and its outcome
closes the circuit or opens it again. Per process: each replica learns on its own.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from app.clock import Clock
from app.upstream.failures import UpstreamFailure, Why

log = logging.getLogger("app.upstream")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    budget_seconds: float = 10.0
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(
        self, attempt: int, failure: UpstreamFailure, rng: random.Random, *, now: float
    ) -> float:
        """How long to wait before attempt ``attempt + 1``; Retry-After wins when given."""
        wait = retry_after_seconds(failure.retry_after, now=now)
        if wait is not None:
            return wait
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110); None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - now, 0.0)


class CircuitBreaker:
    def __init__(self, clock: Clock, *, threshold: int = 5, cooldown: float = 10.0) -> None:
        self._clock, self._threshold, self._cooldown = clock, threshold, cooldown
        self._failures = 0
        self._open_until: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock.now() < self._open_until else "half_open"

    def before_call(self) -> None:
        """Raise at once while open; in half-open, let exactly one probe through."""
        state = self.state
        if state == "closed":
            return
        now = self._clock.now()
        # One probe at a time; a probe that never reported (its task vanished) is given up on
        # after a cooldown, so the circuit can never stay open for good.
        stale = self._probe_started is not None and now - self._probe_started > self._cooldown
        if state == "half_open" and (self._probe_started is None or stale):
            self._probe_started = now
            return
        wait = max(1, round((self._open_until or 0) - self._clock.now()))
        raise UpstreamFailure(Why.CIRCUIT_OPEN, may_have_acted=False, retry_after=str(wait))

    def succeeded(self) -> None:
        if self._open_until is not None:
            log.warning("circuit to Rivya closed")
        self._failures, self._open_until, self._probe_started = 0, None, None

    def failed(self) -> None:
        self._failures += 1
        probing = self._probe_started is not None
        if probing or self._failures >= self._threshold:
            if self._open_until is None or probing:
                log.error("circuit to Rivya opened", extra={"failures": self._failures})
            self._open_until = self._clock.now() + self._cooldown
            self._probe_started = None
