"""A minimal, fast stand-in for Rivya's create endpoint, so the benchmark measures the gateway
rather than the simulator: raw asyncio, keep-alive, one canned task per POST (unique ids).

    python -m bench.static_upstream PORT
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys

_ids = itertools.count()


def _task_body() -> bytes:
    return json.dumps(
        {
            "id": f"task_{next(_ids):024x}",
            "status": "queued",
            "model": "flux-kontext-max",
            "reserved_credits": 8,
            "final_credits": 0,
            "created_at": "2026-05-11T00:00:00.000Z",
            "updated_at": "2026-05-11T00:00:00.000Z",
            "result": None,
            "error": None,
        }
    ).encode()


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            if head.startswith(b"POST"):
                status, body = b"201 Created", _task_body()
            elif head.startswith(b"GET /api/v1/credits"):  # the reconciliation's balance
                status, body = b"200 OK", b'{"current_credits":1000000000}'
            else:
                status, body = b"200 OK", b'{"object":"list","data":[]}'

            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
