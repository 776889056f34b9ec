"""Each script's KEYS and ARGV as ``store/contracts.py`` declares them agree with the script's
own header (``-- KEYS[n]``, ``-- ARGV[n]``): a key or an argument added to one and not the other
fails here, not as a wrong value read by position in production."""

from __future__ import annotations

import re
import typing

import pytest
from redis.asyncio import Redis

from app.store.scripts import LUA_DIR, Contracted, Scripts

# ``KEYS[4..7]`` declares 4 to 7; ``ARGV[2…]`` a variadic tail from 2. A declaration opens a
# header line or follows two tenants on it; "(admit.lua's KEYS[10])" is a mention, not one.
_INDEX = re.compile(r"(?:^--|\s{2})\s*(KEYS|ARGV)\[(\d+)(?:\.\.(\d+))?(…)?\]")


def _declared_in_lua(name: str) -> dict[str, tuple[int, bool]]:
    """The highest KEYS and ARGV index the script's header names, and whether it is variadic."""
    highest: dict[str, tuple[int, bool]] = {"KEYS": (0, False), "ARGV": (0, False)}
    for line in (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break  # the header ends at the first line of code
        for kind, first, last, tail in _INDEX.findall(line):
            top = max(int(first), int(last or 0))
            highest[kind] = (max(highest[kind][0], top), highest[kind][1] or bool(tail))
    return highest


def _length(contract: type[typing.Any]) -> tuple[int, bool]:
    """How many values the contract sends, and whether its last field is variadic."""
    hints = typing.get_type_hints(contract)
    count, variadic = 0, False
    for name in contract._fields:
        hint = hints[name]
        if typing.get_origin(hint) is tuple:
            items = typing.get_args(hint)
            if items[-1] is Ellipsis:
                variadic = True
            else:
                count += len(items)
        else:
            count += 1
    return count, variadic


def _registered() -> dict[str, Contracted[typing.Any, typing.Any]]:
    scripts = Scripts(Redis())  # no connection is made: registering only reads the files
    return {name: v for name, v in vars(scripts).items() if isinstance(v, Contracted)}


def test_every_script_has_a_contract() -> None:
    on_disk = {p.stem for p in LUA_DIR.glob("*.lua") if not p.stem.startswith("_")}
    assert set(_registered()) == on_disk


@pytest.mark.parametrize("name", sorted(_registered()))
def test_a_contract_names_what_its_script_reads(name: str) -> None:
    script = _registered()[name]
    lua = _declared_in_lua(name)
    keys, keys_variadic = _length(script.keys)
    assert (keys, keys_variadic) == lua["KEYS"], f"{name}.lua's KEYS and {script.keys.__name__}"
    args, args_variadic = _length(script.args)
    if args_variadic:  # a tail of pairs: the header names the first of them
        assert (args + 1, True) == lua["ARGV"], f"{name}.lua's ARGV and {script.args.__name__}"
    else:
        assert (args, False) == lua["ARGV"], f"{name}.lua's ARGV and {script.args.__name__}"
