"""Refreshed: the figures many requests ask for (the org's balance, the origins teams allow,
a scrape's books) are read once per period, once at a time."""

from __future__ import annotations

import asyncio

import pytest

from app.clock import FakeClock
from app.refreshed import Refreshed


class Source:
    def __init__(self) -> None:
        self.reads = 0
        self.fail_next = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def read(self) -> int:
        self.reads += 1
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("Rivya is away")
        return self.reads


async def test_callers_at_once_share_one_read() -> None:
    source, clock = Source(), FakeClock()
    value = Refreshed(source.read, seconds=10, now=clock.now)
    source.gate.clear()  # the first read is slow: everyone else arrives meanwhile
    waiting = [asyncio.ensure_future(value.get()) for _ in range(5)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [1] * 5
    assert source.reads == 1


async def test_it_is_read_again_once_its_time_is_up() -> None:
    source, clock = Source(), FakeClock()
    value = Refreshed(source.read, seconds=10, now=clock.now)
    assert await value.get() == 1
    clock.advance(9.9)
    assert await value.get() == 1
    clock.advance(0.1)
    assert await value.get() == 2


async def test_a_failed_read_is_not_kept() -> None:
    source, clock = Source(), FakeClock()
    value = Refreshed(source.read, seconds=10, now=clock.now)
    source.fail_next = True
    with pytest.raises(RuntimeError):
        await value.get()
    assert await value.get() == 2  # read again at once, not after 10 s


async def test_no_time_at_all_reads_every_time() -> None:
    source = Source()
    value = Refreshed(source.read, seconds=0)
    assert [await value.get() for _ in range(3)] == [1, 2, 3]
