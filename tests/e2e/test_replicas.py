"""Two gateway processes sharing one Redis behave as one gateway: budgets, rate limits and
in-flight caps hold across them, and a killed gateway's tasks are settled by the next one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_processes import ORG_KEY, Stack
from tests.support import RedisServer, free_port

pytestmark = pytest.mark.e2e

SIM_INITIAL_CREDITS = 100_000  # the simulator's starting balance (its default)
FAST_SETTLER = {
    "SETTLER_FIRST_POLL_MIN_SECONDS": "0.2",
    "SETTLER_FIRST_POLL_MAX_SECONDS": "0.3",
    "SETTLER_POLL_MIN_SECONDS": "0.2",
    "SETTLER_POLL_MAX_SECONDS": "0.3",
    "SETTLER_TICK_SECONDS": "0.05",
}


class Replicas(Stack):
    def __init__(self, redis: RedisServer, tmp: Path) -> None:
        super().__init__(redis, tmp)
        self.gateways: list[str] = []

    def start_gateway(self, **env: str) -> tuple[str, int]:
        return self.start_gateway_at(free_port(), env)

    def start_gateway_at(self, port: int, env: dict[str, str]) -> tuple[str, int]:
        """A gateway on ``port`` (a killed one's, to take its place), with ``env`` on top."""
        url = f"http://127.0.0.1:{port}"
        saved = dict(self.env)
        self.env.update(env)
        self.start(
            ["serve", "--port", str(port)],
            self.tmp / f"gw-{len(self.gateways)}-{port}.log",
            f"{url}/readyz",
        )
        self.env = saved
        self.gateways.append(url)
        return url, self.processes[-1].pid

    def team_key(self, team: str, *flags: str) -> str:
        created = self.cli("teams", "create", team, *flags)
        assert created.returncode == 0, created.stderr
        key: str = json.loads(self.cli("keys", "create", team, "--json").stdout)["key"]
        return key

    def rivya_balance(self) -> int:
        answer = httpx.get(
            f"{self.sim_url}/api/v1/credits", headers={"Authorization": f"Bearer {ORG_KEY}"}
        )
        balance: int = answer.json()["current_credits"]
        return balance

    def upstream_creates(self) -> int:
        log = httpx.get(f"{self.sim_url}/_sim/requests").json()["data"]
        return sum(1 for r in log if r["method"] == "POST" and r["path"] == "/api/v1/generations")


@pytest.fixture
def replicas(redis_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Replicas]:
    yield from simulator_and_gateways(redis_server, tmp_path)


def simulator_and_gateways(redis: RedisServer, tmp_path: Path) -> Iterator[Replicas]:
    """The simulator running, gateways started by the test; everything stopped afterwards."""
    stack = Replicas(redis, tmp_path)
    sim_port = stack.sim_url.rsplit(":", 1)[1]
    try:
        stack.start(
            ["simulator", "--port", sim_port],
            tmp_path / "sim.log",
            f"{stack.sim_url}/api/v1/models",
        )
        yield stack
    finally:
        stack.stop()


async def burst_of_creates(urls: list[str], key: str, count: int) -> list[int]:
    """``count`` creates at once, spread over the gateways in turn."""
    async with httpx.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{urls[i % len(urls)]}/v1/images",
                    json={"prompt": f"p{i}"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                for i in range(count)
            )
        )
    return [r.status_code for r in responses]


def usage(url: str, key: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(
        f"{url}/v1/usage", headers={"Authorization": f"Bearer {key}"}
    ).json()
    return data


def test_a_budget_holds_across_two_gateways(replicas: Replicas) -> None:
    a, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    b, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    key = replicas.team_key("alpha", "--budget", "80", "--rate", "10000", "--max-in-flight", "1000")
    statuses = asyncio.run(burst_of_creates([a, b], key, 40))
    assert statuses.count(202) == 10
    assert statuses.count(402) == 30
    assert replicas.upstream_creates() == 10
    u = usage(a, key)
    assert u["reserved_credits"] + u["spent_credits"] == 80


def test_rate_limit_and_in_flight_cap_hold_across_two_gateways(replicas: Replicas) -> None:
    a, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    b, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    rated = replicas.team_key("rated", "--rate", "1", "--burst", "5")
    statuses = asyncio.run(burst_of_creates([a, b], rated, 20))
    assert (statuses.count(202), statuses.count(429)) == (5, 15)

    capped = replicas.team_key("capped", "--rate", "10000", "--max-in-flight", "3")
    statuses = asyncio.run(burst_of_creates([a, b], capped, 20))
    assert (statuses.count(202), statuses.count(429)) == (3, 17)
    assert replicas.upstream_creates() == 8


def test_a_killed_gateways_tasks_are_settled_after_restart(replicas: Replicas) -> None:
    first, pid = replicas.start_gateway(SETTLER_ENABLED="false")
    key = replicas.team_key("alpha", "--budget", "1000")
    statuses = asyncio.run(burst_of_creates([first], key, 5))
    assert statuses == [202] * 5
    assert usage(first, key)["in_flight"] == 5
    os.kill(pid, signal.SIGKILL)  # no shutdown of any kind
    replicas.processes[-1].wait(timeout=10)

    second, _ = replicas.start_gateway(**FAST_SETTLER)
    deadline = time.monotonic() + 20
    u = usage(second, key)
    while u["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the observable outcome, bounded by the deadline
        u = usage(second, key)
    assert (u["in_flight"], u["reserved_credits"], u["spent_credits"]) == (0, 0, 40)


def test_thirty_concurrent_repeats_across_two_gateways_make_one_task(replicas: Replicas) -> None:
    a, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    b, _ = replicas.start_gateway(SETTLER_ENABLED="false")
    key = replicas.team_key("alpha", "--budget", "1000", "--rate", "10000")

    async def repeats() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        f"{(a, b)[i % 2]}/v1/images",
                        json={"prompt": "same", "client_request_id": "order-42"},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    for i in range(30)
                )
            )

    responses = asyncio.run(repeats())
    # Up to IDEMPOTENCY_WAITERS_PER_TEAM (8) repeats wait per gateway for the first's task;
    # the rest are told to come back (409 request_in_progress), and do.
    assert {r.status_code for r in responses} <= {202, 409}
    told = [r for r in responses if r.status_code == 409]
    assert all(r.json()["error"]["code"] == "request_in_progress" for r in told)
    assert all(int(r.headers["retry-after"]) >= 1 for r in told)
    again = asyncio.run(repeats())
    assert {r.status_code for r in again} == {202}
    ids = {r.json()["id"] for r in [*responses, *again] if r.status_code == 202}
    assert len(ids) == 1
    assert replicas.upstream_creates() == 1
    u = usage(a, key)
    assert u["reserved_credits"] + u["spent_credits"] == 8


def test_a_revoked_key_makes_no_paid_create_on_either_gateway(replicas: Replicas) -> None:
    # Both gateways cache keys for a minute; the admission script still sees the revoke at once.
    a, _ = replicas.start_gateway(SETTLER_ENABLED="false", KEY_CACHE_SECONDS="60")
    b, _ = replicas.start_gateway(SETTLER_ENABLED="false", KEY_CACHE_SECONDS="60")
    key = replicas.team_key("alpha", "--rate", "10000", "--max-in-flight", "1000")
    assert asyncio.run(burst_of_creates([a, b], key, 4)) == [202] * 4  # cached on both
    [entry] = json.loads(replicas.cli("keys", "list", "alpha", "--json").stdout)
    assert replicas.cli("keys", "revoke", entry["key_id"]).returncode == 0
    statuses = asyncio.run(burst_of_creates([a, b], key, 10))
    assert statuses == [401] * 10
    assert replicas.upstream_creates() == 4


def test_reads_and_waits_on_two_gateways_cost_rivya_only_the_poll_schedule(
    replicas: Replicas,
) -> None:
    a, _ = replicas.start_gateway()
    b, _ = replicas.start_gateway()
    key = replicas.team_key("alpha", "--rate", "10000", "--max-in-flight", "1000")
    auth = {"Authorization": f"Bearer {key}"}
    ids = [
        httpx.post(f"{a}/v1/images", json={"prompt": f"p{i}"}, headers=auth).json()["id"]
        for i in range(5)
    ]

    async def readers() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as http:
            waits = [
                http.get(f"{(a, b)[i % 2]}/v1/images/{ids[i % 5]}?wait=10", headers=auth)
                for i in range(30)
            ]
            reads = [
                http.get(f"{(a, b)[i % 2]}/v1/images/{ids[i % 5]}", headers=auth) for i in range(50)
            ]
            credits = [http.get(f"{(a, b)[i % 2]}/api/v1/credits", headers=auth) for i in range(20)]
            answers = await asyncio.gather(*waits, *reads, *credits)
        return [r.status_code for r in answers]

    statuses = asyncio.run(readers())
    assert set(statuses[:30]) == {200}  # every wait saw its task end
    log = httpx.get(f"{replicas.sim_url}/_sim/requests").json()["data"]
    polls = [r for r in log if r["method"] == "GET" and "/generations/" in r["path"]]
    balance = [r for r in log if r["path"] == "/api/v1/credits"]
    # 100 reads became at most the schedule's polls (first at 2-3 s; these tasks end in 0.6 s)
    # and one balance call per gateway, besides the one the first gateway's start-up
    # reconciliation baseline makes (a fresh balance, never the cached one).
    assert len(polls) <= 2 * len(ids), len(polls)
    assert len(balance) <= 3


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_two_gateways_add_up_and_agree_with_the_api(replicas: Replicas) -> None:
    # Each scrape asks Rivya's balance afresh (by default it is reused for 10 s).
    a, _ = replicas.start_gateway(**FAST_SETTLER, ORG_BALANCE_CACHE_SECONDS="0")
    b, _ = replicas.start_gateway(**FAST_SETTLER, ORG_BALANCE_CACHE_SECONDS="0")
    key = replicas.team_key("alpha", "--budget", "80", "--rate", "10000", "--max-in-flight", "1000")
    statuses = asyncio.run(burst_of_creates([a, b], key, 12))
    assert statuses.count(202) == 10  # the budget holds ten
    deadline = time.monotonic() + 20
    while usage(a, key)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the settlers of both end every task
    api = usage(a, key)
    team = (("period", "month"), ("team", "alpha"))
    created = (("route", "/v1/images"), ("status", "202"), ("team", "alpha"))
    refused = (("reason", "budget_exceeded"), ("team", "alpha"))
    per_gateway = [scrape(url) for url in (a, b)]
    for samples in per_gateway:  # figures from Redis: the same on every replica, and the API's
        assert samples[("gateway_team_spent_credits", team)] == api["spent_credits"] == 80
        assert samples[("gateway_team_reserved_credits", team)] == 0
        assert samples[("gateway_team_in_flight", (("team", "alpha"),))] == 0
        model = (("model", "flux-kontext-max"), ("team", "alpha"))
        assert samples[("gateway_credits_settled_total", model)] == 80
        assert samples[("gateway_credits_reserved_total", model)] == 80
        reserves = (("event", "reserve"), ("team", "alpha"))
        assert samples[("gateway_ledger_events_total", reserves)] == 10
        assert samples[("gateway_rivya_balance_credits", ())] == replicas.rivya_balance()
        assert samples[("gateway_reconciliation_drift_credits", ())] == 0
    # Per-process counters: summed across replicas, they count every request once.
    assert sum(s.get(("gateway_requests_total", created), 0) for s in per_gateway) == 10
    assert sum(s.get(("gateway_refusals_total", refused), 0) for s in per_gateway) == 2


def test_a_browser_tokens_cap_and_its_users_rate_hold_across_two_gateways(
    replicas: Replicas,
) -> None:
    secret = {"GATEWAY_TOKEN_SECRET": "e2e-token-signing-secret-0123456789abcdef"}
    a, _ = replicas.start_gateway(**FAST_SETTLER, **secret)
    b, _ = replicas.start_gateway(**FAST_SETTLER, **secret)
    key = replicas.team_key(
        "web", "--rate", "10000", "--max-in-flight", "1000", "--subject-rate", "4"
    )

    def mint(subject: str, **body: Any) -> str:
        answer = httpx.post(
            f"{b}/v1/tokens",
            json={"subject": subject, **body},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token

    capped = mint("user-ann", max_credits=24)  # three tasks of 8
    statuses = asyncio.run(burst_of_creates([a, b], capped, 12))
    assert sorted(statuses) == [202] * 3 + [402] * 9
    limited = asyncio.run(burst_of_creates([a, b], mint("user-bob"), 12))
    assert sorted(limited) == [202] * 4 + [429] * 8  # bursts of the per-user rate
    deadline = time.monotonic() + 20
    while usage(a, key)["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the settlers of both end every task
    spent = usage(b, capped)
    assert (spent["spent_credits"], spent["reserved_credits"], spent["remaining_credits"]) == (
        24,
        0,
        0,
    )
    team = usage(a, key)
    assert (team["spent_credits"], team["reserved_credits"]) == (56, 0)
    assert SIM_INITIAL_CREDITS - replicas.rivya_balance() == 56  # what Rivya charged
