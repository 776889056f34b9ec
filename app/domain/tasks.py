"""A task the gateway created, as the store keeps it and the answers show it; what recording
and observing it did; a page of a team's tasks and what a listing keeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from pydantic import BaseModel

from app.domain.results import Custody, KeptFile, result_files
from app.periods import PeriodStamps
from app.rivya_schemas import RivyaTask

# A link to one of a task's result files, by its index (services/result_links.py).
ResultLink = Callable[["TaskRecord", int], str]


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
    # Custody of its results (None: not a succeeded task, or one from before custody); each
    # file's copy by its index (read with the whole task; a listing does not read them).
    custody: Custody | None = None
    kept: dict[int, KeptFile] = {}

    @property
    def id(self) -> str:
        return self.upstream.id

    @property
    def final_credits(self) -> int:
        """The charge the answers show: what the team was charged, else Rivya's figure."""
        if self.charged is not None:
            return self.charged
        return self.upstream.final_credits or 0

    def rivya_view(self, link: ResultLink | None = None) -> dict[str, Any]:
        """The task in Rivya's shape, as the drop-in surface answers it; its result's URLs the
        gateway's links (``link``), when given."""
        view = {**self.upstream.wire(), "final_credits": self.final_credits}
        if link is not None and self.upstream.result is not None:
            view["result"] = {**view["result"], **self._linked(link)}
        return view

    def result_view(self, link: ResultLink | None) -> dict[str, Any] | None:
        """The result as the gateway's API shows it: its links, and where its copies stand."""
        if self.upstream.result is None:
            return None
        result = self.upstream.result.model_dump(mode="json")
        if link is None:
            return result
        return {**result, **self._linked(link), "custody": self.custody or Custody.COPYING}

    def _linked(self, link: ResultLink) -> dict[str, Any]:
        result = self.upstream.result
        assert result is not None
        files = result_files(result.primary_url, result.urls)
        return {
            "primary_url": link(self, 0),
            "urls": [link(self, files.index(url)) for url in result.urls],
        }

    def public(self, link: ResultLink | None = None) -> dict[str, Any]:
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
            "result": self.result_view(link),
            "error": task.error.model_dump(mode="json") if task.error else None,
        }


@dataclass(frozen=True)
class StoredTask:
    record: TaskRecord
    stamps: PeriodStamps
    books_key: str = ""  # the key whose books hold its money ("": none)


class Observed(IntEnum):
    """What recording a fresh upstream view of a task did (``observe.lua``'s answer)."""

    MISSING = -1
    UNCHANGED = 0
    PROGRESSED = 1
    SETTLED = 2
    # Settled at what it held: Rivya said it ended but gave no valid final_credits (an anomaly).
    SETTLED_UNPRICED = 3

    @property
    def settled(self) -> bool:
        return self in (Observed.SETTLED, Observed.SETTLED_UNPRICED)


@dataclass(frozen=True)
class Recorded:
    """What recording a new task did."""

    new: bool  # False: it was recorded already
    settled: bool  # Rivya reported it ended: settled then and there
    # It had no live reservation (a second task for one create, an admission lost with Redis's
    # data): charged as new spend, and worth an operator's look.
    unreserved: bool
    # It had ended, with no valid final_credits from Rivya: charged what it held (an anomaly).
    unpriced: bool = False


class NotGivenUp(Enum):
    ENDED = "it had ended, or was given up already"
    NOT_OLD_ENOUGH = "it is not that old yet, by Redis's clock"


@dataclass(frozen=True, order=True)
class TaskPosition:
    """A task's place in the team's index. Listing runs newest first, i.e. by (created_ms,
    task_id) descending; the id breaks ties between tasks created in the same millisecond."""

    created_ms: int
    task_id: str


@dataclass(frozen=True)
class TaskFilter:
    """What a listing keeps; None keeps everything."""

    status: str | None = None
    client_request_id: str | None = None
    since_ms: int | None = None  # created at or after
    subject: str | None = None  # a browser token's: only its own tasks


@dataclass(frozen=True)
class TaskPage:
    records: list[TaskRecord]
    positions: list[TaskPosition]  # each record's place in the index
    # Where the next page resumes (strictly after it); None once nothing older is left.
    resume_after: TaskPosition | None
