"""Schemathesis against the gateway's own OpenAPI document: every operation, as a team and as
the admin, in two profiles (a roomy team; a team with a tiny budget and rate, so 402 and 429
are answered). Every answer must be a documented status, with a documented content type, a
body matching its schema and the headers it documents; no answer is a 5xx; a refused request
moves no credit; and once every task has ended, the books close.

The gateway is served by a real uvicorn server on a loopback port (schemathesis sends real
HTTP), with a real Redis and the simulator as its upstream, on a fake clock: the fuzzer's
requests run in this thread while the server's event loop runs in a portal thread, where the
test also reads the books and drives the settler.

Cases are derandomized, so CI sends the same requests every run. ``FUZZ_EXAMPLES`` (examples
per operation and identity) and ``FUZZ_SEED`` (a seed instead of the fixed derivation) make a
longer or a different exploration locally:

    FUZZ_EXAMPLES=300 FUZZ_SEED=$RANDOM .venv/bin/pytest tests/fuzz
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.errors import FailureGroup
from schemathesis.schemas import APIOperation

from app.clock import FakeClock
from app.http_server import GATEWAY_SERVER
from app.store.keyspace import KeySpace
from app.store.redis import close_redis, create_redis
from app.store.spend import SpendStore
from tests.support import (
    Gateway,
    admin_get,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    rivya_charged,
    running_gateway,
    served,
    settle_all,
    simulator_app,
    tenant_of,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("FUZZ_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SECONDS_BETWEEN_REQUESTS = 5.0
TEAM = "fuzzed"
CREATES = ("POST /v1/images", "POST /v1/images/edits", "POST /api/v1/generations")


@dataclass(frozen=True)
class Profile:
    name: str
    team: dict[str, Any]  # the fuzzed team's policy
    gateway: dict[str, Any]  # settings of the gateway
    provokes: frozenset[int]  # answers to creates the profile exists to see

    def __str__(self) -> str:
        return self.name


PROFILES = [
    # Nothing in the way: the fuzzer's valid creates are served and paid.
    Profile(
        "roomy",
        {"budget_credits": 1_000_000, "rate_limit_per_minute": 100_000, "burst": 100_000},
        {"reads_per_minute_per_team": 100_000, "read_burst_per_team": 100_000},
        frozenset({202}),
    ),
    # One create a minute and two creates' worth of credits (the fuzzer's valid creates are of
    # the default model, 8 credits): creates meet the rate, then the budget.
    Profile(
        "tiny",
        {"budget_credits": 16, "rate_limit_per_minute": 1, "burst": 1, "max_in_flight": 2},
        {},
        frozenset({402, 429}),
    ),
]


@dataclass(frozen=True)
class Standing:
    """What a refused request must leave as it was: the team's books and Rivya's charge."""

    spent: int
    reserved: int
    in_flight: int
    charged: int


@dataclass
class Fuzzer:
    portal: BlockingPortal
    clock: FakeClock
    url: str
    key: str  # the fuzzed team's
    standing: Callable[[], Awaitable[Standing]]
    session: requests.Session
    answered: dict[str, set[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def exchange(self, case: Case[Any], headers: dict[str, str]) -> None:
        # Time passes between requests, as it does for real callers: tasks move on at the
        # simulator, and a rate limit's bucket refills.
        self.portal.call(self.clock.advance, SECONDS_BETWEEN_REQUESTS)
        before = self.portal.call(self.standing)
        response = case.call(base_url=self.url, session=self.session, headers=headers, timeout=60)
        after = self.portal.call(self.standing)
        self.answered.setdefault(case.operation.label, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if 400 <= response.status_code < 500:
            assert after == before, (response.status_code, response.text[:300], before, after)

    def fuzz(
        self, operation: APIOperation[Any, Any, Any, Any], identity: str, headers: dict[str, str]
    ) -> None:
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            *operation.get_strategies_from_examples(),  # the document's own examples
        )

        @settings(
            max_examples=EXAMPLES,
            derandomize=SEED is None,
            database=None,  # nothing remembered between runs: CI sends what it sent last time
            deadline=None,  # a real server on a shared machine: latency is not what is tested
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(case=strategy)
        def each(case: Case[Any]) -> None:
            self.exchange(case, headers)

        test: Callable[[], None] = each if SEED is None else seed(int(SEED))(each)
        try:
            test()
        except (AssertionError, FailureGroup) as failure:
            # Every operation is fuzzed even when one fails, so one run reports them all.
            self.failures.append(f"as {identity}, {operation.label}:\n{failure}")


@asynccontextmanager
async def team_standing(gw: Gateway) -> AsyncIterator[Callable[[], Awaitable[Standing]]]:
    """Reads the fuzzed team's standing through one client for the whole run (a request's
    before and after, a thousand times)."""
    settings = gw.app.state.services.settings
    redis = create_redis(settings.redis_url)
    spend = SpendStore(redis, KeySpace(settings.redis_key_prefix))
    tenant = await tenant_of(gw, TEAM)

    async def read() -> Standing:
        books = await spend.read(tenant, "total")
        return Standing(books.spent, books.reserved, books.in_flight, rivya_charged(gw.sim))

    try:
        yield read
    finally:
        await close_redis(redis)


async def public_everywhere(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


@contextmanager
def fuzzed_gateway(redis_url: str, profile: Profile) -> Iterator[Fuzzer]:
    """The gateway served, the fuzzed team with its policy and key; once the fuzzer is done,
    every task is let end and the books must close."""
    clock = FakeClock()
    stack = running_gateway(
        gateway_settings(redis_url, **profile.gateway),
        simulator_app(clock),
        clock,
        # The webhooks a fuzzed team registers: every name public, every receiver taking its
        # events at once (no network: a fuzzed address is never called).
        webhook_transport=httpx.MockTransport(lambda request: httpx.Response(204)),
        webhook_resolver=public_everywhere,
    )
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(stack) as gw,
        portal.wrap_async_context_manager(served(gw.app, **GATEWAY_SERVER)) as url,
    ):
        key = portal.call(partial(gw.team_with_key, TEAM, **profile.team))
        with (
            portal.wrap_async_context_manager(team_standing(gw)) as standing,
            requests.Session() as session,
        ):
            yield Fuzzer(portal, clock, url, key, standing, session)
        portal.call(settle_all, gw, clock)
        teams = portal.call(admin_get, gw, "/admin/teams")["data"]
        portal.call(partial(assert_books_close, gw, *(team["id"] for team in teams)))


@pytest.mark.parametrize("profile", PROFILES, ids=str)
def test_every_operation_answers_as_documented(redis_url: str, profile: Profile) -> None:
    with fuzzed_gateway(redis_url, profile) as fuzzer:
        document = fuzzer.session.get(f"{fuzzer.url}/openapi.json", timeout=10).json()
        schema = schemathesis.openapi.from_dict(document)
        operations = [operation for methods in schema.values() for operation in methods.values()]
        for identity, headers in (("team", bearer(fuzzer.key)), ("admin", admin_headers())):
            for operation in operations:
                fuzzer.fuzz(operation, identity, headers)
    assert not fuzzer.failures, "\n\n".join(fuzzer.failures)
    assert len(fuzzer.answered) == len(operations)  # each operation was called
    to_creates = set().union(*(fuzzer.answered[create] for create in CREATES))
    assert profile.provokes <= to_creates, sorted(to_creates)
