"""The admin writes' contracts: teams, keys, browser-token revocations, the reconciliation's
baseline."""

from __future__ import annotations

from typing import NamedTuple


class OneKey(NamedTuple):
    key: str


class OneArg(NamedTuple):
    value: str


class PutKeyBudgetArgs(NamedTuple):
    key_id: str
    budget: str  # "credits|period"; "": none


class PutTeamArgs(NamedTuple):
    mode: str  # "create" | "update"
    fields: tuple[str, ...]  # field, value, field, value, …


class DeleteTeamKeys(NamedTuple):
    team: str
    active_keys: str
    webhooks: str


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


class PutWebhookArgs(NamedTuple):
    webhook_id: str
    webhook: str  # JSON (domain/webhooks.py)
    most: int  # the team's webhooks at most
    existing: int  # 1: replace one that exists (else nothing); 0: add a new one
    read_updated_ms: int  # the replaced one's, as read (replace)
