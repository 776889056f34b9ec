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

from collections import Counter
from typing import Literal

from app.clock import Clock, iso_timestamp
from app.context import RequestContext
from app.domain.requests import RequestRecord
from app.errors import NotFound
from app.metrics import Metrics
from app.store.request_log import RequestLogStore

RecordMode = Literal["errors", "errors_and_writes", "all", "off"]
MAX_BUFFERED = 20_000
# What one process keeps a minute, per team and for the callers no team was identified for (no
# key, a made-up one): a flood of bad requests fills Redis with at most this many records a
# minute each, for REQUEST_RECORD_HOURS, however fast it is sent.
PER_TEAM_PER_MINUTE = 600
PER_UNIDENTIFIED_PER_MINUTE = 120
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# Probes, scrapes and the dashboard's own files: never worth a record.
_NOT_KEPT = frozenset({"/healthz", "/readyz", "/metrics", "/dashboard", "/dashboard/static/{name}"})


class RequestRecords:
    def __init__(self, mode: RecordMode, clock: Clock, metrics: Metrics | None = None) -> None:
        self._mode, self._clock, self._metrics = mode, clock, metrics
        self._buffer: list[RequestRecord] = []
        self._minute = -1
        self._kept: Counter[str] = Counter()  # this minute's records, by team ("": none)

    def answered(
        self, ctx: RequestContext, method: str, route: str | None, status: int, seconds: float
    ) -> None:
        if self._mode == "off" or route in _NOT_KEPT:
            return
        if status < 400 and not (
            self._mode == "all" or (self._mode == "errors_and_writes" and method not in _READS)
        ):
            return  # a success, and this mode does not keep it
        if not self._room(ctx.team or ""):
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
        for record in records[room:]:
            self._dropped(record.team or "")
        self._buffer = records[:room] + self._buffer

    def _room(self, team: str) -> bool:
        """Whether this record fits this minute's share of its team, and the buffer."""
        minute = int(self._clock.now() // 60)
        if minute != self._minute:
            self._minute, self._kept = minute, Counter()
        share = PER_TEAM_PER_MINUTE if team else PER_UNIDENTIFIED_PER_MINUTE
        if self._kept[team] >= share or len(self._buffer) >= MAX_BUFFERED:
            self._dropped(team)
            return False
        self._kept[team] += 1  # team ids are set only once a key proved genuine: few of them
        return True

    def _dropped(self, team: str) -> None:
        if self._metrics is not None:
            self._metrics.request_records_dropped.labels(team).inc()


class RequestLookup:
    """A request, by its id: what ops are asked about."""

    def __init__(self, store: RequestLogStore) -> None:
        self._store = store

    async def find(self, request_id: str) -> RequestRecord:
        record = await self._store.find(request_id)
        if record is None:
            raise NotFound(
                f"No record of request {request_id!r}: the gateway keeps, for "
                f"{self._store.retention_hours} h (REQUEST_RECORD_HOURS), the requests "
                "answered with an error or a refusal (REQUEST_RECORDS=errors_and_writes or all "
                "keep more); find a successful create by its task id or client_request_id. A "
                "record reaches Redis within a second or so of its answer."
            )
        return record
