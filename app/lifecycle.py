"""Leaving gracefully: how a replica stops without failing anyone.

On SIGTERM (Kubernetes deleting the pod, ``docker stop``) the process first **drains**:
``/readyz`` answers 503 ``{"status": "draining"}`` so the load balancer stops sending it
requests, while it keeps serving whatever still arrives, for ``DRAIN_SECONDS``. Then uvicorn
stops accepting connections and gives the requests in flight up to ``SHUTDOWN_GRACE_SECONDS``
to finish (a create's ``?wait=`` holds at most 60 s). Then the lifespan stops the settler (the
leases it held lapse, and other replicas take its tasks over), lets the unfinished store writes
finish within their bound, and closes the Redis and upstream pools. A second SIGTERM, or a
SIGINT, skips the drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn

log = logging.getLogger("app.lifecycle")


class Draining:
    """Whether the app is draining: made by ``create_app`` (``app.state.draining``), started by
    the server that runs it when SIGTERM comes, read by ``/readyz``."""

    def __init__(self) -> None:
        self.since: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def start(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with the drain in front of its own graceful shutdown."""

    def __init__(self, config: uvicorn.Config, *, draining: Draining, drain_seconds: float) -> None:
        super().__init__(config)
        self._draining, self._drain_seconds = draining, drain_seconds
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (
            sig == signal.SIGTERM
            and self._drain_seconds > 0
            and not self._draining.active
            and self._loop is not None
        ):
            # In a signal handler: only mark, and let the loop do the rest.
            self._draining.start()
            self._loop.call_soon_threadsafe(self._drain)
            return
        super().handle_exit(sig, frame)

    def _drain(self) -> None:
        log.info(
            "draining: not ready any more; serving what still arrives, then stopping",
            extra={"drain_seconds": self._drain_seconds},
        )
        assert self._loop is not None
        self._loop.call_later(self._drain_seconds, self._stop)

    def _stop(self) -> None:
        log.info("drained: no new connections; finishing the requests in flight")
        super().handle_exit(signal.SIGTERM, None)
