"""Leaving gracefully (app/lifecycle.py), with real processes: on SIGTERM a gateway says it is
not ready while it goes on serving, finishes the requests in flight, exits by itself, and what
it leaves in flight is settled by the replica that stays. The books close."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from tests.e2e.test_replicas import (  # noqa: F401  (replicas: the fixture)
    FAST_SETTLER,
    SIM_INITIAL_CREDITS,
    Replicas,
    replicas,
    usage,
)

pytestmark = pytest.mark.e2e


def test_sigterm_drains_serves_on_finishes_in_flight_and_exits(
    replicas: Replicas,  # noqa: F811
) -> None:
    leaving, pid = replicas.start_gateway(
        DRAIN_SECONDS="2", SHUTDOWN_GRACE_SECONDS="30", SETTLER_ENABLED="false"
    )
    process = replicas.processes[-1]
    staying, _ = replicas.start_gateway(**FAST_SETTLER)
    key = replicas.team_key("alpha", "--budget", "800")
    auth = {"Authorization": f"Bearer {key}"}

    waited: list[httpx.Response] = []
    held = threading.Thread(
        target=lambda: waited.append(
            httpx.post(
                f"{leaving}/v1/images?wait=30", json={"prompt": "held"}, headers=auth, timeout=60
            )
        )
    )
    held.start()
    deadline = time.monotonic() + 10
    while replicas.upstream_creates() < 1:  # the held create has reached Rivya
        assert time.monotonic() < deadline, "the held create never reached the upstream"
        time.sleep(0.02)

    os.kill(pid, signal.SIGTERM)
    ready = httpx.get(f"{leaving}/readyz")
    while ready.status_code == 200:  # the signal is handled on the process's next loop turn
        assert time.monotonic() < deadline + 5, "readyz never said it was draining"
        ready = httpx.get(f"{leaving}/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    # Draining is not refusing: what still arrives is served.
    late = httpx.post(f"{leaving}/v1/images", json={"prompt": "late"}, headers=auth)
    assert late.status_code == 202
    assert httpx.get(f"{leaving}/healthz").status_code == 200

    held.join(timeout=40)
    [answer] = waited
    assert answer.status_code == 200, answer.text  # the held request got its finished task
    assert answer.json()["status"] == "succeeded"
    process.wait(timeout=40)  # it leaves by itself once drained
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{leaving}/healthz", timeout=1)

    # What it left in flight, the staying replica's settler settles: the books close.
    deadline = time.monotonic() + 30
    u = usage(staying, key)
    while u["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the observable outcome, bounded by the deadline
        u = usage(staying, key)
    assert (u["in_flight"], u["reserved_credits"], u["spent_credits"]) == (0, 0, 16)
    assert SIM_INITIAL_CREDITS - replicas.rivya_balance() == 16  # what Rivya charged
