"""The request log: what the upstream saw, so tests can assert on it (or on its absence)."""

from __future__ import annotations

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
        return asdict(self)


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
