"""The app's lifespan: opens what the process holds (``wiring/resources.py``), builds the
services over it (``wiring/services.py``), runs the background jobs while the app serves, and
stops and closes it all on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from app.catalog import Catalog
from app.clock import Clock
from app.errors import GatewayError
from app.logging import configure_logging
from app.metrics import Metrics
from app.pauses import PauseWatch
from app.services.answered import FLUSH_SECONDS, Tallies
from app.services.limits import RefusedRequests
from app.settings import Settings
from app.upstream.failures import UpstreamFailure
from app.wiring.resources import Seams, opened
from app.wiring.services import Services, build_services

log = logging.getLogger("app.lifespan")

BACKFILL_SECONDS = 3600.0
BASELINE_RETRY_SECONDS = 10.0
BASELINE_QUIET_WAIT_SECONDS = 600.0
GC_YOUNG_THRESHOLD = 10_000


@dataclass(frozen=True)
class Ingredients:
    """What ``create_app`` already made and the lifespan builds the services from."""

    settings: Settings
    catalog: Catalog
    clock: Clock
    metrics: Metrics
    refusals: RefusedRequests
    tallies: Tallies
    seams: Seams
    configure_logs: bool


def make_lifespan(
    made: Ingredients,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = made.settings
        if made.configure_logs:
            configure_logging(settings.log_level, settings.secrets)
        async with opened(settings, made.clock, made.metrics, made.seams) as resources:
            services = build_services(
                settings,
                made.catalog,
                resources,
                made.clock,
                made.metrics,
                made.refusals,
                made.tallies,
            )
            app.state.services = services
            # What starting made (the app, its routes, pydantic's validators, the catalogue:
            # most of the heap) lives as long as the process: frozen, a full collection need
            # not scan it again (issue 26: full collections had paused creates 75-100 ms).
            gc.collect()
            gc.freeze()
            # A create's objects are freed by their counts, not by the collector; at the
            # default threshold (700) the objects of the creates in flight alone set off a
            # collection every ~20 creates (3 % of a create's CPU), promoting them to be
            # scanned again. At 10,000, under load it hardly runs (bench/README.md).
            gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
            async with _background_jobs(services), PauseWatch(made.metrics).watching():
                yield

    return lifespan


def services_of(app: FastAPI) -> Services:
    """The services the lifespan built for ``app``."""
    services: Services = app.state.services
    return services


@asynccontextmanager
async def _background_jobs(services: Services) -> AsyncIterator[None]:
    settings, stopping = services.settings, asyncio.Event()
    settler: asyncio.Task[None] | None = None
    answered: asyncio.Task[None] | None = None
    news: asyncio.Task[None] | None = None
    try:
        if settings.reconciliation_baseline_at_start:
            # The first gateway to start on a Redis sets the reconciliation baseline (nothing
            # is in flight yet); later starts keep it.
            services.unfinished_writes.start(
                "set the reconciliation baseline",
                _first_baseline(services),
                within_seconds=BACKFILL_SECONDS,
                chore=True,
            )
        # Keys issued before admission checked an active-keys set join it (once Redis
        # answers): without this they could not create after an upgrade.
        services.unfinished_writes.start(
            "backfill active keys",
            services.teams.backfill_active_keys,
            within_seconds=BACKFILL_SECONDS,
            chore=True,
        )
        _start_hints(services)
        if settings.settler_enabled:
            settler = asyncio.create_task(services.settler.run_forever(stopping), name="settler")
        answered = asyncio.create_task(_flush_answered(services, stopping), name="answered")
        news = asyncio.create_task(_task_news(services, stopping), name="task news")
        yield
    finally:
        stopping.set()
        try:
            if settler is not None:
                await settler
        finally:
            if answered is not None:
                await answered
            if news is not None:  # it only listens: stopped at once, not at its next look
                news.cancel()
                await asyncio.gather(news, return_exceptions=True)
            await services.unfinished_writes.aclose()
            await services.results.aclose()  # copies being kept from links read through
            services.files.close()


async def _flush_answered(services: Services, stopping: asyncio.Event) -> None:
    """Refusal counts and request records to Redis, about once a second, and once more at the
    end. Real time: this only paces the writes."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=FLUSH_SECONDS)
        try:
            await services.answered.flush()
        except Exception:  # a bug here must not end the flushing, nor the shutdown
            log.exception("writing refusal counts and request records failed")


async def _task_news(services: Services, stopping: asyncio.Event) -> None:
    """Other replicas' news of tasks' ends wakes this one's waiters (store/task_news.py)."""
    settlement = services.tasks.settlement
    if settlement.news is not None:
        await settlement.news.listen(settlement.updates.wake, stopping)


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


def _start_hints(services: Services) -> None:
    """Rivya's webhook, as hints: registered at Rivya (once it answers) when asked to."""
    settings = services.settings
    target = settings.rivya_webhook_target
    if target is None or services.rivya_hints is None:
        return
    if settings.rivya_webhook_token is None:
        log.warning(
            "RIVYA_WEBHOOK_URL without RIVYA_WEBHOOK_TOKEN: whoever reaches /webhooks/rivya "
            "can have tasks polled early (each at most once per RIVYA_HINT_MIN_SECONDS)"
        )
    if settings.rivya_webhook_register:
        services.unfinished_writes.start(
            "register the gateway's webhook at Rivya",
            _register_hints(services, target),
            within_seconds=BACKFILL_SECONDS,
            chore=True,
        )


def _register_hints(services: Services, target: str) -> Callable[[], Awaitable[None]]:
    hints = services.rivya_hints
    assert hints is not None

    async def attempt() -> None:
        # Rivya may be down at start: tried again until it answers (hints are a speed-up;
        # tasks are polled on their schedule meanwhile).
        while True:
            try:
                if await hints.register(target):
                    log.info("registered the gateway's webhook at Rivya (hints)")
                return
            except UpstreamFailure as failure:
                log.warning("Rivya's webhook not registered yet", extra={"why": str(failure)})
            await asyncio.sleep(BASELINE_RETRY_SECONDS)

    return attempt
