"""The fault suite: real processes (gateway, simulator, Redis) under a steady load of creates,
and something breaks: Redis restarts, the gateway is killed mid-flight, Rivya slows down, fails,
or goes away. The clients behave as the contract tells them to: each create has a
``client_request_id`` and is retried with it until it is accepted. Each test ends with the
books: one Rivya task per create, the team charged exactly what Rivya charged, nothing reserved
and nothing in flight, and no money anomaly in any gateway's log."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_processes import ADMIN
from tests.e2e.test_replicas import (
    FAST_SETTLER,
    SIM_INITIAL_CREDITS,
    Replicas,
    simulator_and_gateways,
    usage,
)
from tests.support import RedisServer

pytestmark = pytest.mark.e2e

CREDITS_PER_TASK = 8  # flux-kontext-max, the simulator's catalogue
# A create whose answer was lost is left to its request for 1 s x 1 attempt + 0 s + 5 s, and a
# killed gateway's settle leases lapse after as long: the clients' retries take over soon.
SHORT_LEASES = {
    "RIVYA_TIMEOUT_SECONDS": "1",
    "RIVYA_RETRY_ATTEMPTS": "1",
    "RIVYA_RETRY_BUDGET_SECONDS": "0",
    "SETTLER_LEASE_SECONDS": "3",
    **FAST_SETTLER,
}
# What a client may see during a fault, and retries: the store or Rivya unavailable (nothing
# sent), Rivya's answer late or a 5xx from it (outcome unknown: the client_request_id is the
# handle), the create being forwarded by another request, or no answer (the gateway died).
RETRIED = {
    "503 store_unavailable",
    "503 upstream_unavailable",
    "504 upstream_timeout",
    "502 upstream_error",
    "409 request_in_progress",
    "no answer",
}


class Load:
    """``clients`` clients creating one image after another until ``stop``; each create is
    retried with its ``client_request_id`` until the gateway accepts it."""

    def __init__(self, url: str, key: str, *, clients: int = 4, give_up_after: float = 60) -> None:
        self.url, self.key, self.clients = url, key, clients
        self.accepted: dict[str, str] = {}  # client_request_id -> task id
        self.answers: Counter[str] = Counter()
        self.stop = threading.Event()
        self._deadline = time.monotonic() + give_up_after
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(timeout=90)
        assert not self._thread.is_alive(), "a client never got its create accepted"

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            await asyncio.gather(*(self._client(http, n) for n in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient, n: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            crid = f"c{n}-{sequence}"
            sequence += 1
            self.accepted[crid] = await self._until_accepted(http, crid)
            # Pacing: a steady load, not a flood, and clients out of step with each other.
            await asyncio.sleep(0.03 + 0.01 * n)

    async def _until_accepted(self, http: httpx.AsyncClient, crid: str) -> str:
        body = {"prompt": f"fault suite {crid}", "client_request_id": crid}
        while True:
            assert time.monotonic() < self._deadline, (crid, self.answers)
            try:
                answer = await http.post(
                    f"{self.url}/v1/images",
                    json=body,
                    headers={"Authorization": f"Bearer {self.key}"},
                )
            except httpx.TransportError:
                self.answers["no answer"] += 1
                await asyncio.sleep(0.1)
                continue
            if answer.status_code in (200, 202):
                self.answers["accepted"] += 1
                task_id: str = answer.json()["id"]
                return task_id
            kind = f"{answer.status_code} {answer.json()['error']['code']}"
            self.answers[kind] += 1
            assert kind in RETRIED, answer.text
            # The client's own backoff, as Retry-After asks (capped to keep the test short).
            await asyncio.sleep(min(float(answer.headers.get("retry-after", "0.1")), 0.5))

    def wait_for(self, creates: int, *, within: float = 30) -> None:
        """Until ``creates`` more creates than now have been accepted."""
        target = len(self.accepted) + creates
        until(lambda: len(self.accepted) >= target, within, lambda: dict(self.answers))


def until(condition: Callable[[], bool], within: float, state: Callable[[], object]) -> None:
    """Poll real processes for an observable outcome, bounded by a deadline."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, state()
        time.sleep(0.05)


def ready_status(url: str) -> int:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code
    except httpx.TransportError:
        return 0


def at_rivya(stack: Replicas, load: Load) -> None:
    """Until a create has reached Rivya and not yet been answered to its client."""
    until(lambda: stack.upstream_creates() > len(load.accepted), 30, lambda: dict(load.answers))


def resent_creates(stack: Replicas) -> int:
    """Creates Rivya received more than once (the same upstream Idempotency-Key): a create
    whose outcome the fault hid, sent again, and answered with the task Rivya had made."""
    log = httpx.get(f"{stack.sim_url}/_sim/requests", timeout=5).json()["data"]
    keys = Counter(
        r["headers"].get("idempotency-key")
        for r in log
        if r["method"] == "POST" and r["path"] == "/api/v1/generations"
    )
    return sum(1 for count in keys.values() if count > 1)


def assert_books_close(stack: Replicas, url: str, key: str, load: Load) -> None:
    """Once everything has settled: one Rivya task per accepted create, and the team charged
    exactly what Rivya charged, with nothing reserved and nothing in flight."""
    until(lambda: usage(url, key)["in_flight"] == 0, 60, lambda: usage(url, key))
    tasks = set(load.accepted.values())
    assert len(tasks) == len(load.accepted)  # no two creates share a task
    rivya_charged = SIM_INITIAL_CREDITS - stack.rivya_balance()
    assert rivya_charged == CREDITS_PER_TASK * len(tasks)  # no task lost, none made twice
    books = usage(url, key)
    assert (books["spent_credits"], books["reserved_credits"]) == (rivya_charged, 0)
    assert not [line for line in gateway_logs(stack) if "anomaly" in line["msg"]]


def gateway_logs(stack: Replicas) -> list[dict[str, Any]]:
    """Every gateway's log lines, killed ones' included."""
    return [
        json.loads(line)
        for log in sorted(stack.tmp.glob("gw-*.log"))
        for line in log.read_text().splitlines()
        if line[:1] == "{"
    ]


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    server = RedisServer(durable=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def faults(durable_redis: RedisServer, tmp_path: Path) -> Iterator[Replicas]:
    yield from simulator_and_gateways(durable_redis, tmp_path)


def roomy_key(stack: Replicas) -> str:
    return stack.team_key(
        "alpha", "--budget", "1000000", "--rate", "100000", "--max-in-flight", "10000"
    )


def test_redis_restarted_under_load_fails_closed_then_recovers_and_loses_nothing(
    faults: Replicas, durable_redis: RedisServer
) -> None:
    # Rivya answers 0.1 s late, so when Redis goes, creates are at Rivya with their record to
    # come: their outcome is unknown to the gateway until Redis is back.
    httpx.post(f"{faults.sim_url}/_sim/faults", json={"latency_ms": 100}).raise_for_status()
    url, pid = faults.start_gateway(**SHORT_LEASES, REDIS_TIMEOUT_SECONDS="0.5")
    key = roomy_key(faults)
    with Load(url, key) as load:
        load.wait_for(20)
        at_rivya(faults, load)
        durable_redis.crash()  # while a create is at Rivya, its record to come
        # Fails closed: refused with nothing sent, and not ready, while Redis is away.
        until(
            lambda: load.answers["503 store_unavailable"] > 0 and ready_status(url) == 503,
            30,
            lambda: dict(load.answers),
        )
        accepted_during_outage = len(load.accepted)
        durable_redis.start()  # the same port and data (appendonly, fsync always)
        # Recovers by itself: the same process, ready again, accepting creates.
        load.wait_for(20)
        assert ready_status(url) == 200
        assert faults.processes[-1].pid == pid  # the same process: it was never restarted
        assert faults.processes[-1].poll() is None
    assert len(load.accepted) > accepted_during_outage
    # Creates caught at Rivya when Redis went: answered with their task, recorded once it was
    # back (the books below prove it).
    assert [
        line for line in gateway_logs(faults) if line["msg"] == "task made but not yet recorded"
    ]
    assert_books_close(faults, url, key, load)


def test_a_gateway_killed_mid_flight_and_restarted_settles_everything(faults: Replicas) -> None:
    # Rivya answers each call 0.2 s late, so at any moment creates are inside the gateway:
    # being admitted, at Rivya, or being recorded.
    httpx.post(f"{faults.sim_url}/_sim/faults", json={"latency_ms": 200}).raise_for_status()
    url, _ = faults.start_gateway(**SHORT_LEASES)
    port = int(url.rsplit(":", 1)[1])
    key = roomy_key(faults)
    with Load(url, key, clients=6) as load:
        load.wait_for(15)
        at_rivya(faults, load)
        faults.processes[-1].send_signal(signal.SIGKILL)  # no shutdown of any kind
        faults.processes[-1].wait(timeout=10)
        until(lambda: load.answers["no answer"] > 0, 30, lambda: dict(load.answers))
        faults.start_gateway_at(port, SHORT_LEASES)  # its replacement, at the same address
        load.wait_for(15, within=60)
    assert resent_creates(faults) > 0  # the killed gateway's creates were finished, not lost
    assert_books_close(faults, url, key, load)


def set_rivya_faults(stack: Replicas, **faults: object) -> None:
    httpx.post(f"{stack.sim_url}/_sim/faults", json=faults, timeout=5).raise_for_status()


def rivya_faults(stack: Replicas) -> dict[str, Any]:
    faults: dict[str, Any] = httpx.get(f"{stack.sim_url}/_sim/faults", timeout=5).json()
    return faults


BREAKER = {"CIRCUIT_BREAKER_THRESHOLD": "3", "CIRCUIT_BREAKER_COOLDOWN_SECONDS": "1"}


def test_rivya_down_opens_the_circuit_then_the_gateway_recovers_by_itself(
    faults: Replicas,
) -> None:
    url, _ = faults.start_gateway(**SHORT_LEASES, **BREAKER)
    key = roomy_key(faults)
    with Load(url, key) as load:
        load.wait_for(20)
        set_rivya_faults(faults, error_status=503, error_count=1_000_000)  # every call
        until(lambda: load.answers["503 upstream_unavailable"] >= 5, 30, lambda: load.answers)
        # The circuit is open: creates are refused at once, nothing sent, but for one probe a
        # cooldown (1 s): far fewer creates reach Rivya than are refused.
        sent, refused = faults.upstream_creates(), load.answers["503 upstream_unavailable"]
        until(
            lambda: load.answers["503 upstream_unavailable"] >= refused + 30,
            30,
            lambda: load.answers,
        )
        assert faults.upstream_creates() - sent < 10
        assert httpx.get(f"{url}/readyz").json()["checks"]["rivya_circuit"] == "open"
        set_rivya_faults(faults, error_count=0)
        load.wait_for(20)  # a probe closed the circuit; creates flow again
    assert_books_close(faults, url, key, load)


def test_rivya_slow_past_the_timeout_then_fast_again_finishes_every_create(
    faults: Replicas,
) -> None:
    url, _ = faults.start_gateway(**SHORT_LEASES, **BREAKER)
    key = roomy_key(faults)
    with Load(url, key) as load:
        load.wait_for(20)
        # Slower than RIVYA_TIMEOUT_SECONDS (1): the gateway gives up on answers Rivya still
        # acts on (it makes the task, and takes the credits, after the gateway stopped waiting).
        set_rivya_faults(faults, latency_ms=1500)
        until(lambda: load.answers["504 upstream_timeout"] >= 4, 30, lambda: load.answers)
        set_rivya_faults(faults, latency_ms=0)
        load.wait_for(20, within=60)
    # Creates Rivya made while the gateway no longer waited were found again by their resend
    # with the same upstream key: one task each, charged once.
    assert resent_creates(faults) > 0
    assert_books_close(faults, url, key, load)


def test_rivya_erroring_makes_no_create_lost_or_doubled(faults: Replicas) -> None:
    url, _ = faults.start_gateway(**SHORT_LEASES, **BREAKER)
    key = roomy_key(faults)
    with Load(url, key) as load:
        load.wait_for(20)
        # A 500 may come after Rivya acted: each such create's outcome is unknown, and its retry
        # resends it with the same upstream key.
        # (Three in a row also open the circuit for a second.)
        set_rivya_faults(faults, error_status=500, error_count=6, error_method="POST")
        until(
            lambda: (
                rivya_faults(faults)["error_count"] == 0 and load.answers["502 upstream_error"] > 0
            ),
            30,
            lambda: load.answers,
        )
        load.wait_for(20, within=60)
    assert resent_creates(faults) > 0
    assert_books_close(faults, url, key, load)


def test_redis_losing_its_data_shows_in_readiness_and_the_reconciliation(
    faults: Replicas, durable_redis: RedisServer
) -> None:
    """The books cannot close once Redis forgets them; what must hold is that the loss is
    seen, and that the reconciliation counts exactly the credits the books no longer show."""
    url, _ = faults.start_gateway(**FAST_SETTLER)  # it takes the reconciliation baseline
    key = roomy_key(faults)
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def reconciliation() -> dict[str, Any]:
        report: dict[str, Any] = httpx.get(f"{url}/admin/upstream", headers=admin).json()
        return report

    until(lambda: reconciliation()["baseline"] is not None, 30, reconciliation)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        for n in range(3):
            assert http.post("/v1/images", json={"prompt": f"p{n}"}).status_code == 202
        until(lambda: usage(url, key)["in_flight"] == 0, 30, lambda: usage(url, key))
        assert reconciliation()["drift_credits"] == 0  # the books match Rivya
        assert http.post("/v1/images", json={"prompt": "in flight"}).status_code == 202

        durable_redis.flush()  # Redis keeps running, without the gateway's data

        readiness = httpx.get(f"{url}/readyz").json()
        assert readiness["checks"]["redis_data"] == "lost"
        assert http.get("/v1/usage").status_code == 401  # the team and its keys went too
    report = reconciliation()
    rivya_charged = SIM_INITIAL_CREDITS - faults.rivya_balance()
    assert rivya_charged == 4 * CREDITS_PER_TASK
    # Every credit Rivya took since the baseline, settled or in flight, is off the books now.
    assert report["drift_credits"] == report["unexplained_credits"] == rivya_charged
    assert report["baseline"]["restored_at"] is not None
    assert "lost" in report["explanation"]
