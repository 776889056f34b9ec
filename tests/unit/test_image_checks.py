"""The pool of image-check workers (real processes): a deadline that kills, a hard cap on each
worker's address space, and a worker that stays taken while its check runs, whoever hung up."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from app.domain.uploads import ImageCheckLimits
from app.errors import GatewayError
from app.metrics import Metrics
from app.services.image_checks import ImageChecks

MiB = 1_048_576


def progressive_jpeg(side: int) -> bytes:
    """A full progressive JPEG (ten scans over the whole frame): a few hundred ms to decode."""
    out = io.BytesIO()
    Image.effect_noise((side, side), 60).convert("RGB").save(out, "JPEG", progressive=True)
    return out.getvalue()


def small_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(out, "PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def pool(metrics: Metrics | None = None, **limits: float) -> AsyncIterator[ImageChecks]:
    defaults = {"workers": 1, "decode_bytes": 160 * MiB, "seconds": 5.0, "wait_seconds": 5.0}
    merged = ImageCheckLimits(**{**defaults, **limits})  # type: ignore[arg-type]
    checks = ImageChecks(merged, metrics)
    try:
        yield checks
    finally:
        checks.close()


async def test_a_check_past_its_deadline_is_refused_and_its_worker_replaced() -> None:
    slow, metrics = progressive_jpeg(3000), Metrics()
    async with pool(metrics, seconds=0.02) as checks:
        await checks.check(
            small_png(), "image/png", team="a"
        )  # the worker is up: the deadline is all
        with pytest.raises(GatewayError) as caught:
            await checks.check(slow, "image/jpeg", team="a")
        assert caught.value.status == 400
        assert "took longer than 0.02 s" in caught.value.details[0].message
        checked = await checks.check(small_png(), "image/png", team="a")  # a new worker serves
        assert (checked.width, checked.height) == (64, 64)
        assert checks.busy == 0
    counted = {
        outcome: metrics.registry.get_sample_value(
            "gateway_image_check_seconds_count", {"outcome": outcome}
        )
        for outcome in ("checked", "timeout")
    }
    assert counted == {"checked": 2, "timeout": 1}


async def test_each_worker_runs_under_a_hard_address_space_cap() -> None:
    async with pool(decode_bytes=64 * MiB) as checks:
        await checks.check(small_png(), "image/png", team="a")
        workers = [
            pid
            for server in children(Path("/proc/self"))
            for pid in children(Path(f"/proc/{server}"))
        ]
        assert workers
        for pid in workers:
            cap = address_space_cap(pid)
            assert cap != "unlimited"
            # Its base (the interpreter and Pillow as mapped) plus 64 MB and room for one file.
            assert 64 * MiB < int(cap) < 512 * MiB


def address_space_cap(pid: str) -> str:
    limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    return next(line.split()[3] for line in limits if line.startswith("Max address space"))


def children(proc: Path) -> list[str]:
    """Children of any of the process's threads (the pool starts from a worker thread)."""
    return [c for task in proc.glob("task/*/children") for c in task.read_text().split()]


def test_a_decode_the_price_underestimates_still_fails_inside_the_cap() -> None:
    # Priced as if it cost nothing (a budget of 1 TB), in a worker capped at 16 MB of decode:
    # the decoder runs out of address space in the worker, which answers a refusal and lives.
    out = io.BytesIO()
    Image.new("RGBA", (5000, 5000), (1, 2, 3, 4)).save(out, "PNG")  # 100 MB decoded
    script = (
        "import sys\n"
        "from app.services.image_check import check_image, limit_worker\n"
        "data = sys.stdin.buffer.read()\n"
        f"limit_worker({16 * MiB})\n"
        "print(check_image(data, 'image/png', 1 << 40))\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script], input=out.getvalue(), capture_output=True, check=True
    )
    assert answer.stdout.decode().startswith("Refused(reason='needs more memory to decode")


async def test_a_cancelled_request_leaves_its_worker_taken_until_the_check_ends() -> None:
    slow = progressive_jpeg(3000)
    async with pool(wait_seconds=0.05) as checks:
        await checks.check(small_png(), "image/png", team="a")
        first = asyncio.ensure_future(checks.check(slow, "image/jpeg", team="a"))
        while checks.busy == 0:  # noqa: ASYNC110 (until the pool says its worker is taken)
            await asyncio.sleep(0)
        first.cancel()  # the client hung up; its check goes on in the worker
        with pytest.raises(asyncio.CancelledError):
            await first
        with pytest.raises(GatewayError) as caught:
            await checks.check(small_png(), "image/png", team="a")
        assert caught.value.status == 429  # no free worker: the cancelled check still holds it
        assert caught.value.headers["Retry-After"] == "1"


async def test_checks_beyond_the_workers_wait_their_turn() -> None:
    async with pool(workers=2) as checks:
        checked = await asyncio.gather(
            *(checks.check(small_png(), "image/png", team="a") for _ in range(6))
        )
        assert {(c.width, c.height) for c in checked} == {(64, 64)}
        assert checks.busy == 0


async def test_one_team_takes_at_most_half_the_workers() -> None:
    """One team's slow files held every worker: other teams' uploads waited, then got 429."""
    slow = progressive_jpeg(3000)
    async with pool(workers=2, wait_seconds=0.05) as checks:
        await checks.check(small_png(), "image/png", team="a")
        first = asyncio.ensure_future(checks.check(slow, "image/jpeg", team="a"))
        while checks.busy == 0:  # noqa: ASYNC110 (until the pool says its worker is taken)
            await asyncio.sleep(0)
        with pytest.raises(GatewayError) as caught:
            await checks.check(small_png(), "image/png", team="a")
        assert caught.value.status == 429  # its half is taken
        other = await checks.check(small_png(), "image/png", team="b")
        assert (other.width, other.height) == (64, 64)  # the other half is another team's
        await first
