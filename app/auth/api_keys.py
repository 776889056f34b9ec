"""Team API keys: generation, the stored hash, and constant-time verification.

A key looks like ``rgw_<16 hex>_<43 url-safe chars>``: the hex part names the key record (so a
lookup needs no scan), the rest is 256 bits of randomness. Only SHA-256 of the whole key is
stored; with that much entropy a slow password hash would add latency and no safety.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "rgw_"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    key: str
    secret_hash: str


def generate_key() -> NewKey:
    public = secrets.token_hex(8)
    key = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id=f"key_{public}", key=key, secret_hash=hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The record id a presented key claims, or None if it is not shaped like our keys."""
    if not key.startswith(KEY_PREFIX):
        return None
    public, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not secret or _PUBLIC.fullmatch(public) is None:
        return None
    return f"key_{public}"


_PUBLIC = re.compile(r"[0-9a-f]{16}")
_REFERENCE = re.compile(r"(?:key_|rgw_)?(?P<public>[0-9a-f]{16})")


def key_id_named_by(reference: str) -> str | None:
    """The key id an admin's reference names: the id (``key_<hex>``), the key itself (what a
    leak hands you), or its public part (``rgw_<hex>``, or the bare hex). None if it is none of
    these. Never echo ``reference`` back: it may be a whole key."""
    reference = reference.strip()
    if key_id_of(reference) is not None:
        return key_id_of(reference)
    named = _REFERENCE.fullmatch(reference)
    return f"key_{named['public']}" if named else None


def is_whole_key(reference: str) -> bool:
    return key_id_of(reference.strip()) is not None


def matches(key: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), secret_hash)


def tokens_equal(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
