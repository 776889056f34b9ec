"""Browser tokens: minted by a team's backend with its key, used by one end user's browser:
scoped, short-lived, revocable, isolated per subject, and limited per subject and per token."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from app.auth.tokens import LEEWAY_SECONDS
from app.clock import FakeClock
from tests.support import (
    TOKEN_SECRET,
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    mint_token,
    running_gateway,
    settle_all,
    token_settings,
)

OLD_SECRET = "token-signing-secret-of-last-week-0123"


@pytest.fixture
def gw(token_gateway: Gateway) -> Gateway:
    return token_gateway


mint = mint_token


async def create(gw: Gateway, credential: str, **body: Any) -> Any:
    return await gw.http.post(
        "/v1/images", json={"prompt": "a kite", **body}, headers=bearer(credential)
    )


async def test_a_token_creates_and_reads_only_its_subjects_tasks(
    gw: Gateway, clock: FakeClock
) -> None:
    key = await gw.team_with_key("web", rate_limit_per_minute=1000)
    ann, bob = await mint(gw, key, "user-ann"), await mint(gw, key, "user-bob")
    mine = (await create(gw, ann)).json()["id"]
    theirs = (await create(gw, bob)).json()["id"]
    by_key = (await create(gw, key)).json()["id"]

    assert (await gw.http.get(f"/v1/images/{mine}", headers=bearer(ann))).status_code == 202
    # Another user's task, or the team key's, is as missing as one that does not exist.
    for task in (theirs, by_key):
        hidden = await gw.http.get(f"/v1/images/{task}", headers=bearer(ann))
        assert hidden.status_code == 404
        compat = await gw.http.get(f"/api/v1/generations/{task}", headers=bearer(ann))
        assert compat.status_code == 404
    listed = (await gw.http.get("/v1/images", headers=bearer(ann))).json()["data"]
    assert [t["id"] for t in listed] == [mine]
    # The team's key sees every task of the team.
    everything = (await gw.http.get("/v1/images", headers=bearer(key))).json()["data"]
    assert {t["id"] for t in everything} == {mine, theirs, by_key}

    # One client_request_id, two users: two tasks, never a replay of the other's.
    first = await create(gw, ann, client_request_id="same-id")
    second = await create(gw, bob, client_request_id="same-id")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["client_request_id"] == second.json()["client_request_id"] == "same-id"
    listed_again = await gw.http.get(
        "/v1/images", params={"client_request_id": "same-id"}, headers=bearer(ann)
    )
    assert [t["id"] for t in listed_again.json()["data"]] == [first.json()["id"]]
    again = await create(gw, ann, client_request_id="same-id")
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"

    await settle_all(gw, clock)
    await assert_books_close(gw, "web")


async def test_a_token_may_only_create_read_upload_and_see_its_usage(gw: Gateway) -> None:
    key = await gw.team_with_key("web")
    token = await mint(gw, key, "user-ann", max_credits=40)
    for method, path in (
        ("POST", "/v1/tokens"),
        ("POST", "/v1/tokens/revoke"),
        ("GET", "/v1/models"),
        ("GET", "/api/v1/credits"),
        ("GET", "/api/v1/models"),
        ("GET", "/admin/teams"),
        ("GET", "/admin/spend"),
        ("GET", "/v1/files/file_x"),
    ):
        answer = await gw.http.request(method, path, headers=bearer(token), json={})
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    usage = (await gw.http.get("/v1/usage", headers=bearer(token))).json()
    assert usage["subject"] == "user-ann"
    assert usage["max_credits"] == 40
    assert usage["remaining_credits"] == 40
    assert "budget_credits" not in usage  # the team's budget is not the browser's business
    assert gw.upstream_requests() == []


async def test_a_token_expires_and_a_tampered_one_is_refused(gw: Gateway, clock: FakeClock) -> None:
    key = await gw.team_with_key("web")
    token = await mint(gw, key, "user-ann", ttl_seconds=60)
    assert (await gw.http.get("/v1/usage", headers=bearer(token))).status_code == 200
    clock.advance(60 + LEEWAY_SECONDS)  # clocks of two replicas may differ by the leeway
    expired = await gw.http.get("/v1/usage", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"

    fresh = await mint(gw, key, "user-ann")
    head, payload, signature = fresh.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged: list[str] = [
        # Another subject, the signature left as it was.
        f"{head}.{_b64({**claims, 'sub': 'user-bob'})}.{signature}",
        # Another team's id.
        f"{head}.{_b64({**claims, 'team': 'admin'})}.{signature}",
        # No signature at all ("alg": "none").
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        # Signed with a secret this gateway does not know, under its kid.
        jwt.encode(
            claims, "another-secret-0123456789abcdefghij", algorithm="HS256", headers=_kid(fresh)
        ),
        # Living longer than tokens may.
        jwt.encode(
            {**claims, "exp": claims["iat"] + 7200},
            TOKEN_SECRET,
            algorithm="HS256",
            headers=_kid(fresh),
        ),
    ]
    for token in forged:
        refused = await gw.http.get("/v1/usage", headers=bearer(token))
        assert refused.status_code == 401, token
        assert refused.json()["error"]["code"] == "api_key_invalid"
    assert (await gw.http.get("/v1/usage", headers=bearer(fresh))).status_code == 200


async def test_revoking_a_subject_a_team_or_the_minting_key_stops_its_tokens(
    gw: Gateway, clock: FakeClock
) -> None:
    key = await gw.team_with_key("web")
    ann, bob = await mint(gw, key, "user-ann"), await mint(gw, key, "user-bob")
    revoked = await gw.http.post(
        "/v1/tokens/revoke", json={"subject": "user-ann"}, headers=bearer(key)
    )
    assert revoked.status_code == 200
    refused = await create(gw, ann)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"
    assert (await create(gw, bob)).status_code == 202
    clock.advance(1)  # a token minted after the revocation works
    assert (await create(gw, await mint(gw, key, "user-ann"))).status_code == 202

    clock.advance(1)
    # Every token of the team: said explicitly (an empty body is a 400, never "all").
    empty = await gw.http.post("/v1/tokens/revoke", json={}, headers=bearer(key))
    assert empty.status_code == 400
    team_wide = await gw.http.post(
        "/admin/teams/web/tokens/revoke", json={"all": True}, headers=admin_headers()
    )
    assert team_wide.status_code == 200
    assert (await create(gw, bob)).status_code == 401

    clock.advance(1)
    carol = await mint(gw, key, "user-carol")
    key_id = (await gw.http.get("/admin/teams/web/keys", headers=admin_headers())).json()
    await gw.http.delete(f"/admin/keys/{key_id['data'][0]['key_id']}", headers=admin_headers())
    assert (await create(gw, carol)).status_code == 401  # its key is revoked: so is it

    await settle_all(gw, clock)
    await assert_books_close(gw, "web")


async def test_a_tokens_cap_and_its_subjects_rate_hold_across_two_replicas(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = token_settings(redis_url)
    async with (
        running_gateway(settings, sim_app, clock) as one,
        running_gateway(settings, sim_app, clock) as two,
    ):
        key = await one.team_with_key(
            "web", rate_limit_per_minute=1000, per_subject_rate_limit_per_minute=3
        )
        capped = await mint(one, key, "user-ann", max_credits=16)  # two tasks of 8
        answers = await asyncio.gather(
            *(create(one if n % 2 else two, capped, prompt=f"p{n}") for n in range(6))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [202, 202, 402, 402, 402, 402]
        assert all(
            a.json()["error"]["code"] == "budget_exceeded" for a in answers if a.status_code == 402
        )
        usage = (await one.http.get("/v1/usage", headers=bearer(capped))).json()
        assert (usage["reserved_credits"], usage["remaining_credits"]) == (16, 0)

        # The subject's rate (3 a minute), whatever token it holds, on both replicas.
        other = await mint(two, key, "user-bob")
        burst = await asyncio.gather(
            *(create(one if n % 2 else two, other, prompt=f"q{n}") for n in range(6))
        )
        assert sorted(a.status_code for a in burst) == [202, 202, 202, 429, 429, 429]
        limited = next(a for a in burst if a.status_code == 429)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert "creates-per-user" in limited.headers["RateLimit-Policy"]
        # Another user of the team is not held back by bob's rate.
        assert (await create(one, await mint(one, key, "user-carol"))).status_code == 202

        await settle_all(one, clock)
        settled = (await one.http.get("/v1/usage", headers=bearer(capped))).json()
        assert (settled["spent_credits"], settled["reserved_credits"]) == (16, 0)
        await assert_books_close(one, "web")


async def test_tokens_signed_with_the_previous_secret_work_during_a_rotation(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    async with running_gateway(
        gateway_settings(redis_url, gateway_token_secret=OLD_SECRET), sim_app, clock
    ) as before:
        key = await before.team_with_key("web")
        old = await mint(before, key, "user-ann")
    rotated = token_settings(redis_url, gateway_token_previous_secret=OLD_SECRET)
    async with running_gateway(rotated, sim_app, clock) as during:
        assert (await during.http.get("/v1/usage", headers=bearer(old))).status_code == 200
        new = await mint(during, key, "user-ann")
        assert _kid(new) != _kid(old)
    async with running_gateway(token_settings(redis_url), sim_app, clock) as after:
        assert (await after.http.get("/v1/usage", headers=bearer(old))).status_code == 401
        assert (await after.http.get("/v1/usage", headers=bearer(new))).status_code == 200


async def test_without_a_signing_secret_no_token_is_minted(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    answer = await gateway.http.post("/v1/tokens", json={"subject": "u"}, headers=bearer(key))
    assert answer.status_code == 403
    assert "GATEWAY_TOKEN_SECRET" in answer.json()["error"]["message"]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _kid(token: str) -> dict[str, str]:
    return {"kid": jwt.get_unverified_header(token)["kid"]}


async def test_a_token_minted_just_after_a_revocation_works(gw: Gateway, clock: FakeClock) -> None:
    key = await gw.team_with_key("web")
    clock.advance(0.3)  # revocation and mint within one second: told apart to the millisecond
    await gw.http.post("/v1/tokens/revoke", json={"subject": "user-ann"}, headers=bearer(key))
    clock.advance(0.2)
    fresh = await mint(gw, key, "user-ann")
    assert (await gw.http.get("/v1/usage", headers=bearer(fresh))).status_code == 200
    assert (await create(gw, fresh)).status_code == 202
    await settle_all(gw, clock)
    await assert_books_close(gw, "web")


async def test_no_client_request_id_of_the_team_key_is_a_users(
    gw: Gateway, clock: FakeClock
) -> None:
    key = await gw.team_with_key("web", rate_limit_per_minute=1000)
    ann = await mint(gw, key, "user-ann")
    by_key = await create(gw, key, client_request_id="s8:user-ann:x")
    mine = await create(gw, ann, client_request_id="x")
    assert mine.json()["id"] != by_key.json()["id"]
    assert "Idempotent-Replayed" not in mine.headers
    await settle_all(gw, clock)
    await assert_books_close(gw, "web")


async def test_one_users_reads_cannot_starve_the_team(gw: Gateway, clock: FakeClock) -> None:
    key = await gw.team_with_key("web")
    hostile, other = await mint(gw, key, "user-ann"), await mint(gw, key, "user-bob")
    statuses = [
        (await gw.http.get("/v1/images", headers=bearer(hostile))).status_code for _ in range(200)
    ]
    assert 429 in statuses
    assert (await gw.http.get("/v1/images", headers=bearer(other))).status_code == 200
    assert (await gw.http.get("/v1/images", headers=bearer(key))).status_code == 200


async def test_an_uncapped_tokens_usage_shows_what_it_spent(gw: Gateway, clock: FakeClock) -> None:
    key = await gw.team_with_key("web", rate_limit_per_minute=1000)
    ann = await mint(gw, key, "user-ann")
    for _ in range(2):
        assert (await create(gw, ann)).status_code == 202
    await settle_all(gw, clock)
    usage = (await gw.http.get("/v1/usage", headers=bearer(ann))).json()
    assert (usage["spent_credits"], usage["reserved_credits"]) == (16, 0)
    assert usage["max_credits"] is None
    assert usage["remaining_credits"] is None
    await assert_books_close(gw, "web")


async def test_a_token_never_reaches_another_teams_tasks(gw: Gateway, clock: FakeClock) -> None:
    web, other = await gw.team_with_key("web"), await gw.team_with_key("other")
    theirs = (await create(gw, other)).json()["id"]
    token = await mint(gw, web, "user-ann")
    for path in (f"/v1/images/{theirs}", f"/api/v1/generations/{theirs}"):
        assert (await gw.http.get(path, headers=bearer(token))).status_code == 404
    assert (await gw.http.get("/v1/images", headers=bearer(token))).json()["data"] == []
    await settle_all(gw, clock)
    await assert_books_close(gw, "web", "other")
