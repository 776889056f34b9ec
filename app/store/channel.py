"""One pipelined connection to Redis for the Lua scripts: the two round trips of every create.

Measured here (bench/README.md), redis-py's asyncio client costs about 200 µs of CPU per command
(its pool, retry wrapper, per-call timeout and packing), three times the whole Redis round trip
on a lean path. A create makes two script calls, so that alone was a third of the budget. This
channel writes each command at once to one connection shared by every request of the process
(packed by hiredis, in C), and a ``hiredis.Reader`` hands each reply to the oldest waiter: Redis
answers in order, so many creates are in flight on one connection at a time.

It is used for single-node URLs (``redis://``, ``unix://``); TLS, Sentinel and Cluster keep
redis-py's scripts (``store/scripts.py``). Its failures are redis-py's exception classes, so
``store_errors`` says the same about them:
- a connection that cannot be opened: ``ConnectionError("Error connecting to …")``, nothing sent;
- no answer within the timeout: ``TimeoutError``, and the connection is dropped, as redis-py
  drops it (the command may have run; its late answer is never mistaken for another's);
- a connection lost with commands in flight: ``ConnectionError``, they may have run;
- an error reply: the class redis-py maps it to (``NOSCRIPT``, ``READONLY``, ``OOM``, …).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser  # redis-py's own map of error replies to classes
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | int | float | bytes

# Commands made in one turn of the event loop leave together, this many at most: the rest of
# the turn does not hold them. At load a turn makes ~30 creates' commands; sent at its end,
# Redis idled while the gateway worked through the turn, and then, as Redis answers a burst only
# once it has run all of it, every create waited while Redis ran the lot (a millisecond or
# more): the gateway's core idled 20 % of the time, for 2,700-2,900 creates/s. In bursts of 8
# the two overlap: 3,000-3,500 creates/s for the same CPU per create. One command a write cost
# more CPU (a system call each). bench/README.md.
BURST_AT_MOST = 8


class _Replies(asyncio.Protocol):
    """The connection: replies go to waiters in the order their commands were written.

    Commands written in one turn of the event loop leave together (one system call for a burst
    of creates), ``BURST_AT_MOST`` at a time, and one timer watches the oldest command (replies
    come in order, so it is the first to be late): no timer per command."""

    def __init__(self, on_lost: Callable[[], None], timeout: float, where: str) -> None:
        self.on_lost, self.timeout, self.where = on_lost, timeout, where
        self.reader = hiredis.Reader(encoding="utf-8")
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()  # (waiter, deadline)
        self.outbox: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.watch: asyncio.TimerHandle | None = None
        self.closed = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter, _ = self.waiters.popleft()
            if waiter.done():
                continue  # its caller gave up (cancelled): the answer goes nowhere
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(_error(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:  # the server went away (restarted, failed over), not our close
            self.on_lost()
        self._fail(RedisConnectionError("Connection lost with commands in flight"))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        waiter = self.loop.create_future()
        self.waiters.append((waiter, self.loop.time() + self.timeout))
        if not self.outbox:
            self.loop.call_soon(self._flush)
        self.outbox.append(command)
        if len(self.outbox) >= BURST_AT_MOST:
            self._flush()
        if self.watch is None:
            self.watch = self.loop.call_later(self.timeout, self._check)
        return waiter

    def _flush(self) -> None:
        if self.outbox and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def _check(self) -> None:
        self.watch = None
        if not self.waiters:
            return
        oldest = self.waiters[0][1]
        if self.loop.time() >= oldest:
            # No answer in time: the commands in flight may have run. The connection goes, as
            # redis-py drops one that timed out: a late answer is never taken for another's.
            self._fail(RedisTimeoutError(f"Timeout reading from {self.where}"))
            self.close()
        else:
            self.watch = self.loop.call_at(oldest, self._check)

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        while self.waiters:
            waiter, _ = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()  # connection_lost fails whatever is still waiting


class ScriptChannel:
    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_lost = on_lost  # told when Redis drops the connection
        self._host, self._port, self._path = host, port, path
        self._db, self._username, self._password = db, username, password
        self._timeout = timeout
        self._connection: _Replies | None = None
        self._opening = asyncio.Lock()

    @property
    def _where(self) -> str:
        return self._path or f"{self._host}:{self._port}"

    async def execute(self, *args: Arg) -> Any:
        connection = self._connection
        if connection is None or connection.closed:
            connection = await self._connect()
        return await connection.send(_pack(args))

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _connect(self) -> _Replies:
        async with self._opening:  # one connect at a time; the others use what it opened
            if self._connection is not None and not self._connection.closed:
                return self._connection
            try:
                async with asyncio.timeout(self._timeout):
                    connection = await self._open()
            except (OSError, TimeoutError, RedisError) as exc:
                # Not connected, or refused at AUTH/SELECT: none of the caller's command was
                # sent. redis-py's wording, which store_errors reads as "nothing was sent".
                raise RedisConnectionError(f"Error connecting to {self._where}: {exc}") from exc
            self._connection = connection
            return connection

    def _protocol(self) -> _Replies:
        return _Replies(self._on_lost, self._timeout, self._where)

    async def _open(self) -> _Replies:
        loop = asyncio.get_running_loop()
        if self._path:
            _, connection = await loop.create_unix_connection(self._protocol, self._path)
        else:
            _, connection = await loop.create_connection(self._protocol, self._host, self._port)
        setup: list[tuple[Arg, ...]] = []
        if self._password:
            setup.append(("AUTH", *([self._username] if self._username else []), self._password))
        if self._db:
            setup.append(("SELECT", self._db))
        try:
            for command in setup:
                await connection.send(_pack(command))
        except BaseException:
            connection.close()
            raise
        return connection


def _error(reply: str) -> Exception:
    error: Exception = BaseParser.parse_error(reply)  # type: ignore[no-untyped-call]
    return error


def _pack(command: tuple[Arg, ...]) -> bytes:
    # hiredis's stub types the command as a 1-tuple; it takes any length.
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed


def open_channel(
    url: str, *, timeout: float, on_lost: Callable[[], None] = lambda: None
) -> ScriptChannel | None:
    """A channel for a single-node URL (redis://, unix://); None for any other kind (TLS,
    Sentinel, Cluster), whose scripts run through redis-py. Does no I/O."""
    if not url.startswith(("redis://", "unix://")):
        return None
    pool = ConnectionPool.from_url(url)  # redis-py parses the URL, as for every other client
    kwargs = pool.connection_kwargs
    if pool.connection_class is UnixDomainSocketConnection:
        where: dict[str, Any] = {"path": kwargs["path"]}
    elif pool.connection_class is Connection:
        where = {"host": kwargs.get("host", "localhost"), "port": int(kwargs.get("port", 6379))}
    else:
        return None
    return ScriptChannel(
        **where,
        db=int(kwargs.get("db") or 0),
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        timeout=timeout,
        on_lost=on_lost,
    )


class ChannelScript:
    """A registered Lua script run over a channel: EVALSHA, and on NOSCRIPT (Redis restarted or
    flushed its scripts: nothing ran) SCRIPT LOAD and once again, as redis-py's scripts do."""

    def __init__(self, channel: ScriptChannel, source: str) -> None:
        self._channel, self._source = channel, source
        # Redis names a script by its SHA-1: an identifier, not a security measure.
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return await self._channel.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._channel.execute("SCRIPT", "LOAD", self._source)
            return await self._channel.execute("EVALSHA", self.sha, len(keys), *keys, *args)
