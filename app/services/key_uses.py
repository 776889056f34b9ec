"""When each key was last used: noted per process as requests are answered, written at most once
a minute per key (``services/answered.py`` flushes it), so "last used" costs no write per
request. A key counts as used when it was good: its own revocation or expiry is not a use."""

from __future__ import annotations

from app.clock import Clock, iso_timestamp
from app.context import RequestContext
from app.errors import ApiKeyExpired, ApiKeyRevoked

EVERY_SECONDS = 60.0
_NOT_A_USE = frozenset({ApiKeyRevoked.code, ApiKeyExpired.code})


class KeyUses:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._pending: dict[str, str] = {}  # key id -> when, to write
        self._written: dict[str, float] = {}  # key id -> when it was last noted

    def answered(self, ctx: RequestContext) -> None:
        # key_id is set only once a key (or the key that minted a token) proved genuine, so
        # these maps hold real keys only: no made-up id can grow them.
        if ctx.key_id is None or ctx.error_code in _NOT_A_USE:
            return
        now = self._clock.now()
        if now - self._written.get(ctx.key_id, float("-inf")) >= EVERY_SECONDS:
            self._written[ctx.key_id] = now
            self._pending[ctx.key_id] = iso_timestamp(now)

    def drain(self) -> dict[str, str]:
        pending, self._pending = self._pending, {}
        return pending

    def put_back(self, pending: dict[str, str]) -> None:
        self._pending = {**pending, **self._pending}
