"""Words the Lua scripts and the Python side must agree on, held equal."""

from __future__ import annotations

import re

from app.domain.ledger import SUSPECT_EVENTS
from app.domain.refusals import REFUSALS, code_of
from app.store.keyspace import KeySpace
from app.store.scripts import LUA_DIR


def test_the_suspect_events_indexed_in_lua_are_the_ones_python_reports() -> None:
    money = (LUA_DIR / "_money.lua").read_text()
    table = re.search(r"local SUSPECT_EVENTS = \{(.*?)\}", money, re.S)
    assert table is not None
    assert set(re.findall(r"(\w+) = true", table.group(1))) == SUSPECT_EVENTS


def test_the_suspects_index_is_named_as_lua_derives_it_from_the_ledger() -> None:
    keys = KeySpace("gw")
    assert keys.suspects("design@2") == keys.ledger("design@2") + ":suspects"


def test_every_refusal_admit_lua_answers_or_counts_is_one_python_knows() -> None:
    admit = (LUA_DIR / "admit.lua").read_text()
    answered = set(re.findall(r"return \{'(\w+)'", admit))
    decided = {"ok", "resolve", "too_late", "replay", "conflict", "remembered", "in_progress"}
    assert answered - decided == set(REFUSALS)
    counted = set(re.findall(r"refused\('(\w+)'\)", admit))
    assert counted <= set(REFUSALS)
    # What the script counts itself is what Python leaves to it, and nothing else: a refusal
    # counted twice, or by no one, would misstate the period's refusals.
    assert counted == {word for word, kind in REFUSALS.items() if kind.counted_by_script}
    assert {code_of(word) for word in counted} <= {
        "budget_exceeded",
        "rate_limited",
        "in_flight_limited",
        "model_not_allowed",
        "api_key_expired",
    }
