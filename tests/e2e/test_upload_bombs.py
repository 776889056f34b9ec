"""Tiny images of huge pictures against a real gateway process: its memory stays bounded by
DECODE_MEMORY_MB however many arrive at once, and one that could never fit is refused unread."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.test_replicas import Replicas, replicas  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e


def lossless_webp(side: int, shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (shade, shade, shade)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def progressive_jpeg(side: int, seed: int) -> bytes:
    """A progressive JPEG: libjpeg holds every coefficient of it at full size to decode it."""
    out = io.BytesIO()
    noise = Image.effect_noise((side // 8, side // 8), 30 + seed).resize((side, side))
    noise.convert("RGB").save(out, "JPEG", progressive=True, quality=30)
    return out.getvalue()


def peak_rss_mb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


async def upload_all(url: str, key: str, files: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{url}/v1/files",
                    files={"file": (f"b{i}", data, "application/octet-stream")},
                    headers={"Authorization": f"Bearer {key}"},
                )
                for i, data in enumerate(files)
            )
        )
    return [r.status_code for r in responses]


def test_twelve_decompression_bombs_at_once_stay_within_the_decode_budget(
    replicas: Replicas,  # noqa: F811
) -> None:
    url, pid = replicas.start_gateway(
        SETTLER_ENABLED="false", DECODE_MEMORY_MB="160", UPLOAD_BURST_PER_TEAM="50"
    )
    key = replicas.team_key("alpha")
    # WebPs of 9 MP from about a kilobyte of file (about 145 MB to decode) and progressive
    # JPEGs of 16 MP (about 96 MB): one fits the budget at a time.
    bombs = [lossless_webp(3000, shade) for shade in range(6)]
    bombs += [progressive_jpeg(4000, seed) for seed in range(6)]
    assert max(len(b) for b in bombs[:6]) < 2_000
    before = peak_rss_mb(pid)
    statuses = asyncio.run(upload_all(url, key, bombs))
    grown = peak_rss_mb(pid) - before
    assert set(statuses) <= {201, 429}, statuses  # checked one by one, or told to come back
    assert statuses.count(201) >= 1
    # Twelve at once without a budget grew the process by about 1.5 GB; in turn, by one.
    assert grown < 250, f"peak memory grew by {grown} MB"

    # 16 MP of WebP would take about 256 MB to decode: more than the budget, refused from its
    # header without decoding.
    refused = asyncio.run(upload_all(url, key, [lossless_webp(4000, 200)]))
    assert refused == [400]
    assert peak_rss_mb(pid) - before < 250
