"""Each Lua script's KEYS and ARGV, declared once and by name: a wrapper fills them by keyword
(mypy checks every name is given, and no other), and the script receives them in this order.
``tests/store/test_script_contracts.py`` checks each against its script's header (``KEYS[n]``,
``ARGV[n]``), so the two cannot drift apart. Units are in the names; "time" is ``_clock.lua``'s
(``""`` for Redis's own, or a test's fake clock's). ``periods`` are the spend hashes of a
reservation's day, week, month and total, in that order (``spend_keys``)."""
