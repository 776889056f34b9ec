"""Builders shared by the simulator tests: tiny images and one-call task creation."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

FLUX_MAX = "flux-kontext-max"
FLUX_PRO = "flux-kontext-pro"
AUTH = {"Authorization": "Bearer rvya_sk_test_key"}


def image_bytes(fmt: str, color: tuple[int, int, int] = (200, 30, 30), size: int = 32) -> bytes:
    """A solid-colour image encoded as ``fmt`` (PNG, JPEG, WEBP) by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format=fmt)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def create(
    client: httpx.AsyncClient,
    prompt: str = "a lighthouse at dawn",
    model: str = FLUX_MAX,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    if params:
        body["params"] = params
    return await client.post("/api/v1/generations", json=body, headers=headers)


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    *,
    kind: str = "image",
    name: str = "ref.png",
    content_type: str = "image/png",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        "/api/v1/files", files={"file": (name, data, content_type)}, data={"kind": kind, **fields}
    )
