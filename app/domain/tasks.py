"""A task the gateway created, as the store keeps it and the answers show it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.wire import RivyaTask


class TaskRecord(BaseModel):
    """A task the gateway created: Rivya's latest word on it plus who asked for it."""

    team: str
    upstream: RivyaTask
    client_request_id: str | None = None
    key_id: str | None = None
    subject: str | None = None  # made with a browser token: only its subject sees it
    token_id: str | None = None  # the token whose credit cap it counts against
    # What the team was charged once the task settled: Rivya's final_credits, or what it held
    # when Rivya gave no valid figure. None until then.
    charged: int | None = None

    @property
    def id(self) -> str:
        return self.upstream.id

    @property
    def final_credits(self) -> int:
        """The charge the answers show: what the team was charged, else Rivya's figure."""
        if self.charged is not None:
            return self.charged
        return self.upstream.final_credits or 0

    def rivya_view(self) -> dict[str, Any]:
        """The task in Rivya's shape, as the drop-in surface answers it."""
        return {**self.upstream.wire(), "final_credits": self.final_credits}

    def public(self) -> dict[str, Any]:
        """The task as the gateway's own API shows it (CONTRACT §4)."""
        task = self.upstream
        return {
            "id": task.id,
            "status": task.status,
            "model": task.model,
            "client_request_id": self.client_request_id,
            "reserved_credits": task.reserved_credits,
            "final_credits": self.final_credits,
            "created_at": task.created_at,
            "updated_at": task.updated_at,
            "result": task.result.model_dump(mode="json") if task.result else None,
            "error": task.error.model_dump(mode="json") if task.error else None,
        }
