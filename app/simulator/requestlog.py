"""The request log: what the upstream saw, so tests can assert on it (or on its absence)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RequestRecord:
    """One request to ``/api/v1/*`` as it arrived (``status`` is filled in once answered)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    time: float
    request_id: str
    status: int | None = None
    # Multipart uploads: the form fields, files described by name, type and size.
    form: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def as_dict(self) -> dict[str, Any]:
        """The record as ``/_sim/requests`` shows it: credentials redacted, as the gateway's own
        logs do; a digest still tells which key was sent without showing it."""
        data = asdict(self)
        data["headers"] = {
            name: redacted_credential(value) if name in _CREDENTIAL_HEADERS else value
            for name, value in self.headers.items()
        }
        return data


_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def redacted_credential(value: str) -> str:
    """``Bearer [REDACTED] sha256:1a2b3c4d5e6f``: the scheme and a digest, never the secret."""
    scheme, _, secret = value.partition(" ")
    if not secret:
        scheme, secret = "", value
    digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
    return f"{scheme + ' ' if scheme else ''}[REDACTED] sha256:{digest}"


def headers_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names lowercased; repeated headers joined the way HTTP allows (``, ``)."""
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


def parse_body(body: bytes, content_type: str) -> Any:
    """The JSON body, or None when there is none or it is not JSON (uploads are not parsed)."""
    if not body or "multipart/" in content_type:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
