"""The team's ledger: every money move, as the books record it, and the moves that mean the
books may not match Rivya's (suspects for the reconciliation)."""

from __future__ import annotations

from dataclasses import dataclass

# Events that mean the books may not match Rivya's: a task recorded with no live reservation,
# a create or task charged without knowing its outcome, a charge corrected later, a settled
# reservation whose task record was gone, a task Rivya ended without a valid charge. The same
# set is in lua/_money.lua, which indexes them (KeySpace.suspects); tests hold the two equal.
SUSPECT_EVENTS = frozenset(
    {"unreserved", "abandon", "give_up", "correct", "reclaim", "orphan", "unpriced"}
)


@dataclass(frozen=True)
class LedgerEntry:
    id: str  # the stream id: "<Redis time, ms>-<sequence>", ordered
    event: str
    ref: str  # the reservation or task id the credits belong to
    task: str | None
    model: str
    reserved: int  # change to the credits held
    spent: int  # change to the credits charged

    @property
    def at_ms(self) -> int:
        return int(self.id.split("-", 1)[0])
