"""``rivya-gateway serve`` and ``rivya-gateway simulator``: the processes."""

from __future__ import annotations

import argparse
from typing import Any

from app.logging import configure_logging
from app.settings import Settings


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.factory import create_app
    from app.http_server import GATEWAY_SERVER
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
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds),
        **GATEWAY_SERVER,  # app/http_server.py: every answer in the envelope
    }
    if options["workers"] > 1:
        # uvicorn's supervisor runs the workers, with its own shutdown (no drain).
        uvicorn.run("app.main:app", **options)
        return
    app = create_app(settings)
    config = uvicorn.Config(app, **options)
    DrainingServer(config, draining=app.state.draining, drain_seconds=settings.drain_seconds).run()


def simulator(args: argparse.Namespace) -> None:
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
