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
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from app.catalog import load_catalog
from app.clock import SystemClock
from app.container import AdminServices, build_admin
from app.errors import GatewayError, StoreUnavailable
from app.logging import configure_logging
from app.schemas import KeyOut
from app.settings import Settings, StoreSettings
from app.store.redis import close_redis, create_redis, learn_cluster_layout

TEAM_COLUMNS = (
    "id",
    "name",
    "budget_credits",
    "budget_period",
    "rate_limit_per_minute",
    "max_in_flight",
    "allowed_models",
    "cors_origins",
)
KEY_COLUMNS = ("key_id", "team", "name", "created_at", "revoked_at")

# Team flags shared by `teams create` and `teams update`: (flag, field, type, help).
_TEAM_FLAGS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--name", "name", str, "display name"),
    ("--budget", "budget_credits", int, "credits per period (create: omit for no budget)"),
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
    except ValidationError as exc:
        print(f"error: {settings_problem(exc)}", file=sys.stderr)
        sys.exit(1)
    except (yaml.YAMLError, OSError, ValueError) as exc:
        # The YAML file or the file system: say what, without a traceback.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def settings_problem(exc: ValidationError) -> str:
    """A settings error as a person reads it: which setting, and what is wrong with it."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if name else message)
    return "\n  ".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rivya-gateway", description=__doc__)
    commands = parser.add_subparsers(title="commands")

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
    serve.set_defaults(run=_serve)

    sim = commands.add_parser("simulator", help="run the built-in Rivya simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.set_defaults(run=_simulator)

    # Every command that reads or changes the gateway's state: where Redis is, and JSON output.
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--redis-url",
        help="the gateway's Redis (default: REDIS_URL from the environment, .env, or .run/env "
        "written by `make run`)",
    )
    store.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def admin(group: Any, name: str, help_: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help_, parents=[store])
        return parser

    teams = commands.add_parser("teams", help="manage teams").add_subparsers(title="teams")
    admin(teams, "list", "list teams").set_defaults(run=_admin(_teams_list, TEAM_COLUMNS))
    get = admin(teams, "get", "show a team")
    get.add_argument("team")
    get.set_defaults(run=_admin(_teams_get))
    create = admin(teams, "create", "create a team")
    create.add_argument("team")
    _team_flags(create)
    create.set_defaults(run=_admin(_teams_create))
    update = admin(teams, "update", "change some of a team's settings")
    update.add_argument("team")
    _team_flags(update)
    update.add_argument("--no-budget", action="store_true", help="remove the budget")
    update.set_defaults(run=_admin(_teams_update))
    delete = admin(teams, "delete", "delete a team and revoke its keys")
    delete.add_argument("team")
    delete.set_defaults(run=_admin(_teams_delete))
    apply = admin(teams, "apply", "create or update teams from a YAML file")
    apply.add_argument("file", type=Path)
    apply.add_argument(
        "--dry-run", action="store_true", help="show what would change; change nothing"
    )
    apply.add_argument(
        "--prune",
        action="store_true",
        help="fields a team's entry leaves out go back to their defaults (else they are kept)",
    )
    apply.set_defaults(run=_admin(_teams_apply))

    spend = commands.add_parser("spend", help="spend per team against budget", parents=[store])
    spend.add_argument("--period", default="current", help="current, YYYY-MM-DD or YYYY-MM")
    spend.add_argument(
        "--daily",
        type=int,
        metavar="DAYS",
        help="instead: spend per team per UTC day over the last DAYS days, as CSV",
    )
    spend.set_defaults(run=_spend)

    keys = commands.add_parser("keys", help="manage team keys").add_subparsers(title="keys")
    key_create = admin(keys, "create", "issue a key (printed once)")
    key_create.add_argument("team")
    key_create.add_argument("--name")
    key_create.set_defaults(run=_admin(_keys_create))
    key_list = admin(keys, "list", "list a team's keys")
    key_list.add_argument("team")
    key_list.set_defaults(run=_admin(_keys_list, KEY_COLUMNS))
    key_revoke = admin(keys, "revoke", "revoke a key")
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

    from app.lifecycle import DrainingServer

    settings = Settings()  # refuse bad settings here, in one clear message, before uvicorn starts
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        # State lives in Redis, so workers and replicas share nothing else: one worker per
        # container is the usual shape (deploy/README.md); --workers serves a bigger machine.
        "workers": max(args.workers, 1),
        "log_config": None,
        # The gateway writes its own access line; uvicorn's, off, costs nothing per request
        # (left on, it formats its arguments for every request even though it is never shown).
        "access_log": False,
        "proxy_headers": True,
        "server_header": False,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds),
    }
    if options["workers"] > 1:
        # uvicorn's supervisor runs the workers, with its own shutdown (no drain).
        uvicorn.run("app.main:app", **options)
        return
    config = uvicorn.Config("app.main:app", **options)
    DrainingServer(config, drain_seconds=settings.drain_seconds).run()


def _simulator(args: argparse.Namespace) -> None:
    import uvicorn

    from app.simulator.settings import SimulatorSettings

    # The same one-JSON-object-a-line logs as the gateway, its key redacted like the org key.
    configure_logging("INFO", [SimulatorSettings().api_key.get_secret_value()])
    uvicorn.run(
        "app.simulator.main:app",
        host=args.host,
        port=args.port,
        workers=1,
        log_config=None,
        date_header=False,  # the simulator dates its answers by its own clock, as Rivya would
    )


AdminCommand = Callable[[AdminServices, argparse.Namespace], Awaitable[Any]]


def store_settings(args: argparse.Namespace) -> StoreSettings:
    """REDIS_URL and friends: ``--redis-url``, else the environment, .env, then .run/env (what
    ``make run`` wrote about the instance it started)."""
    redis_url = getattr(args, "redis_url", None)
    return StoreSettings(redis_url=redis_url) if redis_url else StoreSettings()


@asynccontextmanager
async def _admin_services(args: argparse.Namespace) -> AsyncIterator[AdminServices]:
    """The same composition as the app's (``container.build_admin``), over Redis alone."""
    settings = store_settings(args)
    redis = create_redis(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        max_connections=settings.redis_max_connections,
    )
    try:
        await learn_cluster_layout(redis)
        yield build_admin(settings, load_catalog(settings.catalog_path), redis, SystemClock())
    except StoreUnavailable as lost:
        raise StoreUnavailable(
            f"{lost.message} Tried REDIS_URL={redacted_url(settings.redis_url)}: after "
            "`make run` the CLI reads it from .run/env; else set REDIS_URL or pass --redis-url."
        ) from lost
    finally:
        await close_redis(redis)


def redacted_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def _admin(
    command: AdminCommand, columns: tuple[str, ...] = ()
) -> Callable[[argparse.Namespace], Awaitable[None]]:
    """Run a team/key command and print its result: a table (``columns``) or ``key: value``
    lines in a terminal, JSON with ``--json``."""

    async def run(args: argparse.Namespace) -> None:
        async with _admin_services(args) as services:
            result = await command(services, args)
        if result is None:
            return
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2))
        else:
            print(render(result, columns))

    return run


def render(result: Any, columns: tuple[str, ...]) -> str:
    if isinstance(result, list):
        return table(result, columns)
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k:<{width}}  {_cell(v)}" for k, v in result.items())
    return str(result)


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return "(none)"
    cols = columns or tuple(rows[0])
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


async def _spend(args: argparse.Namespace) -> None:
    async with _admin_services(args) as services:
        if args.daily is not None:
            print(await services.reports.daily_csv(args.daily), end="")
            return
        report = await services.usage.report(args.period)
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


async def _teams_list(services: AdminServices, _: argparse.Namespace) -> Any:
    return [t.model_dump() for t in await services.teams.list_teams()]


async def _teams_get(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.get(args.team)).model_dump()


async def _teams_create(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.create({"id": args.team, **_team_fields(args)})).model_dump()


async def _teams_update(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.update(args.team, _team_fields(args))).model_dump()


async def _teams_delete(services: AdminServices, args: argparse.Namespace) -> Any:
    await services.teams.delete(args.team)
    return {"deleted": args.team}


async def _teams_apply(services: AdminServices, args: argparse.Namespace) -> Any:
    document = yaml.safe_load(args.file.read_text(encoding="utf-8")) or {}
    specs = document.get("teams", []) if isinstance(document, dict) else document
    result = await services.teams.apply(specs, prune=args.prune, dry_run=args.dry_run)
    if args.json:
        return {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "changes": result.changes,
            "dry_run": result.dry_run,
        }
    verb = "would be" if result.dry_run else ""
    lines = []
    for team, changes in result.changes.items():
        created = team in result.created
        lines.append(f"{team}: {verb} {'created' if created else 'updated'}".replace("  ", " "))
        for name, (before, after) in changes.items():
            if created and after in (None, []):
                continue  # a new team's unset fields say nothing
            lines.append(f"  {name}: {_cell(before)} -> {_cell(after)}")
    for team in result.unchanged:
        lines.append(f"{team}: unchanged")
    print("\n".join(lines) or "(no teams in the file)")
    return None


async def _keys_create(services: AdminServices, args: argparse.Namespace) -> Any:
    issued = await services.teams.issue_key(args.team, args.name)
    print("This key is shown once; store it now.", file=sys.stderr)
    return {**KeyOut.of(issued.record).model_dump(), "key": issued.key}


async def _keys_list(services: AdminServices, args: argparse.Namespace) -> Any:
    return [KeyOut.of(r).model_dump() for r in await services.teams.list_keys(args.team)]


async def _keys_revoke(services: AdminServices, args: argparse.Namespace) -> Any:
    return KeyOut.of(await services.teams.revoke_key(args.key_id)).model_dump()
