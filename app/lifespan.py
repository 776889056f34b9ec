"""The app's lifespan: opens Redis and the Rivya client, and closes them on shutdown.

Startup does not wait for Redis: the process must come up (``/healthz`` 200) while Redis is
down, answer 503 ``store_unavailable`` meanwhile, and recover by itself when it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.catalog import Catalog
from app.clock import Clock
from app.container import Services, build_services
from app.errors import GatewayError
from app.logging import configure_logging
from app.metrics import Metrics
from app.services.limits import RefusedRequests
from app.settings import Settings
from app.store.channel import open_channel
from app.store.redis import close_redis, create_redis, learn_cluster_layout
from app.upstream.client import RivyaClient
from app.upstream.failures import UpstreamFailure
from app.upstream.resilience import CircuitBreaker, RetryPolicy


def make_lifespan(
    settings: Settings,
    catalog: Catalog,
    clock: Clock,
    metrics: Metrics,
    *,
    refusals: RefusedRequests | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None,
    alert_transport: httpx.AsyncBaseTransport | None = None,
    configure_logs: bool,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.log_level, secrets_of(settings))
        redis = create_redis(
            settings.redis_url,
            timeout=settings.redis_timeout_seconds,
            max_connections=settings.redis_max_connections,
        )
        await learn_cluster_layout(redis)
        # The scripts' own lean connection, for a single-node Redis (store/channel.py). When
        # Redis drops it (a restart), redis-py's idle connections are stale too: each would
        # fail its next command, so they are reopened instead.
        # Not when scripts must wait for replicas: those run through redis-py's pipelines.
        channel = (
            None
            if settings.replicas_to_wait_for
            else open_channel(
                settings.redis_url,
                timeout=settings.redis_timeout_seconds,
                on_lost=lambda: _reopen_idle_connections(redis),
            )
        )
        upstream = RivyaClient(
            base_url=settings.rivya_base_url,
            api_key=settings.org_key,
            timeout=settings.rivya_timeout_seconds,
            connect_timeout=settings.rivya_connect_timeout_seconds,
            max_connections=settings.rivya_max_connections,
            transport=upstream_transport,  # None: the production engine (upstream/http1.py)
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
        # Alerts go to ops' own receiver: a client of their own, never carrying the org key.
        alerts = (
            httpx.AsyncClient(
                transport=alert_transport,
                timeout=settings.alert_webhook_timeout_seconds,
                follow_redirects=False,
            )
            if settings.alert_webhook_url
            else None
        )
        stopping = asyncio.Event()
        settler: asyncio.Task[None] | None = None
        services: Services | None = None
        try:
            services = build_services(
                settings,
                catalog,
                redis,
                upstream,
                clock,
                metrics,
                alert_client=alerts,
                channel=channel,
                refusals=refusals,
            )
            app.state.services = services
            if settings.reconciliation_baseline_at_start:
                # The first gateway to start on a Redis sets the reconciliation baseline
                # (nothing is in flight yet); later starts keep it.
                services.aftercare.start(
                    "set the reconciliation baseline",
                    _first_baseline(services),
                    within_seconds=BACKFILL_SECONDS,
                )
            # Keys issued before admission checked an active-keys set join it (once Redis
            # answers): without this they could not create after an upgrade.
            services.aftercare.start(
                "backfill active keys",
                services.teams.backfill_active_keys,
                within_seconds=BACKFILL_SECONDS,
            )
            if settings.settler_enabled:
                settler = asyncio.create_task(
                    services.settler.run_forever(stopping), name="settler"
                )
            yield
        finally:
            stopping.set()
            try:
                if settler is not None:
                    await settler
                if services is not None:
                    await services.aftercare.aclose()
                    services.files.close()
            finally:
                await upstream.aclose()
                if alerts is not None:
                    await alerts.aclose()
                if channel is not None:
                    await channel.aclose()
                await close_redis(redis)

    return lifespan


def _reopen_idle_connections(redis: Redis) -> None:
    # Disconnected connections reconnect on their next use; those in use fail on their own.
    task = asyncio.get_running_loop().create_task(
        redis.connection_pool.disconnect(inuse_connections=False)
    )
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()  # held until done: the loop keeps weak references

BACKFILL_SECONDS = 3600.0
BASELINE_RETRY_SECONDS = 10.0
BASELINE_QUIET_WAIT_SECONDS = 600.0


def _first_baseline(services: Services) -> Callable[[], Awaitable[None]]:
    async def attempt() -> None:
        # Rivya may be down at start, or creates in flight (an upgrade under traffic): a
        # baseline taken then is uncertain by what is in flight, so wait a while for a quiet
        # moment, then take it anyway. Until shutdown, or a baseline exists.
        quiet_until = time.monotonic() + BASELINE_QUIET_WAIT_SECONDS
        while True:
            try:
                quiet = time.monotonic() < quiet_until
                if await services.reconciliation.baselines.first(wait_for_quiet=quiet):
                    return
            except (UpstreamFailure, GatewayError):
                pass
            await asyncio.sleep(BASELINE_RETRY_SECONDS)

    return attempt


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.org_key]
    for secret in (
        settings.gateway_admin_token,
        settings.gateway_token_secret,
        settings.gateway_token_previous_secret,
        settings.alert_webhook_secret,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values
