"""Dependencies of the simulator's routes: the state, and Rivya's API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from app.simulator.errors import SimError
from app.simulator.requestlog import RequestRecord
from app.simulator.state import SimState


def get_state(request: Request) -> SimState:
    state = request.app.state.sim
    assert isinstance(state, SimState)
    return state


SimStateDep = Annotated[SimState, Depends(get_state)]


def require_api_key(request: Request, state: SimStateDep) -> None:
    """Rivya's 401s: ``api_key_missing`` without a Bearer key, ``api_key_invalid`` otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise SimError(
            "api_key_missing", 401, "Send the API key as 'Authorization: Bearer rvya_sk_...'."
        )
    expected = state.settings.api_key.get_secret_value()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise SimError("api_key_invalid", 401, "The API key is invalid.")


def base_url(request: Request, state: SimState) -> str:
    """Where result and file URLs point: the configured public base, else this request's."""
    configured = state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def request_record(request: Request) -> RequestRecord | None:
    """This request's entry in the request log (set by the middleware)."""
    record = getattr(request.state, "sim_record", None)
    return record if isinstance(record, RequestRecord) else None
