"""The circuit breaker and what counts as "Rivya is down"."""

from __future__ import annotations

import pytest

from app.clock import FakeClock
from app.errors import (
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    ValidationFailed,
)
from app.upstream.resilience import CircuitBreaker, retry_after_seconds, says_rivya_is_down


def test_opens_after_the_threshold_and_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=2, cooldown=10)
    breaker.failed()
    breaker.before_call()  # one failure: still closed
    breaker.failed()
    with pytest.raises(UpstreamUnavailable) as caught:
        breaker.before_call()
    assert caught.value.circuit_open
    assert caught.value.headers["Retry-After"] == "10"


def test_one_probe_after_the_cooldown_decides() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=1, cooldown=10)
    breaker.failed()
    clock.advance(10)
    breaker.before_call()  # the probe
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()  # only one at a time
    breaker.failed()  # the probe failed: open again
    assert breaker.state == "open"
    clock.advance(10)
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state == "closed"


def test_a_probe_that_never_reports_cannot_hold_the_circuit_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=1, cooldown=10)
    breaker.failed()
    clock.advance(10)
    breaker.before_call()  # a probe whose task is then cancelled and never reports
    clock.advance(11)
    breaker.before_call()  # a new probe is let through
    breaker.succeeded()
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    ("error", "down"),
    [
        (UpstreamTimeout(), True),
        (UpstreamUnavailable(), True),
        (UpstreamError(upstream_status=500), True),
        (UpstreamError(), True),  # unreadable answer
        (UpstreamError(upstream_status=409), False),
        (ValidationFailed(), False),
        (UpstreamUnavailable(circuit_open=True), False),
        (UpstreamUnavailable(upstream_status=429), False),  # "slower", not "down"
        (UpstreamUnavailable(upstream_status=503), True),
    ],
)
def test_what_says_rivya_is_down(error: GatewayError, down: bool) -> None:
    assert says_rivya_is_down(error) is down


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # an HTTP date, 10 s after "now"
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(value, now=now) == seconds
