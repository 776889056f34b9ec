"""Files a team uploaded: the gateway's record of one, as the API shows it and as Rivya's
referenceMediaItems takes it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileRecord:
    id: str
    team: str
    kind: str
    mime_type: str
    size_bytes: int
    name: str
    url: str
    sha256: str
    created_at: str
    duration_token: str | None
    upstream: dict[str, Any]  # Rivya's JSON for the file, as it answered
    subject: str | None = None  # uploaded with a browser token: only its subject may use it

    @property
    def content_scope(self) -> str:
        return content_scope(self.sha256, self.subject)

    def public(self) -> dict[str, Any]:
        """The file as the gateway's own API shows it (CONTRACT §4)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "mime_type": self.mime_type,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at,
        }

    def media_item(self) -> dict[str, Any]:
        """The file as Rivya's ``params.referenceMediaItems`` takes it."""
        item: dict[str, Any] = {
            "url": self.url,
            "kind": self.kind,
            "name": self.name,
            "mimeType": self.mime_type,
        }
        if self.duration_token:
            item["durationToken"] = self.duration_token
        return item


def content_scope(sha256: str, subject: str | None) -> str:
    """Identical content is one file per team, or per end user for browser tokens."""
    return (
        sha256
        if subject is None
        else f"{sha256}:{hashlib.sha256(subject.encode()).hexdigest()[:24]}"
    )
