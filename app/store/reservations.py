"""A reservation's entry in a team's reservations hash, as Python reads it: the format is
defined once, in ``lua/_reservation.lua`` (``reservation_of``), and read here the same way."""

from __future__ import annotations

from dataclasses import dataclass

from app.periods import PeriodStamps


@dataclass(frozen=True)
class ReservationEntry:
    """``credits|day|week|month|created_ms|model|token|attached|key``; older entries end
    earlier."""

    raw: str  # as read: settle_orphan.lua acts only if the entry is still this one
    credits: int
    stamps: PeriodStamps
    token: str  # the browser token whose cap the credits count against ("" for none)
    key: str  # the key whose books hold the credits ("" for none)

    @classmethod
    def parse(cls, raw: str) -> ReservationEntry:
        # A malformed entry raises (as the scripts' reader never would silently): settling it
        # into empty period stamps would put money in books no report reads.
        fields = raw.split("|")
        return cls(
            raw=raw,
            credits=int(fields[0]),
            stamps=PeriodStamps.decode("|".join(fields[1:4])),
            token=fields[6] if len(fields) > 6 else "",
            key=fields[8] if len(fields) > 8 else "",
        )


def held_credits(raw: str) -> int:
    """The credits an entry holds, without parsing the rest (a sum over every hold)."""
    return int(raw.split("|", 1)[0])
