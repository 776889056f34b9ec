"""A team's own backend for a browser frontend that calls Rivya Gateway directly.

It serves the page and mints a short-lived browser token for the signed-in user with the team
key. The team key stays here, on the server: the browser only ever sees the token.

    export GATEWAY_URL=http://127.0.0.1:8080 TEAM_KEY=rgw_...
    python examples/browser/backend.py --port 8090
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse

HERE = Path(__file__).resolve().parent
GATEWAY_URL = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
TEAM_KEY = os.environ.get("TEAM_KEY", "")  # rgw_...: a server-side secret, never sent to a page

app = FastAPI(title="Rivya Gateway browser example")


@app.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(HERE / "index.html")


@app.get("/app.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(HERE / "app.js", media_type="text/javascript")


@app.get("/config")
def config() -> dict[str, str]:
    """Where the page finds the gateway (so the page itself has no URL baked in)."""
    return {"gateway_url": GATEWAY_URL}


@app.post("/token", response_model=None)
async def token() -> dict[str, Any] | JSONResponse:
    # In a real app, authenticate the request first (your session cookie, CSRF check, ...) and
    # use the logged-in user's id as the subject: the gateway keeps each subject's tasks and
    # files apart, and can rate-limit and revoke per subject. Here everyone is one demo user.
    subject = "demo-user"
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{GATEWAY_URL}/v1/tokens",
            headers={"Authorization": f"Bearer {TEAM_KEY}"},
            json={"subject": subject, "ttl_seconds": 900, "max_credits": None},
        )
    if answer.status_code != 201:
        # The gateway's own answer, passed on as it is: its status and its error envelope
        # (code, a message that says what to do, requestId), not a bare 502.
        return JSONResponse(answer.json(), status_code=answer.status_code)
    minted = answer.json()
    # Only the token and its expiry go to the browser.
    return {"token": minted["token"], "expires_at": minted["expires_at"]}


def main() -> None:
    parser = argparse.ArgumentParser(description="The browser example's backend.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8090")))
    args = parser.parse_args()
    if not TEAM_KEY:
        sys.exit("Set TEAM_KEY to the team's key (rgw_...) and GATEWAY_URL to the gateway.")
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
