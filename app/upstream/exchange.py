"""One exchange with Rivya, as the client and the engine speak of it: what goes out (an upload's
form), what comes back (an ``Answer``), and the engine's words for an exchange that failed.

An engine's only decision is what a failed exchange means, and for a paid create it is the
difference between "safe to refund" and "Rivya may have made the task":
- never connected (refused, no route, TLS or proxy refused, connect timeout): nothing was sent;
- connected and sent, then no answer in time (the client's deadline, or the connection timed
  out): it may have acted;
- connected and sent, then the connection broke or the answer was malformed: it may have acted;
- an answer larger than the engine reads: Rivya answered something, unread: it may have acted.
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from app.upstream.failures import UpstreamFailure, Why


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names lowercased
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def date(self) -> float | None:
        """Its ``Date`` as epoch seconds (to the second); None if absent or unreadable."""
        value = self.headers.get("date")
        if not value:
            return None
        try:
            return email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Upload:
    """A multipart form: one file part and text fields."""

    field: str
    name: str
    data: bytes
    mime_type: str
    fields: Mapping[str, str]

    def encoded(self) -> tuple[bytes, str]:
        """The form's body and its ``Content-Type`` (with a boundary no file can guess)."""
        boundary = "rivya-gateway-" + secrets.token_hex(16)
        parts: list[bytes] = []
        for name, value in self.fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(self.field)}"; '
            f'filename="{_quoted(self.name)}"\r\nContent-Type: {self.mime_type}\r\n\r\n'.encode()
        )
        parts.append(self.data + f"\r\n--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    # As browsers and httpx write form names (WHATWG): quotes and line breaks percent-encoded.
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def unreachable() -> UpstreamFailure:
    return UpstreamFailure(Why.UNREACHABLE, may_have_acted=False)  # nothing was sent


def timed_out() -> UpstreamFailure:
    return UpstreamFailure(Why.TIMEOUT, may_have_acted=True)  # sent; no answer in time


def connection_lost() -> UpstreamFailure:
    return UpstreamFailure(Why.CONNECTION_LOST, may_have_acted=True)  # sent, then lost


def too_large(status: int, limit: int) -> UpstreamFailure:
    """Rivya answered (``status``) more than the engine reads: whatever it said is unread."""
    return UpstreamFailure(
        Why.UNREADABLE,
        may_have_acted=True,
        status=status,
        message=f"the answer (HTTP {status}) is larger than the {limit} bytes the gateway reads",
    )
