"""Opening Redis from a URL, and translating its failures into ``StoreUnavailable``.

Supported URL forms:
- ``redis://[user:pass@]host:port/db``, ``rediss://…`` (TLS), ``unix:///path/redis.sock``;
- ``redis+sentinel://[:pass@]host:port[,host:port…]/service-name[/db]`` (Sentinel);
- ``redis+cluster://[user:pass@]host:port`` (Redis Cluster; every multi-key operation of the
  gateway stays within one team's hash tag).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    InvalidResponse,
    MasterDownError,
    MaxConnectionsError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.errors import StoreUnavailable


def no_retries() -> Retry:
    # redis-py resends a command after a timeout or a broken connection (10 times, by default).
    # For the gateway's scripts that is wrong: one that timed out may have run, and running an
    # admission twice would hold its credits twice. A failure is reported at once instead, and
    # the caller decides (services/admission.py cancels an admission whose answer was lost).
    return Retry(NoBackoff(), 0)


def create_redis(url: str, *, timeout: float = 2.0, max_connections: int = 200) -> Redis:
    """A client for the URL; connections are opened lazily, so this does no I/O. A request
    finding every connection busy waits for one (up to ``timeout``) rather than failing at once:
    a burst from one team must not turn every other team's requests into 503s."""
    common = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": True,
        "health_check_interval": 30,
        "retry": no_retries(),
    }
    scheme = urlsplit(url).scheme
    if scheme == "redis+cluster":
        cluster = RedisCluster.from_url(
            "redis://" + url.split("://", 1)[1],
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retries(),
        )
        # RedisCluster speaks the same command API; the gateway uses nothing cluster-specific.
        return cast(Redis, cluster)
    if scheme == "redis+sentinel":
        return _sentinel_master(url, timeout)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, **common
    )
    return Redis.from_pool(pool)  # owns the pool: closing the client closes its connections


async def learn_cluster_layout(redis: Redis) -> None:
    """A Redis Cluster client learns the slot map before requests race to: when many first
    commands arrive at once, redis-py builds the map several times and leaves connections of
    the discarded copies unclosed. Nothing to do for a single node or Sentinel. A Redis that is
    down now is learnt lazily later (readiness says so meanwhile)."""
    if isinstance(redis, RedisCluster):
        with contextlib.suppress(*STORE_FAILURES, ClusterError):
            await redis.initialize()


async def close_redis(redis: Redis) -> None:
    """Close a client from ``create_redis``, and for Sentinel its clients of the sentinels too
    (redis-py closes only the master's connections)."""
    await redis.aclose()
    manager = getattr(getattr(redis, "connection_pool", None), "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


def _sentinel_master(url: str, timeout: float) -> Redis:
    parts = urlsplit(url)
    hosts = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("redis+sentinel:// URLs need a service name: …/mymaster[/db]")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        hosts, socket_timeout=timeout, sentinel_kwargs={"password": password} if password else {}
    )
    master: Redis = sentinel.master_for(
        service,
        db=db,
        password=password,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=no_retries(),
    )
    return master


# Redis cannot serve us right now (unreachable, loading, failing over, full): fail closed.
STORE_FAILURES = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ReadOnlyError,
    ClusterDownError,
    MaxConnectionsError,
    TryAgainError,
    MasterDownError,
    OutOfMemoryError,
    # No Cluster node reachable to learn the slot map from, or no node serves the slot (not
    # one of redis-py's RedisError family): raised before anything is sent.
    RedisClusterException,
    # What answers at REDIS_URL does not speak Redis (a proxy, another service).
    InvalidResponse,
)


# Error replies by which Redis refuses a command before running it, for a while: not enough
# replicas (min-replicas-to-write), a failed snapshot (MISCONF), a busy script, loading, ...
_REFUSALS = ("NOREPLICAS", "MISCONF", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


class _StoreErrors:
    """Turns an unreachable Redis into the contract's 503 ``store_unavailable``, saying whether
    the command may have run: it may, unless the failure came before it was sent (no connection
    could be made) or Redis refused it outright (read-only, out of memory, too few replicas).

    A plain context manager (``with store_errors():``), not a generator's: it is around both
    scripts of every create, where a generator-based one cost about a microsecond each.
    ``async with`` works too, beside an async one in the same statement (a pipeline)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: object
    ) -> None:
        if isinstance(exc, STORE_FAILURES):
            raise StoreUnavailable(may_have_run=_may_have_run(exc)) from exc
        if isinstance(exc, ResponseError) and str(exc).startswith(_REFUSALS):
            raise StoreUnavailable(may_have_run=False) from exc
        # Anything else (a script's own error is a bug, not an outage) goes on as it is.

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: object
    ) -> None:
        self.__exit__(kind, exc, trace)


_STORE_ERRORS = _StoreErrors()


def store_errors() -> _StoreErrors:
    return _STORE_ERRORS


@asynccontextmanager
async def admin_write(what: str) -> AsyncIterator[None]:
    """``store_errors`` for an admin write (a revocation, a deletion, the baseline), whose
    caller is a person: an outcome unknown (a replica did not acknowledge it in time, the answer
    was lost) says that the change may or may not have taken effect, and to retry: every admin
    write is safe to repeat. ``what`` names it ("The key's revocation"). Nested, the outermost
    names it."""
    try:
        with store_errors():
            yield
    except StoreUnavailable as exc:
        if not exc.may_have_run:
            raise  # refused before it ran: the plain 503 says so
        raise StoreUnavailable(
            f"{what} may or may not have taken effect: Redis did not confirm it in time (its "
            "master may be failing over). Retry: repeating it is safe."
        ) from exc


def _may_have_run(exc: BaseException) -> bool:
    if isinstance(
        exc,
        ReadOnlyError | ClusterDownError | TryAgainError | OutOfMemoryError | RedisClusterException,
    ):
        return False
    if isinstance(exc, MaxConnectionsError) or "No connection available" in str(exc):
        return False  # no connection was free: nothing was sent
    if isinstance(exc, MasterDownError):
        return False
    # redis-py's own wording for a connection that could not be opened; nothing was sent.
    message = str(exc)
    return not ("connecting to" in message or "Timeout connecting" in message)


def text_map(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash reply as ``str -> str`` (the client decodes responses; this narrows the type)."""
    return {str(k): str(v) for k, v in raw.items()}


def hash_fields(fields: Mapping[str, str]) -> dict[Any, Any]:
    """Widen a ``str -> str`` mapping to what redis-py's ``hset`` is typed to accept."""
    return dict(fields)
