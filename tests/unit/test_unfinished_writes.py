"""Shutdown and the work left in the background (services/unfinished_writes.py): a write only
this process can make gets its grace; a chore the next start does again is stopped at once."""

from __future__ import annotations

import asyncio

from app.services.unfinished_writes import UnfinishedWrites


async def test_shutdown_stops_a_chore_at_once_and_lets_a_write_finish() -> None:
    writes = UnfinishedWrites()
    written = asyncio.Event()

    async def chore_between_its_attempts() -> None:
        await asyncio.Event().wait()  # as a retry loop asleep until its next attempt

    async def record_a_task() -> str:
        await written.wait()
        return "recorded"

    chore = writes.start(
        "set the baseline", chore_between_its_attempts, within_seconds=600, chore=True
    )
    write = writes.start("record a task", record_a_task, within_seconds=600)
    closing = asyncio.ensure_future(writes.aclose(grace_seconds=60))
    written.set()  # the write's Redis answers within its grace
    async with asyncio.timeout(5):  # far less than the grace: the chore did not hold it
        await closing
    assert chore.cancelled()
    assert write.result() == "recorded"


async def test_a_write_still_unfinished_after_its_grace_is_stopped() -> None:
    writes = UnfinishedWrites()

    async def never_answered() -> None:
        await asyncio.Event().wait()

    write = writes.start("release a refused create", never_answered, within_seconds=600)
    async with asyncio.timeout(5):
        await writes.aclose(grace_seconds=0.05)
    assert write.cancelled()
