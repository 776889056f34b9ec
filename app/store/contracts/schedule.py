"""The settlers' scripts' contracts: a team's settle queue and the index of due teams."""

from __future__ import annotations

from typing import NamedTuple


class QueueKeys(NamedTuple):
    settle_queue: str


class ClaimDueArgs(NamedTuple):
    time: str
    lease_ms: int
    limit: int


class ClaimPollArgs(NamedTuple):
    task_id: str
    time: str
    lease_ms: int


class RescheduleKeys(NamedTuple):
    settle_queue: str
    schedule_marker: str


class RescheduleArgs(NamedTuple):
    task_id: str
    time: str
    delay_ms: int


class DueIndexKeys(NamedTuple):
    due_teams: str
    claims: str
    asked: str  # due times asked for while a team was claimed


class IndexTeamArgs(NamedTuple):
    tenant: str
    due_ms: int


class ClaimTeamsArgs(NamedTuple):
    time: str
    claim_ms: int
    limit: int
    token_prefix: str


class ReleaseTeamArgs(NamedTuple):
    tenant: str
    token: str
    next_due_ms: int  # -1: nothing


class TeamNextDueKeys(NamedTuple):
    settle_queue: str
    pending: str
    outbox: str
    outbox_attempts: str
    schedule_marker: str
    results_kept: str  # the team's copies, due for deletion at their scores
    outbox_due: str


class TimeArgs(NamedTuple):
    time: str


class OutboxKeys(NamedTuple):
    outbox: str
    due: str
    attempts: str


class ClaimOutboxArgs(NamedTuple):
    time: str
    lease_ms: int
    limit: int


class OutboxRetryKeys(NamedTuple):
    outbox: str
    due: str
    attempts: str
    schedule_marker: str


class OutboxRetryArgs(NamedTuple):
    entry_id: str
    attempts: str  # "attempts|next attempt, ms"
    time: str


class OutboxDoneKeys(NamedTuple):
    outbox: str
    due: str
    attempts: str
    backlog: str


class OutboxDoneArgs(NamedTuple):
    entry_id: str
    webhook_id: str  # "" for a budget alert


class KeepResultKeys(NamedTuple):
    task: str
    kept: str  # the team's kept copies
    usage: str
    settle_queue: str
    schedule_marker: str


class KeepResultArgs(NamedTuple):
    task_id: str
    file_index: int
    kept: str  # "sha256|bytes|type"
    files: int
    until_ms: int
    time: str


class ExpireResultsKeys(NamedTuple):
    kept: str
    usage: str


class ExpireResultsArgs(NamedTuple):
    time: str
    most: int


class HintPollKeys(NamedTuple):
    task: str
    settle_queue: str
    schedule_marker: str


class HintPollArgs(NamedTuple):
    task_id: str
    time: str
    min_interval_ms: int


class AddTestEventKeys(NamedTuple):
    outbox: str
    due: str
    backlog: str
    last_test: str
    schedule_marker: str


class AddTestEventArgs(NamedTuple):
    webhook_id: str
    event_id: str
    time: str
    interval_ms: int
