"""A request's whole body, read from its ASGI messages: for the gateway's create routes and the
simulator's middleware, which both read it before any framework does. Neutral (no gateway
policy), so the simulator may share it and stay an honest stand-in."""

from __future__ import annotations

from starlette.types import Receive


async def read_body(receive: Receive) -> bytes | None:
    """The body, or None when the client hung up before sending all of it. Its size is capped
    before it gets here (the gateway's middleware; the simulator takes what its tests send)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
