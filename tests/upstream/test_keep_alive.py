"""Keep-alive against a real server that closes idle connections (a keep-alive timeout that
says nothing): the next request does not fail, and a create is never sent twice by the engine
on a connection that may have delivered it. Each client makes one attempt per call, so what
happens is the engine's own doing, not the client's retries."""

from __future__ import annotations

import pytest

from app.upstream.failures import UpstreamFailure, Why
from tests.rivya_side import ConnectionDropped, Reply, Request, json_reply
from tests.upstream.conftest import wired_client
from tests.upstream.loopback import loopback

TASK = {
    "id": "task_1",
    "status": "queued",
    "model": "flux-kontext-max",
    "reserved_credits": 8,
    "final_credits": 0,
    "created_at": "2026-05-11T00:00:00.000Z",
    "updated_at": "2026-05-11T00:00:00.000Z",
    "result": None,
    "error": None,
}


async def rivya(request: Request) -> Reply:
    if request.method == "POST":
        return json_reply(201, TASK)
    return json_reply(200, {"current_credits": 42})


class ClosesOnTheSecond:
    """Rivya, but the connection's second request meets the server's close: read or not,
    never answered (the close crossed it on the wire)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, request: Request) -> Reply:
        self.seen.append(request.method)
        if len(self.seen) == 2:
            raise ConnectionDropped
        return await rivya(request)


async def test_a_create_after_the_server_closed_the_idle_connection_goes_once_on_a_new_one() -> (
    None
):
    async with loopback(rivya) as server:
        server.quiet_close = True  # every connection closed once it has answered
        client = wired_client(server.url)
        try:
            assert await client.balance() == 42
            await server.closed.wait()  # the idle connection is closed; the engine holds it
            task = await client.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await client.aclose()
    assert task.id == "task_1"
    assert [r.method for r in server.requests] == ["GET", "POST"]  # the create went once
    assert server.connections == 2  # not written to the closed one: nothing was lost there


async def test_a_read_that_crosses_the_servers_close_is_sent_again_on_a_new_connection() -> None:
    handler = ClosesOnTheSecond()
    async with loopback(handler) as server:
        client = wired_client(server.url)
        try:
            assert [await client.balance() for _ in range(2)] == [42, 42]
        finally:
            await client.aclose()
    assert handler.seen == ["GET", "GET", "GET"]  # the crossed one, sent again
    assert server.connections == 2


async def test_a_create_that_crosses_the_servers_close_is_reported_never_resent_by_the_engine() -> (
    None
):
    handler = ClosesOnTheSecond()
    async with loopback(handler) as server:
        client = wired_client(server.url)
        try:
            assert await client.balance() == 42
            with pytest.raises(UpstreamFailure) as caught:
                await client.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await client.aclose()
    # Nothing proves the server had not read it: Rivya may have made the task. The client's
    # own retry (with the same Idempotency-Key) is what may send it again, knowing that.
    assert (caught.value.why, caught.value.may_have_acted) == (Why.CONNECTION_LOST, True)
    assert handler.seen == ["GET", "POST"]
    assert server.connections == 1
