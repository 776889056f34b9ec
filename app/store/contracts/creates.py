"""The money scripts' contracts: admitting a create and settling what it holds (admission),
and recording and settling its task."""

from __future__ import annotations

from typing import NamedTuple

from app.store.contracts.shape import Periods


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
    key_expiry: str  # the team's key expiries (key id -> ms)
    key_budgets: str  # the team's key budgets (key id -> "credits|period")
    key_periods: Periods  # the caller's key's spend hashes


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)
    abandoned_key: str  # beside the mark: the key charged


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)
    abandoned_key: str
    webhooks: str


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)


class ObserveKeys(NamedTuple):
    """observe.lua's: settling a recorded task, and writing its end for the team's webhooks."""

    task: str
    reservations: str
    periods: Periods
    settle_queue: str
    ledger: str
    token_credits: str
    key_periods: Periods
    webhooks: str
    outbox: str
    schedule_marker: str


class ObserveArgs(NamedTuple):
    task_id: str
    status: str
    task: str  # Rivya's task, JSON
    final_credits: int  # -1: Rivya gave no valid figure
    time: str


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
    key_periods: Periods  # the key's spend hashes (used when its books hold the money)
    webhooks: str
    outbox: str
    schedule_marker: str


class SettleOrphanArgs(NamedTuple):
    task_id: str
    entry: str  # the reservation entry as read
    charge: int  # -1: what it held
    status: str  # Rivya's, "" when it could not say
    time: str
