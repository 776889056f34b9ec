"""``/v1/files``: an upload as the gateway answers it."""

from __future__ import annotations

from pydantic import BaseModel

from app.clock import Timestamp


class FileOut(BaseModel):
    id: str
    kind: str
    mime_type: str
    size_bytes: int
    created_at: Timestamp
