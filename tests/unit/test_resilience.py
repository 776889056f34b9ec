"""The circuit breaker and what counts as "Rivya is down"."""

from __future__ import annotations

import pytest

from app.clock import FakeClock
from app.upstream.failures import UpstreamFailure, Why, classify
from app.upstream.resilience import CircuitBreaker, retry_after_seconds
from app.upstream_errors import error_for, unknown_outcome


def test_opens_after_the_threshold_and_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=2, cooldown=10)
    breaker.failed()
    breaker.before_call()  # one failure: still closed
    breaker.failed()
    with pytest.raises(UpstreamFailure) as caught:
        breaker.before_call()
    assert caught.value.why is Why.CIRCUIT_OPEN
    assert not caught.value.may_have_acted
    error = error_for(caught.value)
    assert (error.status, error.headers["Retry-After"]) == (503, "10")


def test_one_probe_after_the_cooldown_decides() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock, threshold=1, cooldown=10)
    breaker.failed()
    clock.advance(10)
    breaker.before_call()  # the probe
    with pytest.raises(UpstreamFailure):
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
    ("failure", "down"),
    [
        (UpstreamFailure(Why.TIMEOUT, may_have_acted=True), True),
        (UpstreamFailure(Why.UNREACHABLE, may_have_acted=False), True),
        (classify(500, ""), True),
        (UpstreamFailure(Why.UNREADABLE, may_have_acted=True), True),
        (classify(409, "idempotency_conflict"), False),
        (classify(400, "validation_failed"), False),
        (UpstreamFailure(Why.CIRCUIT_OPEN, may_have_acted=False), False),
        (classify(429, "rate_limited"), False),  # "slower", not "down"
        (classify(503, "public_api_disabled"), True),
    ],
)
def test_what_says_rivya_is_down(failure: UpstreamFailure, down: bool) -> None:
    assert failure.says_rivya_is_down is down


@pytest.mark.parametrize(
    ("failure", "maybe", "status"),
    [
        (UpstreamFailure(Why.UNREACHABLE, may_have_acted=False), False, 503),
        (UpstreamFailure(Why.TIMEOUT, may_have_acted=True), True, 504),
        (UpstreamFailure(Why.CONNECTION_LOST, may_have_acted=True), True, 503),
        (classify(500, ""), True, 502),
        (classify(504, ""), True, 504),
        (classify(400, "validation_failed"), False, 400),
        (classify(429, "rate_limited"), False, 503),
        (classify(402, "insufficient_credits"), False, 503),
        (classify(401, "api_key_invalid"), False, 502),
        (classify(409, "idempotency_conflict"), True, 502),
    ],
)
def test_each_failure_is_decided_once_and_maps_to_one_contract_error(
    failure: UpstreamFailure, maybe: bool, status: int
) -> None:
    assert failure.may_have_acted is maybe
    error = unknown_outcome(failure, "h-1") if failure.may_have_acted else error_for(failure)
    assert error.status == status == error_for(failure).status
    # Only an unknown outcome names the handle a retry learns it by.
    assert ("client_request_id" in error.extra) is maybe
    assert ("h-1" in error.message) is maybe


def test_an_earlier_attempt_that_may_have_acted_keeps_the_call_unknown() -> None:
    refused = classify(503, "public_api_disabled")
    assert not refused.may_have_acted
    assert refused.after(earlier_maybe_sent=True).may_have_acted
    assert not refused.after(earlier_maybe_sent=False).may_have_acted
    # Not even Rivya's judgement of the request: a repeat's answer may differ from the first's.
    for about_the_request in (classify(400, "validation_failed"), classify(404, "not_found")):
        assert about_the_request.after(earlier_maybe_sent=True).may_have_acted


@pytest.mark.parametrize(
    ("status", "code", "why"),
    [
        (503, "public_api_disabled", Why.UNAVAILABLE),
        (429, "rate_limited", Why.SLOW_DOWN),
        (404, "not_found", Why.NOT_FOUND),
        (400, "validation_failed", Why.INVALID),
        (401, "api_key_revoked", Why.AUTH),
        (403, "api_scope_denied", Why.AUTH),
        (402, "insufficient_credits", Why.NO_CREDITS),  # its status is undocumented: any 4xx
        (400, "insufficient_credits", Why.NO_CREDITS),
    ],
)
def test_only_rivyas_envelope_with_a_documented_code_at_its_status_is_a_verdict(
    status: int, code: str, why: Why
) -> None:
    verdict = classify(status, code)
    assert (verdict.why, verdict.may_have_acted) == (why, False)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, ""),  # an edge's HTML 404 (no envelope)
        (503, ""),  # a load balancer's bare 503
        (502, ""),
        (429, ""),  # a CDN's rate limit, not Rivya's
        (400, ""),
        (500, "internal_error"),  # Rivya failing after it may have acted
        (400, "no_such_code"),  # an unknown code
        (503, "rate_limited"),  # a documented code at a status Rivya never gives it
        (404, "public_api_disabled"),
        (503, "insufficient_credits"),  # a 5xx is never "the account is empty"
    ],
)
def test_anything_else_is_an_unknown_outcome(status: int, code: str) -> None:
    failure = classify(status, code, retry_after="3")
    assert (failure.why, failure.may_have_acted) == (Why.NOT_A_VERDICT, True)
    error = unknown_outcome(failure, "h-1")
    assert error.extra["client_request_id"] == "h-1"
    assert failure.retryable is (status in (429, 502, 503, 504))
    assert failure.says_rivya_is_down is (status >= 500)


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
