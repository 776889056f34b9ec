"""Browser tokens: short-lived JWTs (HS256, PyJWT) a team's backend mints for one end user.

A token names its team (and the team's generation), the ``subject`` (the end user), the key
that minted it, when it expires (at most an hour) and, optionally, a credit cap of its own. It
is verified here, without Redis: the signature (by ``kid``: the current secret, or the previous
one during a rotation), the issuer and audience, and the times. Revocation (a team's "not
before", a subject's) is checked against the team's cached state by the caller resolver, and
again, atomically, by the admission of every paid create.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from app.domain.tokens import TOKEN_LEEWAY_SECONDS, TOKEN_MAX_TTL_SECONDS
from app.errors import ApiKeyInvalid, TokenExpired

ISSUER = "rivya-gateway"
AUDIENCE = "rivya-gateway/browser"
ALGORITHM = "HS256"
MAX_TTL_SECONDS = TOKEN_MAX_TTL_SECONDS
DEFAULT_TTL_SECONDS = 900
LEEWAY_SECONDS = TOKEN_LEEWAY_SECONDS


@dataclass(frozen=True)
class BrowserToken:
    """A verified token's claims."""

    token_id: str  # jti: also names the token's own credit account
    team: str
    generation: str
    subject: str
    key_id: str  # the team key that minted it: revoking that key stops its tokens' creates
    issued_at_ms: int  # to the millisecond: a token minted just after a revocation is valid
    expires_at: int
    max_credits: int | None

    @property
    def issued_at(self) -> float:
        return self.issued_at_ms / 1000


def key_id_for(secret: str) -> str:
    """The ``kid`` of a signing secret: a digest, so it names the secret without showing it."""
    return hashlib.sha256(b"rivya-gateway token kid:" + secret.encode()).hexdigest()[:16]


def looks_like_token(credential: str) -> bool:
    return credential.startswith("eyJ") and credential.count(".") == 2


class TokenSigner:
    """Mints with the current secret; verifies with the current or the previous one."""

    def __init__(self, secret: str, previous: str | None = None) -> None:
        self._current = (key_id_for(secret), secret)
        self._verifiers = {key_id_for(secret): secret}
        if previous:
            self._verifiers[key_id_for(previous)] = previous

    def mint(
        self,
        *,
        team: str,
        generation: str,
        subject: str,
        key_id: str,
        now: float,
        ttl_seconds: int,
        max_credits: int | None,
    ) -> tuple[str, BrowserToken]:
        issued_ms = int(now * 1000)
        claims = BrowserToken(
            token_id="tok_" + secrets.token_hex(12),
            team=team,
            generation=generation,
            subject=subject,
            key_id=key_id,
            issued_at_ms=issued_ms,
            expires_at=issued_ms // 1000 + ttl_seconds,
            max_credits=max_credits,
        )
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": claims.token_id,
            "sub": subject,
            "team": team,
            "gen": generation,
            "key": key_id,
            "iat": issued_ms // 1000,
            "nbf": issued_ms // 1000,
            "exp": claims.expires_at,
            "iat_ms": issued_ms,
        }
        if max_credits is not None:
            payload["cap"] = max_credits
        kid, secret = self._current
        return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid}), claims

    def verify(self, token: str, *, now: float) -> BrowserToken:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise ApiKeyInvalid("The token is malformed.") from None
        secret = self._verifiers.get(str(kid))
        if secret is None:
            raise ApiKeyInvalid("The token was signed with a key this gateway does not accept.")
        try:
            # The algorithm is fixed: a token saying "none" or another algorithm is refused.
            payload = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": ["exp", "iat", "nbf", "jti", "sub", "aud", "iss"],
                    # Times are judged below by the gateway's clock (the one every other
                    # decision uses, and tests control), not PyJWT's reading of the host's.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise ApiKeyInvalid("The token is invalid.") from None
        claims = _claims(payload)
        if claims.expires_at + LEEWAY_SECONDS <= now:
            raise TokenExpired()
        if claims.issued_at - LEEWAY_SECONDS > now:
            raise ApiKeyInvalid("The token is not valid yet.")
        if claims.expires_at - claims.issued_at_ms // 1000 > MAX_TTL_SECONDS:
            raise ApiKeyInvalid("The token lives longer than tokens may.")
        return claims


def _issued_ms(payload: dict[str, Any]) -> int:
    seconds = int(payload["iat"])
    millis = int(payload.get("iat_ms", seconds * 1000))
    if millis // 1000 != seconds:
        raise ValueError("iat_ms disagrees with iat")
    return millis


def _claims(payload: dict[str, Any]) -> BrowserToken:
    try:
        cap = payload.get("cap")
        return BrowserToken(
            token_id=str(payload["jti"]),
            team=str(payload["team"]),
            generation=str(payload["gen"]),
            subject=str(payload["sub"]),
            key_id=str(payload["key"]),
            issued_at_ms=_issued_ms(payload),
            expires_at=int(payload["exp"]),
            max_credits=int(cap) if cap is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        raise ApiKeyInvalid("The token is invalid.") from None
