"""The links answers give for a task's result files: ``/v1/results/{task}/{index}`` with the
team, an expiry and an HMAC over them, so that a browser's ``<img>`` loads one without a header,
only for as long as it says, and only the file it names. Made afresh on every read of the task.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from app.clock import Clock, iso_timestamp
from app.errors import ResultLinkExpired, ResultLinkInvalid

RESULTS_PATH = "/v1/results"


class ResultLinks:
    def __init__(self, secret: bytes, clock: Clock, *, seconds: int) -> None:
        self._secret, self._clock, self._seconds = secret, clock, seconds

    def link(self, base_url: str, tenant: str, task_id: str, index: int) -> str:
        """A link to one file of a task, valid for the configured time from now."""
        expires = int(self._clock.now()) + self._seconds
        query = urlencode(
            {"team": tenant, "expires": expires, "sig": self._sign(tenant, task_id, index, expires)}
        )
        return f"{base_url.rstrip('/')}{RESULTS_PATH}/{task_id}/{index}?{query}"

    def check(self, tenant: str, task_id: str, index: int, expires: int, sig: str) -> int:
        """That a link's signature holds for what it names, and its time is not up: the
        seconds it has left (an answer may be cached that long). Raises otherwise."""
        expected = self._sign(tenant, task_id, index, expires)
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise ResultLinkInvalid()
        left = expires - int(self._clock.now())
        if left <= 0:
            raise ResultLinkExpired(
                f"This result link expired at {iso_timestamp(expires)}: read the task again "
                "for a fresh one."
            )
        return left

    def _sign(self, tenant: str, task_id: str, index: int, expires: int) -> str:
        message = f"{tenant}\n{task_id}\n{index}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_secret(configured: str | None, org_key: str) -> bytes:
    """The links' secret: the configured one, else one derived from the org key (every replica
    holds it, and the derivation does not reveal it), so no setting is needed to start."""
    if configured:
        return configured.encode()
    return hmac.new(org_key.encode(), b"rivya-gateway result links", hashlib.sha256).digest()
