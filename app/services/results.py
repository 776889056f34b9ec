"""Custody of results: every file of a succeeded task copied into the org's object store, and
served from there by the links the answers give (``result_links.py``).

A copy is streamed from Rivya's URL to a temporary file (bounded in size, its type judged from
its first bytes, hashed on the way), written to the store under the team and its SHA-256, then
noted in Redis (``keep_result.lua``). The settler drives it (the task stays in its settle queue
until every file is copied, so a copy survives restarts and is retried); a link read before the
copy lands streams Rivya's file to the reader and keeps a copy on the way. Copies are deleted
when the team's retention is up, and all of a team's when it is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from app.clock import Clock, epoch_or
from app.domain.results import Custody, CustodyPolicy, KeptFile, result_files
from app.domain.tasks import StoredTask, TaskRecord
from app.domain.teams import team_id_of
from app.errors import NotFound
from app.store.objects import ResultObjects
from app.store.results import ResultStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore
from app.upstream.downloads import DownloadFailed, ResultDownloads

log = logging.getLogger("app.results")


@dataclass(frozen=True)
class Served:
    """A result file to answer with: its type, size if known, and its bytes."""

    content_type: str
    size: int | None
    etag: str | None  # the copy's SHA-256 (a file streamed from Rivya has none yet)
    chunks: AsyncGenerator[bytes]


@dataclass
class _Spooled:
    """A file written to a temporary file as it streams, and hashed."""

    path: Path
    content_type: str
    size: int = 0
    complete: bool = False

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256()


class ResultCustody:
    def __init__(
        self,
        tasks: TaskStore,
        kept: ResultStore,
        objects: ResultObjects,
        downloads: ResultDownloads,
        teams: TeamStore,
        clock: Clock,
        *,
        policy: CustodyPolicy,
    ) -> None:
        self._tasks, self._kept, self._objects = tasks, kept, objects
        self._downloads, self._teams, self._clock = downloads, teams, clock
        self._policy = policy
        self._copies = asyncio.Semaphore(policy.at_once)
        self._keeping: set[asyncio.Task[None]] = set()  # copies kept on a link's way
        self._spooling: set[Path] = set()  # reads keeping a copy on the way, now

    async def copy(self, stored: StoredTask) -> Custody:
        """Copy every file of a succeeded task not yet copied: its custody as it now stands
        (COPYING: a copy failed for now, and is tried again later)."""
        record = stored.record
        files = _files(record)
        until_ms = await self._kept_until(record)
        if until_ms is None:
            await self._kept.fail(record.team, record.id, "the team was deleted")
            return Custody.FAILED
        custody = record.custody or Custody.COPYING
        for index, url in enumerate(files):
            if index in record.kept:
                continue
            try:
                spooled = await self._spool(url)
            except DownloadFailed as failed:
                return await self._not_copied(record, failed)
            custody = await self._keep(record, index, spooled, len(files), until_ms)
        return custody

    async def _not_copied(self, record: TaskRecord, failed: DownloadFailed) -> Custody:
        ended = epoch_or(record.upstream.updated_at, self._clock.now())
        if failed.lasting or self._clock.now() - ended > self._policy.retry_seconds:
            log.warning(
                "a result could not be copied",
                extra={"team": record.team, "task_id": record.id, "reason": failed.reason},
            )
            await self._kept.fail(record.team, record.id, failed.reason)
            return Custody.FAILED
        return Custody.COPYING

    async def serve(self, tenant: str, task_id: str, index: int) -> Served:
        """One result file of a team's task: its copy, or Rivya's file (kept on the way)."""
        stored = await self._tasks.get(tenant, task_id)
        files = _files(stored.record) if stored else []
        if stored is None or not 0 <= index < len(files):
            raise NotFound("No such result.")
        kept = stored.record.kept.get(index)
        if kept is not None:
            found = await self._objects.open(kept.object_path(tenant))
            if found is not None:
                return Served(kept.content_type, found.size, kept.sha256, found.chunks)
        return await self._read_through(stored.record, index, files[index])

    async def _read_through(self, record: TaskRecord, index: int, url: str) -> Served:
        opened = self._downloads.open(url)
        try:
            download = await opened.__aenter__()
        except DownloadFailed as failed:
            raise NotFound(
                f"This result is no longer available: Rivya's copy is gone ({failed.reason}) "
                "and the gateway holds none."
            ) from None
        # A copy is kept on the way by as many reads at once as copies are made (the rest only
        # relay): a flood of reads of one link costs no more disk than the settler's copies.
        spooled = None
        if len(self._spooling) < self._policy.at_once:
            spooled = _Spooled(_temporary(), download.content_type)
            self._spooling.add(spooled.path)

        async def relayed() -> AsyncGenerator[bytes]:
            try:
                chunks = download.chunks if spooled is None else _spooling(download.chunks, spooled)
                async for chunk in chunks:
                    yield chunk
            finally:
                await opened.__aexit__(None, None, None)
                if spooled is not None:
                    self._spooling.discard(spooled.path)
                    self._keep_later(record, index, spooled)

        return Served(download.content_type, None, None, relayed())

    def _keep_later(self, record: TaskRecord, index: int, spooled: _Spooled) -> None:
        """A file streamed to a reader whole is kept, off the reader's answer."""

        async def keep() -> None:
            until_ms = await self._kept_until(record)
            if until_ms is None:
                spooled.path.unlink(missing_ok=True)
                return
            await self._keep(record, index, spooled, len(_files(record)), until_ms)

        if not spooled.complete:
            spooled.path.unlink(missing_ok=True)
            return
        job = asyncio.create_task(keep())
        self._keeping.add(job)
        job.add_done_callback(self._kept_on_the_way)

    def _kept_on_the_way(self, job: asyncio.Task[None]) -> None:
        self._keeping.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("a result read through was not kept", exc_info=job.exception())

    async def _spool(self, url: str) -> _Spooled:
        async with self._copies, self._downloads.open(url) as download:
            spooled = _Spooled(_temporary(), download.content_type)
            try:
                async for _ in _spooling(download.chunks, spooled):
                    pass
            except BaseException:
                spooled.path.unlink(missing_ok=True)
                raise
            return spooled

    async def _keep(
        self, record: TaskRecord, index: int, spooled: _Spooled, files: int, until_ms: int
    ) -> Custody:
        kept = KeptFile(spooled.digest.hexdigest(), spooled.size, spooled.content_type)
        try:
            await self._objects.put(kept.object_path(record.team), spooled.path)
        finally:
            spooled.path.unlink(missing_ok=True)
        custody = await self._kept.keep(
            record.team, record.id, index, kept, files=files, until_ms=until_ms
        )
        return custody or Custody.FAILED

    async def _kept_until(self, record: TaskRecord) -> int | None:
        """Until when (ms) a copy of the task's results is kept; None if its team is gone."""
        team = await self._teams.get(team_id_of(record.team))
        if team is None or team.tenant != record.team:
            return None
        days = team.result_retention_days or self._policy.retention_days
        ended = epoch_or(record.upstream.updated_at, self._clock.now())
        return int((ended + days * 86_400) * 1000)

    async def expire(self, tenant: str) -> int:
        """Delete the team's copies whose time is up; how many."""
        taken = await self._kept.take_expired(tenant)
        await self._objects.delete([f"{tenant}/{sha}" for sha in taken])
        return len(taken)

    async def forget_team(self, tenant: str) -> None:
        """A deleted team's copies are all due: its next settler pass deletes them."""
        await self._kept.expire_all(tenant)

    async def aclose(self) -> None:
        """Let the copies being kept from links read through land (at shutdown: before the
        store's connections close)."""
        for job in list(self._keeping):
            with contextlib.suppress(Exception):
                await job


def _files(record: TaskRecord) -> list[str]:
    result = record.upstream.result
    return result_files(result.primary_url, result.urls) if result else []


async def _spooling(chunks: AsyncIterator[bytes], spooled: _Spooled) -> AsyncIterator[bytes]:
    """Pass ``chunks`` on, writing each to the spooled file and its digest."""
    with spooled.path.open("wb") as out:
        async for chunk in chunks:
            out.write(chunk)
            spooled.digest.update(chunk)
            spooled.size += len(chunk)
            yield chunk
    spooled.complete = True


def _temporary() -> Path:
    handle, name = tempfile.mkstemp(prefix="rivya-result-")
    os.close(handle)
    return Path(name)
