"""CORS per team: which browser origins may call the gateway with a team's credentials.

A browser sends ``Origin`` with every cross-origin request; a server-side caller sends none. A
request with an ``Origin`` not in its team's ``cors_origins`` is refused (403
``origin_not_allowed``) before it does anything, and the answer carries no CORS headers, so the
page cannot read it either. ``"*"`` allows any origin (never with credentials: the gateway's
credentials are bearer headers, and it never allows cookies). Preflights carry no credential, so
they are answered for the origins of every team (``app/cors.py``)."""

from __future__ import annotations

from app import context
from app.domain.teams import Team
from app.errors import OriginNotAllowed


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    return "*" in allowed or origin.rstrip("/").lower() in {o.lower() for o in allowed}


def check_origin(origin: str | None, team: Team) -> None:
    if origin is None:
        return
    if not origin_allowed(origin, team.cors_origins):
        raise OriginNotAllowed(
            f"Origin {origin!r} may not call the gateway for team {team.id!r}: an admin adds "
            "it to the team's cors_origins."
        )
    context.note_origin_allowed()
