"""CORS per team: preflights answered for allowed origins on the browser routes, calls from any
other origin refused before they do anything, and never a credentialed wildcard."""

from __future__ import annotations

from typing import Any

from app.clock import FakeClock
from tests.support import Gateway, assert_books_close, bearer, mint_token, settle_all

APP = "https://app.example.com"
ELSEWHERE = "https://evil.example.net"


def preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_preflight_is_answered_for_allowed_origins_only(token_gateway: Gateway) -> None:
    gw = token_gateway
    await gw.team_with_key("web", cors_origins=[APP])
    allowed = await gw.http.options("/v1/images", headers=preflight_headers(APP))
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert int(allowed.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers

    for origin, path, code in (
        (ELSEWHERE, "/v1/images", "origin_not_allowed"),
        # An allowed origin, on a route no browser token may use: said as such.
        (APP, "/admin/teams", "forbidden"),
        (APP, "/v1/tokens", "forbidden"),
    ):
        refused = await gw.http.options(path, headers=preflight_headers(origin))
        assert refused.status_code == 403, (origin, path)
        assert refused.json()["error"]["code"] == code
        assert not any(h.lower().startswith("access-control-") for h in refused.headers)


async def test_a_call_from_another_origin_is_refused_and_costs_nothing(
    token_gateway: Gateway, clock: FakeClock
) -> None:
    gw = token_gateway
    key = await gw.team_with_key("web", cors_origins=[APP])
    token = await mint_token(gw, key, "user-ann")
    answer = await _create(gw, token, APP)
    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]

    refused = await _create(gw, token, ELSEWHERE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused.headers
    # The team key from a browser of another origin is refused alike; without Origin (a
    # server) it is served.
    assert (await _create(gw, key, ELSEWHERE)).status_code == 403
    assert len(gw.upstream_requests("/generations")) == 1  # only the allowed call reached Rivya

    # An expired token's 401 is readable by an allowed page, so it can mint a new one.
    clock.advance(3600)
    expired = await _create(gw, token, APP)
    assert expired.status_code == 401
    assert expired.headers["Access-Control-Allow-Origin"] == APP
    await settle_all(gw, clock)
    await assert_books_close(gw, "web")


async def test_a_wildcard_allows_any_origin_without_credentials(token_gateway: Gateway) -> None:
    gw = token_gateway
    key = await gw.team_with_key("open", cors_origins=["*"])
    token = await mint_token(gw, key, "user-ann")
    answer = await gw.http.get("/v1/usage", headers={**bearer(token), "Origin": ELSEWHERE})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ELSEWHERE
    assert "Access-Control-Allow-Credentials" not in answer.headers
    preflight = await gw.http.options("/v1/usage", headers=preflight_headers(ELSEWHERE, "GET"))
    assert preflight.status_code == 204


async def _create(gw: Gateway, credential: str, origin: str) -> Any:
    return await gw.http.post(
        "/v1/images", json={"prompt": "a kite"}, headers={**bearer(credential), "Origin": origin}
    )
