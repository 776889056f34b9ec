"""``rivya-gateway``: run the gateway or the simulator, manage teams and keys.

Team and key commands talk to Redis directly (``REDIS_URL``), so they work without the admin
token and without the org key; they go through the same services as the admin API.

The package: ``parser`` (the commands and their flags), ``processes`` (serve, simulator),
``admin`` (team, key and spend commands over Redis), ``output`` (tables and key: value lines).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

import yaml
from pydantic import ValidationError

from app.cli.parser import build_parser
from app.errors import GatewayError

DESCRIPTION = (
    "Run the gateway or the simulator, manage teams and keys. Team and key commands talk to "
    "Redis directly (REDIS_URL), so they work without the admin token and without the org key; "
    "they go through the same services as the admin API."
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser(DESCRIPTION)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    try:
        result = args.run(args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
        sys.stdout.flush()
    except BrokenPipeError:
        # Read by something that stopped reading (`| head`): not an error. Python would still
        # complain when it flushes stdout at exit, so stdout goes nowhere from here on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
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
