"""The simulator's in-memory world: tasks, files, the balance, idempotency, faults and the log.

One account, as Rivya has one per key. Everything is mutated from the event loop without
awaiting in between, so each operation is atomic without locks.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.catalog import Catalog, ModelSpec
from app.clock import Clock
from app.simulator.errors import SimError
from app.simulator.faults import Faults
from app.simulator.lifecycle import SimTask
from app.simulator.requestlog import RequestRecord
from app.simulator.settings import SimulatorSettings
from app.simulator.uploads import SimFile

_FILE_URL_PATH = re.compile(r"/files/(file_[0-9a-f]{24})/content$")


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    task_id: str
    created_at: float


class SimState:
    """All state of one simulator app (``app.state.sim``)."""

    def __init__(self, settings: SimulatorSettings, clock: Clock, catalog: Catalog) -> None:
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.faults = self.initial_faults()
        self.requests: list[RequestRecord] = []
        self.tasks: dict[str, SimTask] = {}
        self.files: dict[str, SimFile] = {}
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self._balance = settings.initial_credits
        # Failed tasks whose reservation has not gone back yet: refunds stay O(pending).
        self._unrefunded: set[str] = set()
        self._rng = random.Random(settings.seed)

    # -- faults and reset ---------------------------------------------------------------

    def initial_faults(self) -> Faults:
        return Faults(latency_ms=self.settings.latency_ms, failure_rate=self.settings.failure_rate)

    def set_faults(self, **changes: Any) -> Faults:
        """Apply a partial update (validated as a whole); returns the new switches."""
        self.faults = self.faults.updated(changes)
        return self.faults

    def reset(self, *, clear_state: bool = False) -> None:
        """Faults back to their starting values; with ``clear_state`` everything else too."""
        self.faults = self.initial_faults()
        if clear_state:
            self.requests.clear()
            self.tasks.clear()
            self.files.clear()
            self.idempotency.clear()
            self._unrefunded.clear()
            self._balance = self.settings.initial_credits
            self._rng = random.Random(self.settings.seed)

    # -- request log --------------------------------------------------------------------

    def log_request(self, record: RequestRecord) -> RequestRecord:
        self.requests.append(record)
        return record

    def clear_requests(self) -> None:
        self.requests.clear()

    # -- credits ------------------------------------------------------------------------

    def current_credits(self) -> int:
        self.advance()  # so refunds of tasks that failed meanwhile show in the balance
        return self._balance

    def set_balance(self, credits: int) -> int:
        self.advance()  # settle pending refunds first so they do not land on top of the new value
        self._balance = credits
        return self._balance

    def advance(self) -> None:
        """Return the reservation of every task that has failed by now, and the difference of
        every one that succeeded charging other than it, exactly once."""
        now = self.clock.now()
        for task_id in list(self._unrefunded):
            task = self.tasks[task_id]
            status = task.status_at(now)
            if status == "failed":
                self._balance += task.reserved_credits
            elif status == "succeeded":
                self._balance += task.reserved_credits - task.charged
            else:
                continue
            task.refunded = True
            self._unrefunded.discard(task_id)

    # -- tasks --------------------------------------------------------------------------

    def create_task(
        self,
        *,
        model: ModelSpec,
        prompt: str,
        params: dict[str, Any],
        base_url: str,
        client_request_id: str | None = None,
    ) -> SimTask:
        """Reserve the model's credits and start a task; 402 when the balance is short."""
        if self.current_credits() < model.base_credits:
            # Rivya does not document this status; 402 Payment Required is the natural one.
            raise SimError(
                "insufficient_credits",
                402,
                f"{model.id} needs {model.base_credits} credits; the account has {self._balance}.",
            )
        # Whether it fails is decided now, so the outcome does not depend on when it is read.
        forced = self.faults.take_forced_failure()
        drawn = self._rng.random() < self.faults.failure_rate
        charge_set, charge = self.faults.take_charge()
        task = SimTask(
            id=new_id("task_"),
            model_id=model.id,
            prompt=prompt,
            params=params,
            created_at=self.clock.now(),
            queued_seconds=self.settings.queued_seconds,
            processing_seconds=self.settings.processing_seconds,
            will_fail=forced or drawn,
            reserved_credits=model.base_credits,
            base_url=base_url,
            client_request_id=client_request_id,
            reference_file_id=self._reference_file_id(params),
            charge=charge,
            charge_unstated=charge_set and charge is None,
        )
        self._balance -= task.reserved_credits
        self.tasks[task.id] = task
        if task.will_fail or task.charged != task.reserved_credits:
            self._unrefunded.add(task.id)
        return task

    def get_task(self, task_id: str) -> SimTask | None:
        return self.tasks.get(task_id)

    def task_json(self, task: SimTask) -> dict[str, Any]:
        """The task as Rivya shows it now (settling a refund if it has just failed)."""
        self.advance()
        return task.view(self.clock.now()).wire()

    def _reference_file_id(self, params: dict[str, Any]) -> str | None:
        """The first image reference that is one of our own uploads (to draw the result on)."""
        for item in params.get("referenceMediaItems") or []:
            if isinstance(item, dict) and item.get("kind") == "image":
                found = self.file_for_url(str(item.get("url", "")))
                if found is not None:
                    return found.id
        return None

    # -- idempotency --------------------------------------------------------------------

    def idempotent_task(self, key: str, fingerprint: str) -> SimTask | None:
        """The task a live key already made for this body; 409 if it was another body."""
        record = self.idempotency.get(key)
        if record is None:
            return None
        if self.clock.now() - record.created_at >= self.settings.idempotency_window_seconds:
            del self.idempotency[key]  # expired: the key is free again
            return None
        if record.fingerprint != fingerprint:
            raise SimError(
                "idempotency_conflict",
                409,
                "This Idempotency-Key was already used with a different request body.",
            )
        return self.tasks.get(record.task_id)

    def remember_idempotency(self, key: str, fingerprint: str, task_id: str) -> None:
        self.idempotency[key] = IdempotencyRecord(fingerprint, task_id, self.clock.now())

    # -- files --------------------------------------------------------------------------

    def add_file(self, file: SimFile) -> SimFile:
        self.files[file.id] = file
        return file

    def get_file(self, file_id: str) -> SimFile | None:
        return self.files.get(file_id)

    def file_for_url(self, url: str) -> SimFile | None:
        """One of our uploads if ``url`` is its content URL (any host: bases may differ)."""
        match = _FILE_URL_PATH.search(urlsplit(url).path)
        return self.files.get(match.group(1)) if match else None
