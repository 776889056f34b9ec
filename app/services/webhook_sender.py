"""Sending one event to one webhook: signed per Standard Webhooks (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``), to the address its target was checked for
(``services/webhook_targets.py``), never following a redirect, within a short timeout, reading
at most a few KB of the answer. The client is the webhooks' own: it never carries the org key
or a team's key."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from app.clock import Clock
from app.domain.webhook_targets import TargetRefused
from app.domain.webhooks import Attempt, Outcome, Webhook
from app.services.webhook_targets import Targets

log = logging.getLogger("app.deliveries")

ANSWER_BYTES_READ = 4096  # of a receiver's answer: it is not used, only drained politely
USER_AGENT = "rivya-gateway-webhooks"


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        targets: Targets,
        clock: Clock,
        *,
        deadline_seconds: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        # The signature's timestamp is the wall clock's: receivers check it against theirs.
        # Which secrets sign (a rotation's overlap) is the gateway's clock's to say.
        self._client, self._targets, self._clock, self._wall = client, targets, clock, wall
        self._deadline = deadline_seconds

    async def send(self, webhook: Webhook, event: dict[str, Any]) -> Attempt:
        """One attempt, within ``deadline`` seconds all told (resolving, connecting, sending,
        reading): a receiver that answers a byte at a time cannot hold it past its lease."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._deadline):
                return await self._attempt(webhook, event, started)
        except TimeoutError:
            return Attempt(Outcome.RETRY, error="timed out", seconds=_since(started))
        except Exception as exc:  # anything else is this attempt's failure, counted as such
            log.exception("webhook attempt failed", extra={"webhook_id": webhook.id})
            return Attempt(Outcome.RETRY, error=type(exc).__name__, seconds=_since(started))

    async def _attempt(self, webhook: Webhook, event: dict[str, Any], started: float) -> Attempt:
        try:
            target = await self._targets.resolve(webhook.url)
        except TargetRefused as refused:  # retried: its DNS may be mended within the window
            return Attempt(Outcome.RETRY, error=f"target refused: {refused}")
        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(self._wall())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook.signatures(
                event["id"], timestamp, body, int(self._clock.now() * 1000)
            ),
        }
        if target.host is not None:
            headers["host"] = target.host
        extensions = {"sni_hostname": target.sni} if target.sni else None
        try:
            async with self._client.stream(
                "POST", target.url, content=body, headers=headers, extensions=extensions
            ) as answer:
                await _drain_some(answer)
        except httpx.HTTPError as exc:
            return Attempt(Outcome.RETRY, error=type(exc).__name__, seconds=_since(started))
        if answer.is_success:
            return Attempt(Outcome.DELIVERED, answer.status_code, seconds=_since(started))
        why = "redirects are not followed" if answer.is_redirect else None
        return Attempt(Outcome.RETRY, answer.status_code, why, seconds=_since(started))


async def _drain_some(answer: httpx.Response) -> None:
    if answer.is_stream_consumed:  # an answer read already (an in-process transport's)
        return
    read = 0
    async for chunk in answer.aiter_raw():
        read += len(chunk)
        if read >= ANSWER_BYTES_READ:
            return


def _since(started: float) -> float:
    return time.monotonic() - started
