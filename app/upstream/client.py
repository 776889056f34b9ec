"""The one long-lived client for Rivya: org key injected here and nowhere else.

It sends through the one engine (``upstream/http1.py``), over whatever connector it is given
(the network in production, an in-memory server in tests: ``upstream/connect.py``). Every
failure is decided once, as an ``UpstreamFailure`` (``upstream/failures.py``): the engine says
what a failed exchange means, this client what an answer means; routes and services never see
a socket error or a raw upstream status.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from app import context
from app.clock import Clock, SystemClock
from app.metrics import Metrics, Series
from app.rivya_schemas import (
    RivyaCredits,
    RivyaFile,
    RivyaTask,
    RivyaWebhook,
    RivyaWebhookList,
)
from app.upstream.connect import Connector
from app.upstream.exchange import Answer, Upload, timed_out
from app.upstream.failures import UpstreamFailure, Why
from app.upstream.http1 import Http1Engine
from app.upstream.reading import failure_for, parse
from app.upstream.resilience import CircuitBreaker, RetryPolicy

log = logging.getLogger("app.upstream")
Model = TypeVar("Model", bound=BaseModel)
USER_AGENT = "rivya-gateway/0.1"


class RivyaClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        connector: Connector | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._timings = metrics.upstream_seconds.labels if metrics else None
        self._errors = Series(metrics.upstream_errors) if metrics else None
        self._deadline = timeout
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(self._clock)
        self._rng = random.Random()
        default_headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self._engine = Http1Engine(
            base_url,
            default_headers,
            connect_timeout=min(connect_timeout, timeout),
            max_connections=max_connections,
            connector=connector,  # None: the network, with the system's trust and no proxy
        )

    async def aclose(self) -> None:
        await self._engine.aclose()

    async def create_generation(
        self,
        body: dict[str, Any],
        *,
        idempotency_key: str,
        sent_before: bool = False,
        within: float = math.inf,
    ) -> RivyaTask:
        """Create a task. Retried where safe: the same ``Idempotency-Key`` goes with every
        attempt, so Rivya answers a repeat with the task it already made. ``sent_before``: an
        earlier call may have reached Rivya (a resend), so no failure of this one can say it
        did not act. ``within``: seconds the whole call, retries included, must end in (a
        create's lease): an attempt still waiting then is a timeout (Rivya may have acted)."""
        result, _ = await self._exchange(
            "POST",
            "/api/v1/generations",
            RivyaTask,
            content=orjson.dumps(body),  # compact UTF-8 JSON, as httpx's json= wrote it
            headers={"Idempotency-Key": idempotency_key, "Content-Type": "application/json"},
            sent_before=sent_before,
            # One timeout per attempt bounds the attempt and the call: no second one around.
            end_by=asyncio.get_running_loop().time() + within,
        )
        return result

    async def get_generation(self, task_id: str) -> RivyaTask:
        return await self._call("GET", f"/api/v1/generations/{task_id}", RivyaTask)

    async def upload_file(
        self, data: bytes, *, name: str, mime_type: str, kind: str, model: str | None
    ) -> RivyaFile:
        """Send a checked file to Rivya's Files API (multipart ``file``, ``kind``, ``model``).
        Retried where safe: a repeat at worst stores an unused copy, which costs nothing."""
        form = {"kind": kind, **({"model": model} if model else {})}
        upload = Upload("file", name, data, mime_type, form)
        return await self._call("POST", "/api/v1/files", RivyaFile, upload=upload)

    async def get_credits(self) -> RivyaCredits:
        return await self._call("GET", "/api/v1/credits", RivyaCredits)

    async def list_webhooks(self) -> list[RivyaWebhook]:
        """The account's webhooks at Rivya."""
        return (await self._call("GET", "/api/v1/webhooks", RivyaWebhookList)).data

    async def create_webhook(self, name: str, url: str, event_types: list[str]) -> RivyaWebhook:
        """Register an account webhook at Rivya (a repeat at worst registers it twice: its
        deliveries are hints, and hints are deduplicated)."""
        body = {"name": name, "url": url, "event_types": event_types}
        return await self._call(
            "POST",
            "/api/v1/webhooks",
            RivyaWebhook,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    async def balance(self) -> int:
        """The organisation's current Rivya balance."""
        return (await self.get_credits()).current_credits

    async def balance_at(self) -> tuple[int, float | None]:
        """The balance, and when Rivya read it by its own clock (its answer's ``Date``, to the
        second; None without one): the reconciliation places Rivya's task times against it."""
        credits, answer = await self._exchange("GET", "/api/v1/credits", RivyaCredits)
        return credits.current_credits, answer.date

    async def _call(self, method: str, path: str, model: type[Model], **send: Any) -> Model:
        """``_exchange``'s answer as its model alone."""
        result, _ = await self._exchange(method, path, model, **send)
        return result

    async def _exchange(
        self,
        method: str,
        path: str,
        model: type[Model],
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        upload: Upload | None = None,
        sent_before: bool = False,
        end_by: float = math.inf,
    ) -> tuple[Model, Answer]:
        """One logical call: attempts with backoff while safe, within the retry budget (and
        by ``end_by``, the loop's time), through the circuit breaker. Fails with one
        ``UpstreamFailure`` that says what the whole call means (an earlier attempt that may
        have reached Rivya keeps its outcome unknown)."""
        started = self._clock.now()
        attempt, maybe_sent = 0, sent_before
        while True:
            try:
                self.breaker.before_call()
                response = await self._send(
                    method, path, content=content, headers=headers, upload=upload, end_by=end_by
                )
                result = parse(response, model)
            except UpstreamFailure as failure:
                self._count(failure)
                outcome = failure.after(maybe_sent)
                maybe_sent = outcome.may_have_acted
                attempt += 1
                delay = self._retry_in(outcome, attempt, started, end_by)
                if delay is None:
                    raise outcome from failure.__cause__
                log.warning(
                    "retrying upstream call",
                    extra={
                        "upstream_path": path,
                        "attempt": attempt + 1,
                        "reason": outcome.why.value,
                    },
                )
                await self._clock.sleep(delay)
                continue
            except BaseException:
                # Cancelled, or failed in a way we did not foresee: count it, so a half-open
                # probe always reports and can never hold the circuit open for good.
                self.breaker.failed()
                raise
            self.breaker.succeeded()
            return result, response

    def _count(self, failure: UpstreamFailure) -> None:
        """Tell the circuit breaker what a failed attempt says of Rivya."""
        if failure.why is Why.CIRCUIT_OPEN:
            return
        if failure.says_rivya_is_down:
            self.breaker.failed()
        else:
            self.breaker.succeeded()  # Rivya answered: it is up, whatever it said

    def _retry_in(
        self, outcome: UpstreamFailure, attempt: int, started: float, end_by: float
    ) -> float | None:
        """How long until the next attempt; None when the call ends here (not safe to retry, no
        attempt left, or the wait would overrun the retry budget or the call's end)."""
        if not outcome.retryable or attempt >= self._retry.attempts:
            return None
        delay = self._retry.delay(attempt - 1, outcome, self._rng, now=self._clock.now())
        if self._clock.now() - started + delay > self._retry.budget_seconds:
            return None
        if asyncio.get_running_loop().time() + delay >= end_by:
            return None
        return delay

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        upload: Upload | None = None,
        end_by: float = math.inf,
    ) -> Answer:
        request_headers = {"X-Request-ID": context.current_request_id(), **(headers or {})}
        started = time.perf_counter()
        try:
            response = await self._attempt(method, path, request_headers, content, upload, end_by)
        except UpstreamFailure as failure:
            self._observe(method, path, failure.why.value, started, code=failure.metric_code)
            raise
        self._observe(method, path, "ok", started)
        return response

    def _observe(
        self, method: str, path: str, outcome: str, started: float, *, code: str = ""
    ) -> None:
        if self._timings is None or self._errors is None:
            return
        # Task and file ids are cut from the path: one series per route, not per task.
        route = "/".join(path.split("/")[:4])
        self._timings(method, route, outcome).observe(time.perf_counter() - started)
        if outcome != "ok":
            self._errors(outcome, code).inc()

    async def _attempt(
        self,
        method: str,
        path: str,
        request_headers: dict[str, str],
        content: bytes | None,
        upload: Upload | None,
        end_by: float,
    ) -> Answer:
        try:
            # The engine bounds the connect; this bounds the whole answer, as the contract's
            # RIVYA_TIMEOUT_SECONDS promises (a slow trickle of bytes cannot hold us longer),
            # and ends it by the call's own end (``end_by``, the loop's time) if that is sooner.
            loop = asyncio.get_running_loop()
            async with asyncio.timeout_at(min(loop.time() + self._deadline, end_by)):
                response = await self._engine.send(
                    method, path, request_headers, content=content, upload=upload
                )
        except TimeoutError as exc:
            log.warning("upstream timeout", extra={"upstream_path": path})
            raise timed_out() from exc
        except UpstreamFailure as failure:
            what = _SAID.get(failure.why, "upstream connection lost")
            reason = failure.message or str(failure.__cause__)
            log.warning(what, extra={"upstream_path": path, "reason": reason})
            raise
        context.note_upstream_request(response.headers.get("x-request-id"))
        if response.is_success:
            return response
        raise failure_for(response)


# How the engine's failures are logged (each with its reason: the socket's, TLS's, the proxy's).
_SAID = {
    Why.UNREACHABLE: "upstream unreachable",
    Why.TIMEOUT: "upstream timeout",
    Why.UNREADABLE: "upstream answer not read",
}
