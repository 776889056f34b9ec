"""Who is calling: turns an ``Authorization`` header into a ``Caller`` or a 401.

A team key, or a browser token minted with one (``auth/tokens.py``). Key records, their teams
and the teams' token revocations are cached in-process for ``KEY_CACHE_SECONDS`` so a hot key or
token costs no Redis round trip; the secret or signature is still verified on every request.
Reads may use a revoked key or token for at most that long; a paid create never can, since the
admission script checks the key's, the token's and the team's standing itself
(store/lua/admit.lua).
"""

from __future__ import annotations

from dataclasses import dataclass

from app import context
from app.auth.api_keys import key_id_of, matches, tokens_equal
from app.auth.tokens import BrowserToken, TokenSigner, looks_like_token
from app.clock import Clock
from app.domain.teams import ApiKeyRecord, Team
from app.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    ApiKeyRevoked,
    Forbidden,
    GatewayError,
)
from app.store.api_keys import ApiKeyStore
from app.store.teams import TeamStore
from app.store.tokens import TokenRevocationStore

_MAX_CACHED = 10_000


@dataclass(frozen=True)
class Caller:
    team: Team
    key_id: str  # the team key used, or the one that minted the browser token
    token: BrowserToken | None = None

    @property
    def subject(self) -> str | None:
        """The end user a browser token acts for; None for a team key (it sees everything)."""
        return self.token.subject if self.token else None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise ApiKeyMissing()
    parts = authorization.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        raise ApiKeyMissing("Send the key as: Authorization: Bearer <key>.")
    return parts[1].strip()


class CallerResolver:
    def __init__(
        self,
        keys: ApiKeyStore,
        teams: TeamStore,
        revocations: TokenRevocationStore,
        clock: Clock,
        *,
        cache_seconds: float,
        signer: TokenSigner | None,
    ) -> None:
        self._keys, self._teams, self._clock = keys, teams, clock
        self._revocations, self._signer = revocations, signer
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, ApiKeyRecord, Team | None]] = {}
        self._revoked: dict[tuple[str, str], tuple[float, float]] = {}

    async def team_caller(self, authorization: str | None) -> Caller:
        credential = bearer_token(authorization)
        if looks_like_token(credential):
            return await self._token_caller(credential)
        return await self._key_caller(credential)

    def known_caller(self, authorization: str | None) -> Caller | None:
        """The caller of a good team key whose record this process holds cached: one parse, one
        hash, no lookup. None for anything else (a token; a key unknown here, bad, revoked or
        expired), which goes the whole way (``team_caller``) and fails there as it should."""
        try:
            key = bearer_token(authorization)
        except ApiKeyMissing:
            return None
        key_id = None if looks_like_token(key) else key_id_of(key)
        cached = self._cache.get(key_id) if key_id else None
        if key_id is None or cached is None or cached[0] <= self._clock.now():
            return None
        try:
            return self._checked_key(key, key_id, cached[1], cached[2])
        except GatewayError:
            return None

    def vouched(self, authorization: str | None) -> bool:
        """Whether this process already knows the credential is good, without any lookup: a
        key whose record it holds cached (and that matches), or a token whose signature and
        time check out."""
        try:
            credential = bearer_token(authorization)
        except ApiKeyMissing:
            return False
        if looks_like_token(credential):
            if self._signer is None:
                return False
            try:
                self._signer.verify(credential, now=self._clock.now())
            except GatewayError:
                return False
            return True
        key_id = key_id_of(credential)
        cached = self._cache.get(key_id) if key_id else None
        if cached is None or cached[0] <= self._clock.now():
            return False
        record = cached[1]
        return not record.revoked and matches(credential, record.secret_hash)

    def is_token(self, authorization: str | None) -> bool:
        """Whether the credential is shaped like a browser token (not whether it is valid)."""
        try:
            return looks_like_token(bearer_token(authorization))
        except ApiKeyMissing:
            return False

    async def _token_caller(self, credential: str) -> Caller:
        if self._signer is None:
            raise ApiKeyInvalid("Browser tokens are not enabled: GATEWAY_TOKEN_SECRET is not set.")
        token = self._signer.verify(credential, now=self._clock.now())
        record, team = await self._lookup(token.key_id)
        if record is None or team is None or team.id != token.team:
            raise ApiKeyInvalid("This token's team no longer exists.")
        if (team.generation or "") != token.generation or record.generation != team.generation:
            raise ApiKeyInvalid("This token's team no longer exists.")
        # A genuine token of this team: its refusals from here on are the team's to see.
        context.note_team(team.id, team.tenant, token.key_id)
        context.note_subject(token.subject)
        if record.revoked:
            raise ApiKeyRevoked("The key that minted this token has been revoked.")
        if record.expired(self._clock.now()):
            raise ApiKeyExpired(f"The key that minted this token expired at {record.expires_at}.")
        not_before = await self._not_before(team.tenant, token.subject)
        if token.issued_at <= not_before:
            raise ApiKeyRevoked("This token has been revoked.")
        return Caller(team=team, key_id=token.key_id, token=token)

    async def _not_before(self, tenant: str, subject: str) -> float:
        """When the subject's tokens were last revoked (its own or the team-wide revocation),
        cached per subject: one small read, however many subjects the team revoked."""
        now = self._clock.now()
        cached = self._revoked.get((tenant, subject))
        if cached is not None and cached[0] > now:
            return cached[1]
        not_before = await self._revocations.not_before(tenant, subject)
        if self._ttl > 0:
            if len(self._revoked) >= _MAX_CACHED:
                self._revoked = {k: v for k, v in self._revoked.items() if v[0] > now}
            self._revoked[tenant, subject] = (now + self._ttl, not_before)
        return not_before

    def forget_revocations(self, tenant: str) -> None:
        """This replica revoked tokens: it stops honouring them at once, not after its cache."""
        self._revoked = {k: v for k, v in self._revoked.items() if k[0] != tenant}

    async def _key_caller(self, key: str) -> Caller:
        key_id = key_id_of(key)
        if key_id is None:
            raise ApiKeyInvalid()
        record, team = await self._lookup(key_id)
        return self._checked_key(key, key_id, record, team)

    def _checked_key(
        self, key: str, key_id: str, record: ApiKeyRecord | None, team: Team | None
    ) -> Caller:
        if record is None or not matches(key, record.secret_hash):
            raise ApiKeyInvalid()
        if team is None or team.generation != record.generation:
            # Its team was deleted (and perhaps its id taken by a new team): not a key any more.
            raise ApiKeyInvalid("This key's team no longer exists.")
        # A genuine key of this team (revoked or not): its refusals are the team's to see.
        context.note_team(team.id, team.tenant, key_id)
        if record.revoked:
            raise ApiKeyRevoked()
        if record.expired(self._clock.now()):
            raise ApiKeyExpired(
                f"This key expired at {record.expires_at}: ask an admin for a new one."
            )
        return Caller(team=team, key_id=key_id)

    async def _lookup(self, key_id: str) -> tuple[ApiKeyRecord | None, Team | None]:
        now = self._clock.now()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        record = await self._keys.get(key_id)
        team = await self._teams.get(record.team) if record else None
        # Only real keys are cached, so a spray of made-up ids cannot push them out.
        if self._ttl > 0 and record is not None:
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) < _MAX_CACHED:
                self._cache[key_id] = (now + self._ttl, record, team)
        return record, team


def check_scrape(authorization: str | None, metrics_token: str | None) -> None:
    """``/metrics`` asks for its own token when ``METRICS_TOKEN`` is set (never a team key's
    or the admin's: a scraper holds no more than it needs)."""
    if metrics_token is None:
        return
    try:
        token = bearer_token(authorization)
    except ApiKeyMissing:
        raise ApiKeyMissing(
            "/metrics needs the scrape token (the METRICS_TOKEN setting): "
            "Authorization: Bearer <metrics token>."
        ) from None
    if not tokens_equal(token, metrics_token):
        raise ApiKeyInvalid("/metrics takes the scrape token (the METRICS_TOKEN setting).")


def check_admin(authorization: str | None, admin_token: str | None) -> None:
    """Admin routes accept the admin token and nothing else (a team key included; a browser
    token is told it is out of its scope)."""
    try:
        token = bearer_token(authorization)
    except ApiKeyMissing:
        raise ApiKeyMissing(
            "The admin API needs the admin token (the GATEWAY_ADMIN_TOKEN setting): "
            "Authorization: Bearer <admin token>."
        ) from None
    if looks_like_token(token):
        raise Forbidden("A browser token may not use the admin API.")
    if admin_token is None:
        raise ApiKeyInvalid("The admin API is disabled: GATEWAY_ADMIN_TOKEN is not set.")
    if not tokens_equal(token, admin_token):
        raise ApiKeyInvalid(
            "The admin API takes the admin token (the GATEWAY_ADMIN_TOKEN setting); this "
            "credential is not it (a team key never is)."
        )
