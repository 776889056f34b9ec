"""The team, key and spend commands: the same services as the admin API, over Redis alone."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from app.catalog import load_catalog
from app.cli.output import blank, cell, render
from app.clock import SystemClock
from app.errors import StoreUnavailable, ValidationFailed, field_errors
from app.schemas.teams import KeyBudgetFields, KeyOut
from app.settings import MAKE_RUN_ENV, StoreSettings
from app.store.redis import close_redis, create_redis, learn_cluster_layout
from app.store.redis_causes import redis_cause
from app.wiring.admin import AdminServices, build_admin

# Team flags shared by `teams create` and `teams update`: (flag, field, type, help).
TEAM_FLAGS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--name", "name", str, "display name"),
    ("--budget", "budget_credits", int, "credits per period (create: omit for no budget)"),
    ("--period", "budget_period", str, "day, week, month or total"),
    ("--rate", "rate_limit_per_minute", int, "creates per minute"),
    ("--burst", "burst", int, "creates at once (default: the per-minute rate)"),
    ("--max-in-flight", "max_in_flight", int, "tasks created and not yet ended"),
    ("--models", "allowed_models", lambda v: [m for m in v.split(",") if m], "comma-separated"),
    ("--origins", "cors_origins", lambda v: [o for o in v.split(",") if o], "comma-separated"),
    ("--subject-rate", "per_subject_rate_limit_per_minute", int, "browser subject per minute"),
    ("--result-days", "result_retention_days", int, "days its results' copies are kept"),
]


def team_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {f: getattr(args, f) for _, f, _, _ in TEAM_FLAGS if getattr(args, f) is not None}
    if getattr(args, "no_budget", False):
        fields["budget_credits"] = None
    return fields


AdminCommand = Callable[[AdminServices, argparse.Namespace], Awaitable[Any]]


def store_settings(args: argparse.Namespace) -> StoreSettings:
    """REDIS_URL and friends, in this order: ``--redis-url``; the environment; what ``make run``
    wrote about the instance it started (``$RUN_DIR/env``: ``.run/env`` unless a second
    instance was started with its own ``RUN_DIR``), which is the Redis the running gateway
    uses; then ``.env``. Where the last two disagree, the CLI says so (on stderr)."""
    redis_url = getattr(args, "redis_url", None)
    if redis_url:
        return StoreSettings(redis_url=redis_url)
    run_env = Path(os.environ.get("RUN_DIR") or MAKE_RUN_ENV.parent) / MAKE_RUN_ENV.name
    if "REDIS_URL" not in os.environ:
        running = dotenv_values(run_env).get("REDIS_URL") if run_env.is_file() else None
        own = dotenv_values(".env").get("REDIS_URL") if Path(".env").is_file() else None
        if running and own and running != own:
            print(
                f"warning: .env's REDIS_URL ({redacted_url(own)}) is not the Redis of the "
                f"gateway `make run` started ({redacted_url(running)}, from {run_env}); using "
                "the gateway's. Pass --redis-url to choose, or align the two.",
                file=sys.stderr,
            )
    return StoreSettings(_env_file=(".env", run_env))  # the later file wins


@asynccontextmanager
async def admin_services(args: argparse.Namespace) -> AsyncIterator[AdminServices]:
    """The same composition as the app's (``wiring.admin.build_admin``), over Redis alone."""
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
        # What a person at a terminal needs: which Redis, why, and (for a write whose outcome
        # is unknown) that repeating it is safe; not a client's "Retry soon".
        said = "" if lost.message == StoreUnavailable.default_message else f" {lost.message}"
        raise StoreUnavailable(
            f"Redis at {redacted_url(settings.redis_url)}: {redis_cause(lost)}.{said} After "
            "`make run` the CLI reads REDIS_URL from $RUN_DIR/env (.run/env; for an instance "
            "started with RUN_DIR=…, export the same RUN_DIR); else set REDIS_URL or pass "
            "--redis-url."
        ) from lost
    finally:
        await close_redis(redis)


def redacted_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def printing(
    command: AdminCommand, columns: tuple[str, ...] = ()
) -> Callable[[argparse.Namespace], Awaitable[None]]:
    """Run a team/key command and print its result: a table (``columns``) or ``key: value``
    lines in a terminal, JSON with ``--json``."""

    async def run(args: argparse.Namespace) -> None:
        async with admin_services(args) as services:
            result = await command(services, args)
        if result is None:
            return
        if getattr(args, "json", False):
            print(json.dumps(result, indent=2))
        else:
            print(render(result, columns))

    return run


async def spend(args: argparse.Namespace) -> None:
    async with admin_services(args) as services:
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
            f"{row['team']:<20} {row['period_id']:<17} {blank(row['budget_credits']):>9} "
            f"{row['spent_credits']:>9} {row['reserved_credits']:>9} "
            f"{blank(row['remaining_credits']):>9} "
            f"{tasks['succeeded']:>10}/{tasks['failed']}/{tasks['pending']}"
        )
    totals = report["totals"]
    print(
        f"{'total':<20} {'':<17} {'':>9} {totals['spent_credits']:>9} "
        f"{totals['reserved_credits']:>9}"
    )


async def teams_list(services: AdminServices, _: argparse.Namespace) -> Any:
    return [t.model_dump() for t in await services.teams.list_teams()]


async def teams_get(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.get(args.team)).model_dump()


async def teams_create(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.create({"id": args.team, **team_fields(args)})).model_dump()


async def teams_update(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.teams.update(args.team, team_fields(args))).model_dump()


async def teams_delete(services: AdminServices, args: argparse.Namespace) -> Any:
    if not args.yes:
        keys = [k for k in await services.teams.list_keys(args.team) if not k.revoked]
        question = (
            f"Delete team {args.team!r} and revoke its {len(keys)} key(s)? Its creates stop at "
            "once; its books stay, under the deleted team. [y/N] "
        )
        if not sys.stdin.isatty():
            raise ValueError(f"{question.removesuffix(' [y/N] ')} Pass --yes to confirm.")
        if (await asyncio.to_thread(input, question)).strip().lower() not in ("y", "yes"):
            raise ValueError("Nothing deleted.")
    await services.teams.delete(args.team)
    return {"deleted": args.team}


def teams_file(path: Path) -> list[Any]:
    """The ``teams:`` list of a ``teams apply`` file. YAML errors name the file and line."""
    with path.open(encoding="utf-8") as handle:  # so a YAML error names the file, not a string
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or not isinstance(document.get("teams"), list):
        raise ValueError(
            f"{path}: a teams file is a mapping with a 'teams:' list (of entries with an "
            "'id'), e.g.\nteams:\n  - id: design\n    budget_credits: 800"
        )
    unknown = sorted(set(document) - {"teams"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))}")
    teams: list[Any] = document["teams"]
    return teams


async def teams_apply(services: AdminServices, args: argparse.Namespace) -> Any:
    specs = teams_file(args.file)
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
            lines.append(f"  {name}: {cell(before)} -> {cell(after)}")
    for team in result.unchanged:
        lines.append(f"{team}: unchanged")
    print("\n".join(lines) or "(no teams in the file)")
    return None


async def keys_create(services: AdminServices, args: argparse.Namespace) -> Any:
    expires = None
    if args.expires_in_days is not None:
        expires = time.time() + args.expires_in_days * 86_400
    budget = budget_fields(args.budget_credits, args.budget_period).key_budget()
    issued = await services.teams.issue_key(args.team, args.name, expires, budget)
    print("This key is shown once; store it now.", file=sys.stderr)
    return {**KeyOut.of(issued.standing).model_dump(), "key": issued.key}


async def keys_list(services: AdminServices, args: argparse.Namespace) -> Any:
    return [KeyOut.of(r).model_dump() for r in await services.teams.list_keys(args.team)]


async def keys_revoke(services: AdminServices, args: argparse.Namespace) -> Any:
    return KeyOut.of(await services.teams.revoke_key(args.key)).model_dump()


async def keys_budget(services: AdminServices, args: argparse.Namespace) -> Any:
    asked = budget_fields(args.budget_credits, args.budget_period)
    return KeyOut.of(await services.teams.set_key_budget(args.key_id, asked)).model_dump()


def budget_fields(credits: int | None, period: str | None) -> KeyBudgetFields:
    """A budget from the command's flags (validated as the admin API's are)."""
    try:
        return KeyBudgetFields.model_validate({"budget_credits": credits, "budget_period": period})
    except ValidationError as exc:
        raise ValidationFailed(details=field_errors(exc.errors())) from None


def credits_or_none(text: str) -> int | None:
    """A budget's credits as typed: a whole number, or "none"."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'none'") from None


async def requests_show(services: AdminServices, args: argparse.Namespace) -> Any:
    return (await services.requests.find(args.request_id)).as_dict()
