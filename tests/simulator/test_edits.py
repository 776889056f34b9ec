"""Edits: a result made from an uploaded reference visibly starts from that upload."""

from __future__ import annotations

from typing import Any

import httpx

from app.clock import FakeClock
from tests.simulator.helpers import create, decode, image_bytes, upload

RED = (220, 20, 20)


def close_to(pixel: tuple[int, ...], color: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))


async def result_image(
    client: httpx.AsyncClient, clock: FakeClock, **params: Any
) -> tuple[int, ...]:
    task_id = (await create(client, "turn it into a painting", **params)).json()["id"]
    clock.advance(5)
    task = (await client.get(f"/api/v1/generations/{task_id}")).json()
    image = decode((await client.get(task["result"]["primary_url"])).content).convert("RGB")
    pixel = image.getpixel((4, 4))  # top-left: above the caption band
    assert isinstance(pixel, tuple)
    return pixel


async def test_reference_upload_shows_through(client: httpx.AsyncClient, clock: FakeClock) -> None:
    url = (await upload(client, image_bytes("PNG", RED, size=64))).json()["url"]

    pixel = await result_image(
        client,
        clock,
        aspectRatio="4:3",
        outputFormat="png",
        referenceMediaItems=[{"url": url, "kind": "image"}],
    )

    assert close_to(pixel, RED)


async def test_jpeg_reference_in_a_jpeg_result(client: httpx.AsyncClient, clock: FakeClock) -> None:
    blue = (30, 60, 210)
    url = (await upload(client, image_bytes("JPEG", blue, size=64))).json()["url"]

    pixel = await result_image(client, clock, referenceMediaItems=[{"url": url, "kind": "image"}])

    assert close_to(pixel, blue, tolerance=20)


async def test_without_a_reference_the_background_is_generated(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pixel = await result_image(client, clock, outputFormat="png")

    assert not close_to(pixel, RED)


async def test_foreign_reference_url_still_renders(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    pixel = await result_image(
        client,
        clock,
        outputFormat="png",
        referenceMediaItems=[{"url": "https://elsewhere.example/x.png", "kind": "image"}],
    )

    assert not close_to(pixel, RED)
