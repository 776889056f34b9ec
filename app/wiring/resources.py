"""What the process holds open while it serves: the Redis pool (and the scripts' own lean
connection), the Rivya client (its one engine over the network, or over what a test puts under
it), the alert webhook's client, the teams' webhooks' client and the client Rivya's result
files are fetched with. Opened
without waiting for Redis: the process must come up (``/healthz`` 200) while Redis is down,
answer 503 ``store_unavailable`` meanwhile, and recover by itself when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis

from app.clock import Clock
from app.metrics import Metrics
from app.services.webhook_targets import Resolver, system_resolver
from app.settings import Settings
from app.store.channel import ScriptChannel, open_channel
from app.store.redis import close_redis, create_redis, learn_cluster_layout
from app.upstream.client import RivyaClient
from app.upstream.connect import Connector, NetworkConnector
from app.upstream.downloads import download_client
from app.upstream.resilience import CircuitBreaker, RetryPolicy


@dataclass(frozen=True)
class Resources:
    redis: Redis
    channel: ScriptChannel | None
    upstream: RivyaClient
    alerts: httpx.AsyncClient | None  # ops' own receiver: never carrying the org key
    downloads: httpx.AsyncClient  # Rivya's result files: never carrying the org key
    webhooks: httpx.AsyncClient  # the teams' receivers: never carrying a key
    resolver: Resolver  # the teams' webhooks' names, to addresses (checked before each call)


@dataclass(frozen=True)
class Seams:
    """What tests put under the clients (None: the network). Under the Rivya client's one
    engine, a connector (``upstream/connect.py``); under the alert client (httpx, to ops' own
    receiver), an httpx transport."""

    upstream: Connector | None = None
    alerts: httpx.AsyncBaseTransport | None = None
    downloads: httpx.AsyncBaseTransport | None = None  # under the result files' client
    webhooks: httpx.AsyncBaseTransport | None = None  # under the teams' webhooks' client
    resolver: Resolver | None = None  # the webhooks' names to addresses (None: the system's)


@asynccontextmanager
async def opened(
    settings: Settings, clock: Clock, metrics: Metrics, seams: Seams
) -> AsyncIterator[Resources]:
    async with AsyncExitStack() as stack:
        redis = create_redis(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            max_connections=settings.redis_max_connections,
        )
        stack.push_async_callback(close_redis, redis)
        await learn_cluster_layout(redis)
        channel = _channel(settings, redis)
        if channel is not None:
            stack.push_async_callback(channel.aclose)
        alerts = _alert_client(settings, seams.alerts)
        if alerts is not None:
            stack.push_async_callback(alerts.aclose)
        upstream = rivya_client(settings, clock, metrics, seams.upstream)
        stack.push_async_callback(upstream.aclose)
        downloads = download_client(seams.downloads, timeout=settings.rivya_timeout_seconds)
        stack.push_async_callback(downloads.aclose)
        webhooks = _webhook_client(settings, seams.webhooks)
        stack.push_async_callback(webhooks.aclose)
        resolver = seams.resolver or system_resolver
        yield Resources(redis, channel, upstream, alerts, downloads, webhooks, resolver)


def rivya_client(
    settings: Settings, clock: Clock, metrics: Metrics, connector: Connector | None
) -> RivyaClient:
    if connector is None:  # the network: RIVYA_CA_FILE's trust, RIVYA_PROXY_URL's tunnel
        connector = NetworkConnector(ssl_context=settings.rivya_trust(), proxy=settings.rivya_proxy)
    return RivyaClient(
        base_url=settings.rivya_base_url,
        api_key=settings.org_key,
        timeout=settings.rivya_timeout_seconds,
        connect_timeout=settings.rivya_connect_timeout_seconds,
        max_connections=settings.rivya_max_connections,
        connector=connector,
        clock=clock,
        metrics=metrics,
        retry=RetryPolicy(
            attempts=settings.rivya_retry_attempts,
            budget_seconds=settings.rivya_retry_budget_seconds,
        ),
        breaker=CircuitBreaker(
            clock,
            threshold=settings.circuit_breaker_threshold,
            cooldown=settings.circuit_breaker_cooldown_seconds,
        ),
    )


def _channel(settings: Settings, redis: Redis) -> ScriptChannel | None:
    """The scripts' own lean connection, for a single-node Redis (store/channel.py). Not when
    scripts must wait for replicas: those run through redis-py's pipelines."""
    if settings.replicas_to_wait_for:
        return None
    return open_channel(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        on_lost=IdleConnections(redis).reopen,
    )


@dataclass
class IdleConnections:
    """When Redis drops the channel (a restart), redis-py's idle connections are stale too:
    each would fail its next command, so they are reopened instead."""

    redis: Redis
    _reopening: set[asyncio.Task[None]] = field(default_factory=set)

    def reopen(self) -> None:
        # Disconnected connections reconnect on their next use; those in use fail on their own.
        task = asyncio.get_running_loop().create_task(
            self.redis.connection_pool.disconnect(inuse_connections=False)
        )
        self._reopening.add(task)  # held until done: the loop keeps weak references
        task.add_done_callback(self._reopening.discard)


def _alert_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient | None:
    if not settings.alert_webhook_url:
        return None
    return httpx.AsyncClient(
        transport=transport, timeout=settings.alert_webhook_timeout_seconds, follow_redirects=False
    )


def _webhook_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """No redirects (a target is checked, not where it sends us), no proxy or credentials from
    the environment, a short timeout, and connections bounded like the deliveries."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=settings.webhook_deliveries_at_once),
    )
