"""The requests ops may be asked about, kept for a while: each answered request's team, key,
subject, route, status, error code and task, under its request id (``GET
/admin/requests/{id}``, ``rivya-gateway requests show``, the dashboard's lookup).

Which: ``REQUEST_RECORDS=errors`` (the default) keeps every answer that was an error or a
refusal: what a user reports by its ``requestId``. A create that succeeded is found by its task
id or ``client_request_id`` instead, and keeping it too cost a sixth of the gateway's create
throughput (``bench/README.md``). ``errors_and_writes`` adds every request that could change
something (a create, an upload, an admin write); ``all`` adds the successful reads; ``off``
keeps nothing. They are buffered in memory (at most ``MAX_BUFFERED``; past it, dropped and
counted) and written in batches off the request's path; Redis keeps them
``REQUEST_RECORD_HOURS``."""

from __future__ import annotations

from typing import Literal

from app.clock import Clock, iso_timestamp
from app.context import RequestContext
from app.domain.requests import RequestRecord
from app.errors import NotFound
from app.store.request_log import RequestLogStore

RecordMode = Literal["errors", "errors_and_writes", "all", "off"]
MAX_BUFFERED = 20_000
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Probes, scrapes and the dashboard's own files: never worth a record.
_NOT_KEPT = frozenset({"/healthz", "/readyz", "/metrics", "/dashboard", "/dashboard/static/{name}"})


class RequestRecords:
    def __init__(self, mode: RecordMode, clock: Clock) -> None:
        self._mode, self._clock = mode, clock
        self._buffer: list[RequestRecord] = []
        self.dropped = 0

    def answered(
        self, ctx: RequestContext, method: str, route: str | None, status: int, seconds: float
    ) -> None:
        if self._mode == "off" or route in _NOT_KEPT:
            return
        if status < 400 and not (
            self._mode == "all" or (self._mode == "errors_and_writes" and method not in _READS)
        ):
            return  # a success, and this mode does not keep it
        if len(self._buffer) >= MAX_BUFFERED:
            self.dropped += 1
            return
        self._buffer.append(
            RequestRecord(
                request_id=ctx.request_id,
                at=iso_timestamp(self._clock.now()),
                method=method,
                route=route,
                status=status,
                error_code=ctx.error_code,
                team=ctx.team,
                key_id=ctx.key_id,
                subject=ctx.subject,
                task_id=ctx.task_id,
                upstream_request_id=ctx.upstream_request_id,
                latency_ms=round(seconds * 1000, 2),
            )
        )

    def drain(self) -> list[RequestRecord]:
        records, self._buffer = self._buffer, []
        return records

    def put_back(self, records: list[RequestRecord]) -> None:
        room = MAX_BUFFERED - len(self._buffer)
        self.dropped += max(len(records) - room, 0)
        self._buffer = records[:room] + self._buffer


class RequestLookup:
    """A request, by its id: what ops are asked about."""

    def __init__(self, store: RequestLogStore, *, retention_hours: int) -> None:
        self._store, self._retention = store, retention_hours

    async def find(self, request_id: str) -> RequestRecord:
        record = await self._store.find(request_id)
        if record is None:
            raise NotFound(
                f"No record of request {request_id!r}: the gateway keeps, for "
                f"{self._retention} h (REQUEST_RECORD_HOURS), the requests answered with an "
                "error or a refusal (REQUEST_RECORDS=errors_and_writes or all keep more); find "
                "a successful create by its task id or client_request_id. A record reaches "
                "Redis within a second or so of its answer."
            )
        return record
