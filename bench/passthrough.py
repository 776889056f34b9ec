"""The baseline the gateway is measured against: a minimal FastAPI + aiohttp pass-through on the
same server stack (uvicorn, one worker), with no auth, no Redis and no policy. It forwards
``POST /v1/images`` to the upstream's create and answers what the upstream answered.

    UPSTREAM_URL=http://127.0.0.1:PORT python -m bench.passthrough PORT [WORKERS]

With ``FLOOR_REDIS_URL`` set it is the *floor* instead: the same pass-through plus the two Redis
round trips every create of the gateway makes (a one-command script before the upstream call and
one after, over the gateway's own pipelined channel), and nothing else. What the gateway costs
beyond the floor is its policy; what the floor costs beyond the pass-through, no design that
keeps two round trips per create can save.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from fastapi import FastAPI, Request, Response

from app.store.channel import ChannelScript, open_channel

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081").rstrip("/")
KEY = os.environ.get("UPSTREAM_KEY", "")
FLOOR_REDIS_URL = os.environ.get("FLOOR_REDIS_URL", "")
ROUND_TRIP = "return redis.call('INCR', KEYS[1])"  # the least a script that decides can do


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        app.state.session = session
        channel = open_channel(FLOOR_REDIS_URL, timeout=5) if FLOOR_REDIS_URL else None
        app.state.round_trip = ChannelScript(channel, ROUND_TRIP) if channel else None
        yield
        if channel is not None:
            await channel.aclose()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/images")
async def create(request: Request) -> Response:
    session: aiohttp.ClientSession = request.app.state.session
    round_trip: ChannelScript | None = request.app.state.round_trip
    if round_trip is not None:  # the admission's round trip
        await round_trip(keys=["bench:floor:admit"], args=[])
    async with session.post(
        f"{UPSTREAM}/api/v1/generations",
        data=await request.body(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    ) as answer:
        body = await answer.read()
    if round_trip is not None:  # the record's round trip
        await round_trip(keys=["bench:floor:record"], args=[])
    return Response(body, status_code=answer.status, media_type="application/json")


@app.get("/api/v1/models")  # readiness, as the other processes of the bench answer it
async def ready() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run(
        "bench.passthrough:app",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        workers=workers,
    )
