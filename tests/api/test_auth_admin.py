"""Team keys and the admin API: issue, list, revoke, teams CRUD, and who may call what."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.clock import FakeClock, iso_timestamp
from tests.support import (
    ADMIN_TOKEN,
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
)


async def test_missing_and_malformed_credentials(gateway: Gateway) -> None:
    await gateway.team_with_key("alpha")
    cases = [
        ({}, "api_key_missing"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "api_key_missing"),
        (bearer("not-a-gateway-key"), "api_key_invalid"),
        (bearer("rgw_0123456789abcdef_" + "x" * 43), "api_key_invalid"),
    ]
    for headers, code in cases:
        response = await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == code
    assert gateway.upstream_requests() == []


async def test_a_key_with_the_right_id_but_wrong_secret_is_invalid(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    response = await gateway.http.get("/v1/models", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_invalid"


async def test_keys_are_shown_once_and_stored_only_hashed(gateway: Gateway, redis_url: str) -> None:
    await gateway.create_team("alpha")
    created = await gateway.http.post(
        "/admin/teams/alpha/keys", json={"name": "ci"}, headers=admin_headers()
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert body["key_id"].startswith("key_")
    assert body["name"] == "ci"
    assert len(key) >= 60  # rgw_ + 16 hex + 43 chars of 32 random bytes

    listed = await gateway.http.get("/admin/teams/alpha/keys", headers=admin_headers())
    [entry] = listed.json()["data"]
    assert entry["key_id"] == body["key_id"]
    assert "key" not in entry
    assert "secret_hash" not in entry

    redis = SyncRedis.from_url(redis_url, decode_responses=True)
    dump = [str(redis.hgetall(k)) for k in redis.keys("*") if redis.type(k) == "hash"]
    redis.close()
    assert not any(key in row for row in dump)
    assert any(body["key_id"] in row for row in dump)


async def test_a_revoked_key_is_refused(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    assert (await gateway.http.get("/v1/models", headers=bearer(key))).status_code == 200
    key_id = (await gateway.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()[
        "data"
    ][0]["key_id"]
    revoked = await gateway.http.delete(f"/admin/keys/{key_id}", headers=admin_headers())
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    clock.advance(2.5)  # past KEY_CACHE_SECONDS
    response = await gateway.http.get("/v1/models", headers=bearer(key))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"


async def test_revocation_reaches_another_replica_within_the_cache_time(
    gateway: Gateway, redis_url: str, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    async with running_gateway(gateway_settings(redis_url), gateway.sim_app, clock) as other:
        assert (await other.http.get("/v1/models", headers=bearer(key))).status_code == 200
        key_id = key.split("_")[1]
        await gateway.http.delete(f"/admin/keys/key_{key_id}", headers=admin_headers())
        # Within the cache window the other replica may still accept it; past it, never.
        clock.advance(2.01)
        response = await other.http.get("/v1/models", headers=bearer(key))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "api_key_revoked"


async def test_team_keys_and_admin_token_do_not_cross_over(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    as_team = await gateway.http.get("/admin/teams", headers=bearer(key))
    assert as_team.status_code == 401
    assert as_team.json()["error"]["code"] == "api_key_invalid"
    as_admin = await gateway.http.get("/v1/models", headers=bearer(ADMIN_TOKEN))
    assert as_admin.status_code == 401
    assert as_admin.json()["error"]["code"] == "api_key_invalid"
    nothing = await gateway.http.get("/admin/teams")
    assert nothing.json()["error"]["code"] == "api_key_missing"


async def test_admin_api_is_disabled_without_a_token(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, gateway_admin_token=None)
    async with running_gateway(settings, sim_app, clock) as gw:
        response = await gw.http.get("/admin/teams", headers=bearer("anything"))
        assert response.status_code == 401
        assert "disabled" in response.json()["error"]["message"]


async def test_team_lifecycle_create_read_patch_list_delete(gateway: Gateway) -> None:
    created = await gateway.create_team(
        "design-studio", name="Design", budget_credits=800, budget_period="week"
    )
    assert created["id"] == "design-studio"
    assert created["budget_credits"] == 800
    assert created["rate_limit_per_minute"] == 60
    assert created["allowed_models"] is None

    patched = await gateway.http.patch(
        "/admin/teams/design-studio",
        json={"budget_credits": None, "max_in_flight": 3},
        headers=admin_headers(),
    )
    assert patched.status_code == 200
    assert patched.json()["budget_credits"] is None
    assert patched.json()["max_in_flight"] == 3
    assert patched.json()["name"] == "Design"  # untouched fields stay

    read = await gateway.http.get("/admin/teams/design-studio", headers=admin_headers())
    assert read.json() == patched.json()
    listed = await gateway.http.get("/admin/teams", headers=admin_headers())
    assert [t["id"] for t in listed.json()["data"]] == ["design-studio"]

    key = await gateway.issue_key("design-studio")
    deleted = await gateway.http.delete("/admin/teams/design-studio", headers=admin_headers())
    assert deleted.status_code == 204
    gone = await gateway.http.get("/admin/teams/design-studio", headers=admin_headers())
    assert gone.status_code == 404
    refused = await gateway.http.get("/v1/models", headers=bearer(key))
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "Not A Slug"}, "id"),
        ({"id": "ok", "budget_credits": -1}, "budget_credits"),
        ({"id": "ok", "budget_period": "fortnight"}, "budget_period"),
        ({"id": "ok", "allowed_models": ["gpt-image"]}, "allowed_models"),
        ({"id": "ok", "cors_origins": ["not an origin"]}, "cors_origins"),
        ({"id": "ok", "surprise": 1}, "surprise"),
    ],
)
async def test_invalid_team_settings_are_named(
    gateway: Gateway, body: dict[str, object], field: str
) -> None:
    response = await gateway.http.post("/admin/teams", json=body, headers=admin_headers())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert any(d["field"].startswith(field) for d in error["details"]), error


async def test_duplicate_team_and_unknown_team_or_key(gateway: Gateway) -> None:
    await gateway.create_team("alpha")
    again = await gateway.http.post("/admin/teams", json={"id": "alpha"}, headers=admin_headers())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    for method, path in [
        ("GET", "/admin/teams/nope"),
        ("PATCH", "/admin/teams/nope"),
        ("DELETE", "/admin/teams/nope"),
        ("POST", "/admin/teams/nope/keys"),
        ("DELETE", "/admin/keys/key_0000000000000000"),
    ]:
        response = await gateway.http.request(method, path, json={}, headers=admin_headers())
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


async def test_a_patch_working_from_a_stale_read_keeps_the_other_change(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins patch different fields at once: the second read the team before the first
    wrote. Only the fields a patch names are written, so both changes stick."""
    await gateway.create_team("alpha")
    teams = gateway.app.state.services.teams
    stale = await teams.get("alpha")
    await teams.update("alpha", {"budget_credits": 500})

    async def read_before_that_write(_: str) -> object:
        return stale

    monkeypatch.setattr(teams, "get", read_before_that_write)
    await teams.update("alpha", {"max_in_flight": 7})
    monkeypatch.undo()
    team = (await gateway.http.get("/admin/teams/alpha", headers=admin_headers())).json()
    assert (team["budget_credits"], team["max_in_flight"]) == (500, 7)


@pytest.mark.parametrize("form", ["the key", "its prefix", "its id", "its bare hex"])
async def test_a_leaked_key_is_revoked_by_what_the_incident_hands_you(
    gateway: Gateway, clock: FakeClock, form: str
) -> None:
    key = await gateway.team_with_key("alpha")
    public = key.split("_")[1]
    reference = {
        "the key": key,
        "its prefix": f"rgw_{public}",
        "its id": f"key_{public}",
        "its bare hex": public,
    }[form]
    revoked = await gateway.http.post(
        "/admin/keys/revoke", json={"key": reference}, headers=admin_headers()
    )
    assert revoked.status_code == 200
    assert revoked.json()["key_id"] == f"key_{public}"
    assert key.split("_", 2)[2] not in revoked.text  # the secret is never said back
    clock.advance(2.5)  # past KEY_CACHE_SECONDS
    refused = await gateway.http.get("/v1/models", headers=bearer(key))
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_a_key_that_is_not_the_ones_issued_revokes_nothing_and_is_never_echoed(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha")
    public, secret = key.split("_")[1], key.split("_", 2)[2]
    forged = f"rgw_{public}_{'A' * len(secret)}"  # the right id, another secret
    for reference, status in ((forged, 404), (f"rgw_{'0' * 16}_{secret}", 404), ("oops", 400)):
        answer = await gateway.http.post(
            "/admin/keys/revoke", json={"key": reference}, headers=admin_headers()
        )
        assert answer.status_code == status, answer.text
        assert secret not in answer.text
        assert "A" * 20 not in answer.text
    assert (await gateway.http.get("/v1/models", headers=bearer(key))).status_code == 200


async def test_a_key_issued_with_an_expiry_stops_there_and_its_last_use_is_known(
    gateway: Gateway, clock: FakeClock
) -> None:
    await gateway.create_team("alpha")
    soon = iso_timestamp(clock.now() + 3600)
    issued = await gateway.http.post(
        "/admin/teams/alpha/keys", json={"name": "ci", "expires_at": soon}, headers=admin_headers()
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["expires_at"] == soon
    key = issued.json()["key"]
    made = await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    assert made.status_code == 202
    await gateway.app.state.services.answered.flush()  # what the lifespan writes each second
    [listed] = (await gateway.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()[
        "data"
    ]
    assert listed["last_used_at"] == iso_timestamp(clock.now())
    clock.advance(3600)
    for method, path in (("GET", "/v1/usage"), ("POST", "/v1/images")):
        refused = await gateway.http.request(
            method, path, json={"prompt": "p"} if method == "POST" else None, headers=bearer(key)
        )
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_expired"
        assert soon in refused.json()["error"]["message"]
    past = await gateway.http.post(
        "/admin/teams/alpha/keys",
        json={"expires_at": iso_timestamp(clock.now() - 1)},
        headers=admin_headers(),
    )
    assert past.status_code == 400
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")
