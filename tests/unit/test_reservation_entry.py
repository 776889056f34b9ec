"""The reservation entry as Python reads it (the format is _reservation.lua's): a well-formed
entry of any age reads whole; a malformed one raises rather than settling into empty stamps."""

from __future__ import annotations

import pytest

from app.store.reservations import ReservationEntry, held_credits


def test_entries_of_every_age_read_whole() -> None:
    new = ReservationEntry.parse(
        "8|day:2026-12-05|week:2026-11-30|month:2026-12|1|m|tok|1|key_0123456789abcdef"
    )
    assert (new.credits, new.stamps.month, new.token) == (8, "month:2026-12", "tok")
    assert new.key == "key_0123456789abcdef"
    before_keys = ReservationEntry.parse("8|day:2026-12-05|week:2026-11-30|month:2026-12|1|m|tok|1")
    assert before_keys.key == ""  # written before keys had books: settled without them
    old = ReservationEntry.parse("8|day:2026-12-05|week:2026-11-30|month:2026-12|1")
    assert (old.credits, old.token, old.key) == (8, "", "")  # written before tokens
    assert held_credits(new.raw) == 8


@pytest.mark.parametrize("raw", ["8", "8|day:2026-12-05", "|day:1|week:1|month:1", "x|a|b|c"])
def test_a_malformed_entry_raises(raw: str) -> None:
    with pytest.raises(ValueError, match=r"invalid literal|values to unpack"):
        ReservationEntry.parse(raw)
