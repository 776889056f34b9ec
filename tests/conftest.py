"""Shared fixtures: one real redis-server per session (flushed per test), a fake clock, the
simulator as upstream, and gateways built with ``create_app``."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from app.clock import FakeClock
from app.logging import JsonFormatter, Redactor
from tests.support import (
    ADMIN_TOKEN,
    ORG_KEY,
    Gateway,
    RedisClusterNodes,
    RedisSentinelSet,
    RedisServer,
    forget_apps,
    gateway_settings,
    running_gateway,
    simulator_app,
    token_settings,
)


@pytest.fixture(autouse=True)
def _forget_apps() -> Iterator[None]:
    yield
    forget_apps()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.process is None:  # a test stopped it; bring it back for the next one
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_app(clock: FakeClock) -> FastAPI:
    return simulator_app(clock)


@pytest.fixture
async def token_gateway(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> AsyncIterator[Gateway]:
    """A gateway that mints browser tokens (GATEWAY_TOKEN_SECRET set)."""
    async with running_gateway(token_settings(redis_url), sim_app, clock) as gw:
        yield gw


@pytest.fixture
async def gateway(redis_url: str, sim_app: FastAPI, clock: FakeClock) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(redis_url), sim_app, clock) as gw:
        yield gw


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelSet]:
    sentinel = RedisSentinelSet()
    sentinel.start()
    yield sentinel
    sentinel.stop()


@pytest.fixture(params=["cluster", "sentinel"])
def topology_url(request: pytest.FixtureRequest) -> str:
    """A real Redis Cluster or a real Sentinel set, flushed: the highly available Redis
    topologies the gateway supports besides a single node."""
    topology: RedisClusterNodes | RedisSentinelSet = request.getfixturevalue(
        "redis_cluster" if request.param == "cluster" else "redis_sentinel"
    )
    topology.flush()
    return topology.url


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log record of the test, formatted exactly as production writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Redactor([ORG_KEY, ADMIN_TOKEN])))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)
