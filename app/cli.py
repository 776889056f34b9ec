"""``rivya-gateway``: run the gateway or the simulator, manage teams and keys.

Team and key commands talk to Redis directly (``REDIS_URL``), so they work without the admin
token and without the org key; they go through the same services as the admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from redis.asyncio import Redis

from app.catalog import load_catalog
from app.clock import SystemClock
from app.errors import GatewayError
from app.logging import configure_logging
from app.schemas import KeyOut
from app.services.reports import Reports
from app.services.teams import TeamService
from app.services.usage import UsageService
from app.settings import StoreSettings
from app.store.apikeys import ApiKeyStore
from app.store.keys import KeySpace
from app.store.ledger import LedgerStore
from app.store.redis import create_redis
from app.store.scripts import Scripts
from app.store.spend import SpendStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore

# Team flags shared by `teams create` and `teams update`: (flag, field, type, help).
_TEAM_FLAGS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--name", "name", str, "display name"),
    ("--budget", "budget_credits", int, "credits per period (omit: no budget)"),
    ("--period", "budget_period", str, "day, week, month or total"),
    ("--rate", "rate_limit_per_minute", int, "creates per minute"),
    ("--burst", "burst", int, "creates at once (default: the per-minute rate)"),
    ("--max-in-flight", "max_in_flight", int, "tasks created and not yet ended"),
    ("--models", "allowed_models", lambda v: [m for m in v.split(",") if m], "comma-separated"),
    ("--origins", "cors_origins", lambda v: [o for o in v.split(",") if o], "comma-separated"),
    ("--subject-rate", "per_subject_rate_limit_per_minute", int, "browser subject per minute"),
]


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    try:
        result = args.run(args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except GatewayError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            print(f"  {detail.field}: {detail.message}", file=sys.stderr)
        sys.exit(1)
    except (ValidationError, yaml.YAMLError, OSError, ValueError) as exc:
        # Settings, the YAML file or the file system: say what, without a traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rivya-gateway", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the gateway (one uvicorn worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(run=_serve)

    sim = commands.add_parser("simulator", help="run the built-in Rivya simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.set_defaults(run=_simulator)

    teams = commands.add_parser("teams", help="manage teams").add_subparsers(title="teams")
    teams.add_parser("list", help="list teams").set_defaults(run=_admin(_teams_list))
    get = teams.add_parser("get", help="show a team")
    get.add_argument("team")
    get.set_defaults(run=_admin(_teams_get))
    create = teams.add_parser("create", help="create a team")
    create.add_argument("team")
    _team_flags(create)
    create.set_defaults(run=_admin(_teams_create))
    update = teams.add_parser("update", help="change some of a team's settings")
    update.add_argument("team")
    _team_flags(update)
    update.add_argument("--no-budget", action="store_true", help="remove the budget")
    update.set_defaults(run=_admin(_teams_update))
    delete = teams.add_parser("delete", help="delete a team and revoke its keys")
    delete.add_argument("team")
    delete.set_defaults(run=_admin(_teams_delete))
    apply = teams.add_parser("apply", help="create or update teams from a YAML file")
    apply.add_argument("file", type=Path)
    apply.set_defaults(run=_admin(_teams_apply))

    spend = commands.add_parser("spend", help="spend per team against budget")
    spend.add_argument("--period", default="current", help="current, YYYY-MM-DD or YYYY-MM")
    spend.add_argument("--json", action="store_true", help="print the report as JSON")
    spend.add_argument(
        "--daily",
        type=int,
        metavar="DAYS",
        help="instead: spend per team per UTC day over the last DAYS days, as CSV",
    )
    spend.set_defaults(run=_spend)

    keys = commands.add_parser("keys", help="manage team keys").add_subparsers(title="keys")
    key_create = keys.add_parser("create", help="issue a key (printed once)")
    key_create.add_argument("team")
    key_create.add_argument("--name")
    key_create.set_defaults(run=_admin(_keys_create))
    key_list = keys.add_parser("list", help="list a team's keys")
    key_list.add_argument("team")
    key_list.set_defaults(run=_admin(_keys_list))
    key_revoke = keys.add_parser("revoke", help="revoke a key")
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(run=_admin(_keys_revoke))
    return parser


def _team_flags(parser: argparse.ArgumentParser) -> None:
    for flag, field, kind, text in _TEAM_FLAGS:
        parser.add_argument(flag, dest=field, type=kind, help=text)


def _team_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {f: getattr(args, f) for _, f, _, _ in _TEAM_FLAGS if getattr(args, f) is not None}
    if getattr(args, "no_budget", False):
        fields["budget_credits"] = None
    return fields


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    # One worker per process: state lives in Redis, so scale with replicas, not workers.
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=1,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


def _simulator(args: argparse.Namespace) -> None:
    import uvicorn

    from app.simulator.settings import SimulatorSettings

    # The same one-JSON-object-a-line logs as the gateway, its key redacted like the org key.
    configure_logging("INFO", [SimulatorSettings().api_key.get_secret_value()])
    uvicorn.run(
        "app.simulator.main:app", host=args.host, port=args.port, workers=1, log_config=None
    )


AdminCommand = Callable[[TeamService, argparse.Namespace], Awaitable[Any]]


@asynccontextmanager
async def _store() -> AsyncIterator[tuple[Redis, KeySpace, StoreSettings]]:
    settings = StoreSettings()
    redis = create_redis(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        max_connections=settings.redis_max_connections,
    )
    try:
        yield redis, KeySpace(settings.redis_key_prefix), settings
    finally:
        await redis.aclose()


def _admin(command: AdminCommand) -> Callable[[argparse.Namespace], Awaitable[None]]:
    """Run a team/key command against Redis and print its result as JSON."""

    async def run(args: argparse.Namespace) -> None:
        async with _store() as (redis, keys, settings):
            service = TeamService(
                TeamStore(redis, keys, Scripts(redis)),
                ApiKeyStore(redis, keys),
                load_catalog(settings.catalog_path),
                SystemClock(),
            )
            result = await command(service, args)
        if result is not None:
            print(json.dumps(result, indent=2))

    return run


async def _spend(args: argparse.Namespace) -> None:
    async with _store() as (redis, keys, _):
        teams = TeamStore(redis, keys, Scripts(redis))
        spend = SpendStore(redis, keys)
        if args.daily is not None:
            tasks = TaskStore(redis, keys, Scripts(redis), SystemClock(), retention_seconds=1)
            reports = Reports(teams, spend, LedgerStore(redis, keys), tasks, SystemClock())
            print(await reports.daily_csv(args.daily), end="")
            return
        report = await UsageService(spend, teams, SystemClock()).report(args.period)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'team':<20} {'period':<17} {'budget':>9} {'spent':>9} {'reserved':>9} "
        f"{'remaining':>9} {'tasks ok/failed/pending':>24}"
    )
    for row in report["teams"]:
        tasks = row["tasks"]
        print(
            f"{row['team']:<20} {row['period_id']:<17} {_blank(row['budget_credits']):>9} "
            f"{row['spent_credits']:>9} {row['reserved_credits']:>9} "
            f"{_blank(row['remaining_credits']):>9} "
            f"{tasks['succeeded']:>10}/{tasks['failed']}/{tasks['pending']}"
        )
    totals = report["totals"]
    print(
        f"{'total':<20} {'':<17} {'':>9} {totals['spent_credits']:>9} "
        f"{totals['reserved_credits']:>9}"
    )


def _blank(value: int | None) -> str:
    return "-" if value is None else str(value)


async def _teams_list(service: TeamService, _: argparse.Namespace) -> Any:
    return [t.model_dump() for t in await service.list_teams()]


async def _teams_get(service: TeamService, args: argparse.Namespace) -> Any:
    return (await service.get(args.team)).model_dump()


async def _teams_create(service: TeamService, args: argparse.Namespace) -> Any:
    return (await service.create({"id": args.team, **_team_fields(args)})).model_dump()


async def _teams_update(service: TeamService, args: argparse.Namespace) -> Any:
    return (await service.update(args.team, _team_fields(args))).model_dump()


async def _teams_delete(service: TeamService, args: argparse.Namespace) -> Any:
    await service.delete(args.team)
    return {"deleted": args.team}


async def _teams_apply(service: TeamService, args: argparse.Namespace) -> Any:
    document = yaml.safe_load(args.file.read_text(encoding="utf-8")) or {}
    specs = document.get("teams", []) if isinstance(document, dict) else document
    result = await service.apply(specs)
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}


async def _keys_create(service: TeamService, args: argparse.Namespace) -> Any:
    issued = await service.issue_key(args.team, args.name)
    print("This key is shown once; store it now.", file=sys.stderr)
    return {**KeyOut.of(issued.record).model_dump(), "key": issued.key}


async def _keys_list(service: TeamService, args: argparse.Namespace) -> Any:
    return [KeyOut.of(r).model_dump() for r in await service.list_keys(args.team)]


async def _keys_revoke(service: TeamService, args: argparse.Namespace) -> Any:
    return KeyOut.of(await service.revoke_key(args.key_id)).model_dump()
