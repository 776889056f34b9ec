"""Everything a request handler may use, built once per app by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.auth.callers import CallerResolver
from app.catalog import Catalog
from app.clock import Clock
from app.services.tasks import TaskService
from app.services.teams import TeamService
from app.settings import Settings
from app.store.apikeys import ApiKeyStore
from app.store.keys import KeySpace
from app.store.scripts import Scripts
from app.store.tasks import TaskStore
from app.store.teams import TeamStore
from app.upstream.client import RivyaClient


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalog: Catalog
    default_model: str
    redis: Redis
    upstream: RivyaClient
    callers: CallerResolver
    teams: TeamService
    tasks: TaskService


def build_services(
    settings: Settings, catalog: Catalog, redis: Redis, upstream: RivyaClient, clock: Clock
) -> Services:
    keys = KeySpace(settings.redis_key_prefix)
    scripts = Scripts(redis)
    team_store = TeamStore(redis, keys, scripts)
    key_store = ApiKeyStore(redis, keys)
    task_store = TaskStore(
        redis, keys, scripts, retention_seconds=settings.task_retention_days * 86_400
    )
    return Services(
        settings=settings,
        catalog=catalog,
        default_model=settings.default_model or catalog.default_model,
        redis=redis,
        upstream=upstream,
        callers=CallerResolver(
            key_store, team_store, clock, cache_seconds=settings.key_cache_seconds
        ),
        teams=TeamService(team_store, key_store, catalog, clock),
        tasks=TaskService(
            task_store, upstream, clock, wait_poll_seconds=settings.wait_poll_seconds
        ),
    )
