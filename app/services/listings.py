"""Paged listings: the page size, the opaque task cursor and the ``since`` time that a listing
takes, checked together (``listing_bounds``).

The team's tasks (``GET /v1/images``) and the admin's listings (tasks across teams, a team's
ledger) page alike, and both task listings share the task cursor.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import TypeVar

from app.catalog import FieldError
from app.clock import epoch_ms_of
from app.domain.tasks import TaskPosition
from app.errors import ValidationFailed

DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
# A cursor is "<created ms>:<task id>"; the bound keeps a forged one from costing anything.
_CURSOR_POSITION = re.compile(r"(\d{1,15}):([\x21-\x7e]{1,200})")


def encode_cursor(position: TaskPosition) -> str:
    """Opaque and URL-safe: clients pass it back as-is, never build it."""
    raw = f"{position.created_ms}:{position.task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> TaskPosition:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        text = ""
    match = _CURSOR_POSITION.fullmatch(text)
    # Only cursors this gateway encoded are accepted: re-encoding must give the same string.
    if match is None or encode_cursor(position := _position(match)) != cursor:
        raise ValidationFailed(
            details=[FieldError("cursor", "is not a cursor from a previous page's next_cursor")]
        )
    return position


def _position(match: re.Match[str]) -> TaskPosition:
    return TaskPosition(int(match.group(1)), match.group(2))


def parse_since(since: str) -> int:
    """An ISO-8601 timestamp (UTC unless it names an offset) as epoch milliseconds."""
    try:
        return epoch_ms_of(since)
    except ValueError:
        raise ValidationFailed(
            details=[FieldError("since", "must be an ISO-8601 time, e.g. 2026-05-11T00:00:00Z")]
        ) from None


Position = TypeVar("Position")


def listing_bounds(
    *,
    limit: int,
    cursor: str | None,
    since: str | None,
    decode: Callable[[str], Position],
    max_limit: int = MAX_LIST_LIMIT,
) -> tuple[Position | None, int | None]:
    """The cursor's position (``decode``d) and ``since`` in ms, checked together so that one
    400 names every bad one."""
    details: list[FieldError] = []
    if not 1 <= limit <= max_limit:
        details.append(FieldError("limit", f"must be from 1 to {max_limit}"))
    after = None
    since_ms = None
    try:
        after = decode(cursor) if cursor is not None else None
    except ValidationFailed as bad:
        details += bad.details
    try:
        since_ms = parse_since(since) if since is not None else None
    except ValidationFailed as bad:
        details += bad.details
    if details:
        raise ValidationFailed(details=details)
    return after, since_ms
