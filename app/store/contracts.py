"""Each Lua script's KEYS and ARGV, declared once and by name: a wrapper fills them by keyword
(mypy checks every name is given, and no other), and the script receives them in this order.
``tests/store/test_script_contracts.py`` checks each against its script's header (``KEYS[n]``,
``ARGV[n]``), so the two cannot drift apart. Units are in the names; "time" is ``_clock.lua``'s
(``""`` for Redis's own, or a test's fake clock's). ``periods`` are the spend hashes of a
reservation's day, week, month and total, in that order (``spend_keys``)."""

from __future__ import annotations

from typing import NamedTuple

Periods = tuple[str, str, str, str]

# ---------------------------------------------------------------- admission (creates)


class AdmitKeys(NamedTuple):
    team: str  # the team's policy hash
    rate: str
    reservations: str
    periods: Periods
    claim: str  # the idempotency claim of (team, client_request_id)
    pending: str  # pending creates
    cancel_mark: str
    active_keys: str
    ledger: str
    token_revocations: str
    subject_rate: str
    token_credits: str
    schedule_marker: str
    outbox: str


class AdmitArgs(NamedTuple):
    time: str
    credits: int
    reservation_id: str
    stamps: str  # "day|week|month"
    period_ttl_seconds: int
    client_request_id: str
    fingerprint: str
    claim_ttl_ms: int
    create: str  # JSON
    lease_ms: int
    last_resend_ms: int
    owner: str
    key_id: str
    generation: str
    model: str
    alert_thresholds: str
    subject: str
    token_issued_at_ms: int
    subject_per_minute: int
    token_cap: int  # -1: none
    token_id: str
    first_look_ms: int


class ReservationKeys(NamedTuple):
    """What settling a pending create's reservation takes (release.lua)."""

    reservations: str
    periods: Periods
    claim: str
    pending: str
    ledger: str
    token_credits: str


class ReleaseArgs(NamedTuple):
    reservation_id: str
    client_request_id: str
    error: str  # JSON to remember, "" to forget the claim
    owner: str


class CancelKeys(NamedTuple):
    reservations: str
    periods: Periods
    claim: str
    pending: str
    cancel_mark: str
    ledger: str
    token_credits: str


class CancelArgs(NamedTuple):
    reservation_id: str
    client_request_id: str
    owner: str
    mark_ms: int


class AbandonKeys(NamedTuple):
    reservations: str
    periods: Periods
    claim: str
    pending: str
    abandoned_mark: str
    ledger: str
    token_credits: str
    team: str
    outbox: str
    schedule_marker: str


class AbandonArgs(NamedTuple):
    reservation_id: str
    client_request_id: str
    error: str  # JSON
    mark_ms: int
    stamps: str
    alert_thresholds: str
    time: str


class LeaseCreateKeys(NamedTuple):
    pending: str
    schedule_marker: str


class LeaseCreateArgs(NamedTuple):
    reservation_id: str
    time: str
    action: str  # "take" | "hand_back"
    owner: str
    ms: int  # take: the lease | hand_back: how soon the next taker may take it
    last_resend_ms: int


class AdmitUploadKeys(NamedTuple):
    team_rate: str
    user_rate: str


class AdmitUploadArgs(NamedTuple):
    time: str
    per_minute: int
    burst: int
    by_user: str  # "1": a browser-token user's upload


# ---------------------------------------------------------------- tasks


class RecordKeys(NamedTuple):
    task: str
    reservations: str
    team_tasks: str
    periods: Periods
    settle_queue: str
    claim: str
    pending: str
    abandoned_mark: str
    ledger: str
    token_credits: str
    team: str
    outbox: str
    schedule_marker: str


class RecordArgs(NamedTuple):
    reservation_id: str
    task_id: str
    status: str
    task: str  # Rivya's task, JSON
    reserved: int
    client_request_id: str
    key_id: str
    time: str
    retention_seconds: int
    stamps: str
    first_poll_ms: int
    final_credits: int  # -1: Rivya gave no valid figure
    model: str
    subject: str
    token_id: str
    alert_thresholds: str


class TaskMoneyKeys(NamedTuple):
    """What settling a recorded task's reservation takes (observe.lua, give_up.lua)."""

    task: str
    reservations: str
    periods: Periods
    settle_queue: str
    ledger: str
    token_credits: str


class ObserveArgs(NamedTuple):
    task_id: str
    status: str
    task: str  # Rivya's task, JSON
    final_credits: int  # -1: Rivya gave no valid figure


class GiveUpArgs(NamedTuple):
    task_id: str
    time: str
    after_ms: int
    look_again_ms: int


class SettleOrphanKeys(NamedTuple):
    reservations: str
    periods: Periods
    settle_queue: str
    task: str
    ledger: str
    token_credits: str


class SettleOrphanArgs(NamedTuple):
    task_id: str
    entry: str  # the reservation entry as read
    charge: int  # -1: what it held


# ---------------------------------------------------------------- the settlers' schedule


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
    space: str
    due_ms: int


class ClaimTeamsArgs(NamedTuple):
    time: str
    claim_ms: int
    limit: int
    token_prefix: str


class ReleaseTeamArgs(NamedTuple):
    space: str
    token: str
    next_due_ms: int  # -1: nothing


class TeamNextDueKeys(NamedTuple):
    settle_queue: str
    pending: str
    outbox: str
    outbox_attempts: str
    schedule_marker: str


class TimeArgs(NamedTuple):
    time: str


class OutboxKeys(NamedTuple):
    outbox: str
    attempts: str


class OutboxRetryArgs(NamedTuple):
    entry_id: str
    attempts: str  # "attempts|next attempt, ms"


# ---------------------------------------------------------------- admin writes


class OneKey(NamedTuple):
    key: str


class OneArg(NamedTuple):
    value: str


class PutTeamArgs(NamedTuple):
    mode: str  # "create" | "update"
    fields: tuple[str, ...]  # field, value, field, value, …


class DeleteTeamKeys(NamedTuple):
    team: str
    active_keys: str


class RevokeTokensArgs(NamedTuple):
    subject: str  # or "*"
    not_before_s: str
    prune_before_s: str
    ttl_seconds: int
    most: int


class PutBaselineArgs(NamedTuple):
    baseline: str  # JSON
    mode: str  # "nx" | "if" | ""
    expected_set_at_ms: str
