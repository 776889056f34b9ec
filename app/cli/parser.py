"""The commands of ``rivya-gateway`` and their flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli import admin, processes
from app.cli.output import KEY_COLUMNS, TEAM_COLUMNS
from app.periods import PERIODS, REPORT_PERIOD_FORMS


def build_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rivya-gateway", description=description)
    commands = parser.add_subparsers(title="commands")
    _process_commands(commands)
    store = _store_flags()
    _team_commands(commands, store)
    _spend_command(commands, store)
    _key_commands(commands, store)
    _request_commands(commands, store)
    return parser


def _process_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes sharing the port (default 1: scale with replicas; "
        "see deploy/README.md for sizing)",
    )
    serve.set_defaults(run=processes.serve)

    sim = commands.add_parser("simulator", help="run the built-in Rivya simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.set_defaults(run=processes.simulator)


def _store_flags() -> argparse.ArgumentParser:
    # Every command that reads or changes the gateway's state: where Redis is, and JSON output.
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--redis-url",
        help="the gateway's Redis (default: REDIS_URL from the environment; else the Redis of "
        "the gateway 'make run' started, from .run/env; else .env)",
    )
    store.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return store


def _command(group: Any, name: str, help_: str, store: argparse.ArgumentParser) -> Any:
    return group.add_parser(name, help=help_, parents=[store])


def _team_commands(commands: Any, store: argparse.ArgumentParser) -> None:
    def store_command(group: Any, name: str, help_: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = _command(group, name, help_, store)
        return parser

    teams = commands.add_parser("teams", help="manage teams").add_subparsers(title="teams")
    store_command(teams, "list", "list teams").set_defaults(
        run=admin.printing(admin.teams_list, TEAM_COLUMNS)
    )
    get = store_command(teams, "get", "show a team")
    get.add_argument("team")
    get.set_defaults(run=admin.printing(admin.teams_get))
    create = store_command(teams, "create", "create a team")
    create.add_argument("team")
    _team_flags(create)
    create.set_defaults(run=admin.printing(admin.teams_create))
    update = store_command(teams, "update", "change some of a team's settings")
    update.add_argument("team")
    _team_flags(update)
    update.add_argument("--no-budget", action="store_true", help="remove the budget")
    update.set_defaults(run=admin.printing(admin.teams_update))
    delete = store_command(teams, "delete", "delete a team and revoke its keys")
    delete.add_argument("team")
    delete.add_argument(
        "--yes", action="store_true", help="do not ask (needed where there is no terminal to ask)"
    )
    delete.set_defaults(run=admin.printing(admin.teams_delete))
    apply = store_command(teams, "apply", "create or update teams from a YAML file")
    apply.add_argument("file", type=Path, help="YAML: a mapping with a 'teams:' list")
    apply.add_argument(
        "--dry-run", action="store_true", help="show what would change; change nothing"
    )
    apply.add_argument(
        "--prune",
        action="store_true",
        help="fields a team's entry leaves out go back to their defaults (else they are kept)",
    )
    apply.set_defaults(run=admin.printing(admin.teams_apply))


def _spend_command(commands: Any, store: argparse.ArgumentParser) -> None:
    spend = commands.add_parser("spend", help="spend per team against budget", parents=[store])
    spend.add_argument("--period", default="current", help=REPORT_PERIOD_FORMS)
    spend.add_argument(
        "--daily",
        type=int,
        metavar="DAYS",
        help="instead: spend per team per UTC day over the last DAYS days, as CSV",
    )
    spend.set_defaults(run=admin.spend)


def _key_commands(commands: Any, store: argparse.ArgumentParser) -> None:
    def store_command(group: Any, name: str, help_: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = _command(group, name, help_, store)
        return parser

    keys = commands.add_parser("keys", help="manage team keys").add_subparsers(title="keys")
    key_create = store_command(keys, "create", "issue a key (printed once)")
    key_create.add_argument("team")
    key_create.add_argument("--name")
    key_create.add_argument(
        "--expires-in-days",
        type=float,
        metavar="DAYS",
        help="the key stops working this many days from now (default: never)",
    )
    _key_budget_flags(key_create)
    key_create.set_defaults(run=admin.printing(admin.keys_create))
    key_list = store_command(keys, "list", "list a team's keys")
    key_list.add_argument("team")
    key_list.set_defaults(run=admin.printing(admin.keys_list, KEY_COLUMNS))
    key_revoke = store_command(keys, "revoke", "revoke a key")
    key_revoke.add_argument(
        "key", help="the key itself (rgw_…, as leaked), its id (key_…) or its prefix (rgw_<16 hex>)"
    )
    key_revoke.set_defaults(run=admin.printing(admin.keys_revoke))
    key_budget = store_command(keys, "budget", "set a key's own credit budget, or take it away")
    key_budget.add_argument("key_id", help="the key's id (key_…)")
    key_budget.add_argument(
        "budget_credits",
        type=admin.credits_or_none,
        metavar="CREDITS",
        help="what the key (and the browser tokens it mints) may spend a period; 'none': no "
        "budget of its own",
    )
    key_budget.add_argument(
        "--period",
        dest="budget_period",
        choices=PERIODS,
        help="day, week, month or total (default: the key's current period, else month)",
    )
    key_budget.set_defaults(run=admin.printing(admin.keys_budget))


def _key_budget_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--budget-credits",
        type=int,
        metavar="CREDITS",
        help="a credit budget of the key's own, beside its team's (default: none)",
    )
    parser.add_argument("--budget-period", choices=PERIODS, help="default: month")


def _request_commands(commands: Any, store: argparse.ArgumentParser) -> None:
    requests = commands.add_parser("requests", help="look up an answered request").add_subparsers(
        title="requests"
    )
    show = _command(requests, "show", "what happened to a request, by its id", store)
    show.add_argument("request_id", help="req_…: an error's requestId, or X-Request-ID")
    show.set_defaults(run=admin.printing(admin.requests_show))


def _team_flags(parser: argparse.ArgumentParser) -> None:
    for flag, field, kind, text in admin.TEAM_FLAGS:
        parser.add_argument(flag, dest=field, type=kind, help=text)
