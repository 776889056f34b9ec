"""What stopped Redis from serving, named as ops read it: "auth refused", "DNS", "TLS",
"connection refused", "timeout", ... instead of one "unreachable" for every cause. Read from the
exception, or from the one a ``StoreUnavailable`` was raised from (its chain is walked), so the
places that wrap Redis's failures need not carry it."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    InvalidResponse,
    MasterDownError,
    MaxConnectionsError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

_AUTH_WORDS = ("WRONGPASS", "NOAUTH", "invalid username-password", "HELLO must be called")


def redis_cause(exc: BaseException) -> str:
    """The cause, first word a kind a dashboard can group by, then what to check."""
    chain = list(_chain(exc))
    text = " | ".join(str(e) for e in chain)
    if any(
        isinstance(e, AuthenticationError | AuthorizationError | NoPermissionError) for e in chain
    ) or any(word in text for word in _AUTH_WORDS):
        return "auth refused: Redis refused the credentials (check REDIS_URL's user and password)"
    if tls := next((e for e in chain if isinstance(e, ssl.SSLError)), None):
        return f"TLS failure: {tls.reason or tls} (check rediss:// against the server's TLS set-up)"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "DNS: Redis's host name does not resolve (check REDIS_URL's host)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused: nothing listens at REDIS_URL's host and port"
    if any(isinstance(e, InvalidResponse) for e in chain):
        return "not Redis: what answers at REDIS_URL's address does not speak Redis's protocol"
    if any(isinstance(e, RedisTimeoutError | TimeoutError) for e in chain):
        return "timeout: Redis did not answer within REDIS_TIMEOUT_SECONDS"
    return _refusal(chain) or f"unreachable: {_first_line(chain[-1])}"


def _refusal(chain: list[BaseException]) -> str | None:
    """Redis answered, and would not serve: a failover, a full memory, too few replicas."""
    for e in chain:
        if isinstance(e, ReadOnlyError | MasterDownError):
            return "read-only: this Redis is a replica now (a failover in progress?)"
        if isinstance(e, OutOfMemoryError):
            return "out of memory: Redis reached its maxmemory"
        if isinstance(e, ClusterDownError | RedisClusterException):
            return f"cluster unavailable: {_first_line(e)}"
        if isinstance(e, MaxConnectionsError):
            return "busy: every connection to Redis is in use (REDIS_MAX_CONNECTIONS)"
        if isinstance(e, ResponseError):
            return f"refused: {_first_line(e)}"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__
