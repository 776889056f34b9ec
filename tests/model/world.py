"""The world the model of the books runs in: a real Redis, the simulator as Rivya behind an
upstream that answers as told (made, refused, an edge's bare status, lost, hung), and gateway
replicas in-process, each with its own wrong clock and scripts whose replies can be lost.

Everything the gateway does is its own code: its app, services, stores and Lua scripts. What
this module adds are the faults, each where the real one would strike:

- **Time.** One world clock moves only when the model says. A replica's clock is the world's
  plus its skew (up to 10 s either way); the scripts read the world's ("Redis's TIME"), as in
  production, where they read Redis's own clock (``app/clock.py``).
- **The upstream.** Every create a replica sends takes the next planned answer (or passes to
  the simulator); a hung one waits until the model answers it. Polls pass through. Each replica
  sends with its own production engine, over in-memory connections (``tests/memory_link.py``):
  a lost answer is a connection that times out, a refused one a connection refused.
- **Redis.** A replica's next call of a script can be made to fail before it runs, or to run
  and lose its reply (a stall past the client's timeout).
- **Death.** A killed replica makes no more Redis writes and sends nothing more upstream (its
  connections are cut, new ones refused); its requests in flight are cancelled where they
  stand, then it is shut down (nothing it does on the way out can write), and its leases are
  left to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import types
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

import app.services.forwarding
import app.services.settlement
import app.upstream.client
import app.wiring.stores
from app.clock import FakeClock
from app.factory import create_app
from app.settings import Settings, StoreSettings
from app.store.scripts import Scripts
from app.wiring.resources import Seams
from tests.memory_link import MemoryConnector
from tests.rivya_side import AnswerLost, Asgi, Reply, Request, json_reply, text_reply

Plan = Literal[
    "made",  # Rivya makes the task and answers
    "refused",  # Rivya's own refusal (its envelope, a documented code): nothing made
    "edge_503",  # a proxy's bare 503, nothing made (the gateway cannot know that)
    "edge_503_after",  # Rivya made the task, then a proxy answered a bare 503
    "lost_after",  # Rivya made the task; its answer never arrived
    "lost_before",  # the connection broke before Rivya saw anything
    "hang",  # Rivya has it; the answer waits until the model gives one
]
ANSWERS: tuple[Plan, ...] = (
    "made",
    "refused",
    "edge_503",
    "edge_503_after",
    "lost_after",
    "lost_before",
)
Fault = Literal["fail", "lose_reply"]


class ReplicaClock(FakeClock):
    """The world's clock, off by ``skew`` seconds; the scripts read the world's time."""

    def __init__(self, world: FakeClock, skew: float) -> None:
        super().__init__(world.now())
        self.world, self.skew = world, skew

    def now(self) -> float:
        return self.world.now() + self.skew

    def advance(self, seconds: float) -> None:
        self.world.advance(seconds)

    def set(self, timestamp: float) -> None:
        self.world.set(timestamp - self.skew)

    async def sleep(self, seconds: float) -> None:
        self.world.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def fake_time(self) -> float | None:
        return self.world.now()


class Upstream:
    """Rivya as the replicas reach it: the simulator, with the model's answers to creates."""

    def __init__(self, sim_app: FastAPI) -> None:
        self.sim = Asgi(sim_app)
        self.plans: list[Plan] = []
        self.hung: list[asyncio.Future[Plan]] = []
        self.hangs = asyncio.Event()  # set when a create starts to hang
        # What happens elsewhere while the next create is at Rivya (a Redis failing over).
        self.meanwhile: Callable[[], None] | None = None

    async def __call__(self, request: Request) -> Reply:
        if request.method == "POST" and request.path.endswith("/generations"):
            return await self.create(request)
        return await self.sim(request)

    async def create(self, request: Request) -> Reply:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        plan = self.plans.pop(0) if self.plans else "made"
        if plan == "hang":
            answer: asyncio.Future[Plan] = asyncio.get_running_loop().create_future()
            self.hung.append(answer)
            self.hangs.set()
            plan = await answer
        if plan in ("made", "edge_503_after", "lost_after"):
            made = await self.sim(request)
            if plan == "made":
                return made
        if plan == "refused":
            body = {"error": {"code": "public_api_disabled", "message": "down", "requestId": "r"}}
            return json_reply(503, body)
        if plan in ("edge_503", "edge_503_after"):
            return text_reply(503, "<html>503 Service Unavailable</html>", "text/html")
        raise AnswerLost


class FaultyScript:
    """A registered script whose next calls can fail before running or lose their reply."""

    def __init__(self, name: str, script: Callable[..., Awaitable[Any]], replica: Replica):
        self._name, self._script, self._replica = name, script, replica

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._replica.dead:
            raise RedisConnectionError("the process is dead")
        fault = self._replica.faults.pop(self._name, None)
        if fault == "fail":
            raise RedisConnectionError(f"{self._name}: Redis unreachable (model)")
        reply = await self._script(*args, **kwargs)
        if fault == "lose_reply":
            raise RedisTimeoutError(f"{self._name}: the reply was lost (model)")
        return reply


SCRIPT_NAMES = (
    "admit",
    "release",
    "record",
    "observe",
    "cancel",
    "lease_create",
    "abandon",
    "claim_poll",
    "reschedule",
    "settle_orphan",
)


@dataclass
class Replica:
    name: str
    skew: float
    dead: bool = False
    faults: dict[str, Fault] = field(default_factory=dict)
    app: FastAPI | None = None
    http: httpx.AsyncClient | None = None
    link: MemoryConnector | None = None  # its connections to Rivya
    requests: list[asyncio.Task[Any]] = field(default_factory=list)
    _exit: contextlib.AsyncExitStack | None = None

    def faulty(self, scripts: Scripts) -> Scripts:
        for name in SCRIPT_NAMES:
            setattr(scripts, name, FaultyScript(name, getattr(scripts, name), self))
        return scripts


class World:
    """Redis, the upstream and the replicas; ``run`` drives the event loop a step at a time."""

    def __init__(self, settings: Settings, sim_app: FastAPI, clock: FakeClock) -> None:
        self.settings, self.sim_app, self.clock = settings, sim_app, clock
        self.upstream = Upstream(sim_app)
        self.replicas: dict[str, Replica] = {}
        self._building: Replica | None = None
        self._scripts_for = app.wiring.stores.scripts_for

    def run(self, step: Awaitable[Any]) -> Any:
        return asyncio.get_event_loop().run_until_complete(step)

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Scripts built for a replica are that replica's faulty ones; and the gateway's random
        choices (jitter of polls and retries) are seeded, so that a run replays."""
        original = app.wiring.stores.scripts_for
        seeds = itertools.count()

        class Seeded(random.Random):
            def __init__(self, seed: object = None) -> None:
                super().__init__(next(seeds))

        shim = types.SimpleNamespace(Random=Seeded)
        modules = (app.upstream.client, app.services.settlement, app.services.forwarding)
        randoms = [getattr(module, "random") for module in modules]  # noqa: B009
        for module in modules:
            setattr(module, "random", shim)  # noqa: B010

        def scripts_for(settings: StoreSettings, redis: Any, channel: Any = None) -> Scripts:
            scripts = original(settings, redis, channel)
            return self._building.faulty(scripts) if self._building else scripts

        app.wiring.stores.scripts_for = scripts_for
        try:
            yield
        finally:
            app.wiring.stores.scripts_for = original
            for module, module_random in zip(modules, randoms, strict=True):
                setattr(module, "random", module_random)  # noqa: B010

    async def start(self, name: str, skew: float) -> Replica:
        replica = Replica(name, skew, link=MemoryConnector(self.upstream))
        gateway = create_app(
            self.settings,
            seams=Seams(
                upstream=replica.link,
                downloads=httpx.ASGITransport(app=self.sim_app),  # Rivya's result files
            ),
            clock=ReplicaClock(self.clock, skew),
            configure_logs=False,
        )
        stack = contextlib.AsyncExitStack()
        self._building = replica
        try:
            await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        finally:
            self._building = None
        transport = httpx.ASGITransport(app=gateway)
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30)
        )
        replica.app, replica.http, replica._exit = gateway, http, stack
        self.replicas[name] = replica
        return replica

    async def kill(self, name: str) -> None:
        """The process dies where it stands: no more writes, nothing sent; then gone."""
        replica = self.replicas.pop(name)
        replica.dead = True
        if replica.link is not None:
            replica.link.cut()  # nothing more leaves it: its connections break, none opens
        for request in replica.requests:
            request.cancel()
        for request in replica.requests:
            with contextlib.suppress(BaseException):
                await request
        if replica._exit is not None:
            with contextlib.suppress(Exception):
                await replica._exit.aclose()

    async def stop_all(self) -> None:
        for name in list(self.replicas):
            await self.kill(name)
