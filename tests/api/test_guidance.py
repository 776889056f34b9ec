"""Errors that say what to do: which credential a route wants, where a running task is."""

from __future__ import annotations

from app.clock import FakeClock
from tests.support import Gateway, admin_headers, assert_books_close, bearer, settle_all


async def test_every_401_names_the_bearer_scheme(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    for headers in ({}, bearer("rgw_0123456789abcdef_wrong"), bearer(key[:-2] + "xx")):
        answer = await gateway.http.get("/v1/usage", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_admin_api_says_it_wants_the_admin_token(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    missing = await gateway.http.get("/admin/teams")
    assert missing.status_code == 401
    assert "GATEWAY_ADMIN_TOKEN" in missing.json()["error"]["message"]
    with_key = await gateway.http.get("/admin/teams", headers=bearer(key))
    assert with_key.status_code == 401
    assert with_key.json()["error"]["code"] == "api_key_invalid"
    assert "GATEWAY_ADMIN_TOKEN" in with_key.json()["error"]["message"]
    assert "team key" in with_key.json()["error"]["message"]


async def test_a_running_task_says_where_to_look_and_counts_read_well(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("web", rate_limit_per_minute=1000, max_in_flight=1)
    created = await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    assert created.status_code == 202
    assert created.headers["Location"] == f"/v1/images/{created.json()['id']}"
    followed = await gateway.http.get(created.headers["Location"], headers=bearer(key))
    assert followed.json()["id"] == created.json()["id"]
    full = await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    assert full.status_code == 429
    assert "has 1 task in flight" in full.json()["error"]["message"]
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "web")


async def test_the_other_surfaces_spelling_gets_a_did_you_mean(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    ours = await gateway.http.post(
        "/v1/images", json={"prompt": "p", "aspectRatio": "1:1"}, headers=bearer(key)
    )
    assert ours.status_code == 400
    [detail] = ours.json()["error"]["details"]
    assert detail["field"] == "aspectRatio"
    assert "did you mean 'aspect_ratio'" in detail["message"]
    theirs = await gateway.http.post(
        "/api/v1/generations",
        json={"model": "flux-kontext-max", "prompt": "p", "params": {"aspect_ratio": "1:1"}},
        headers=bearer(key),
    )
    assert theirs.status_code == 400
    assert "did you mean 'aspectRatio'" in theirs.json()["error"]["details"][0]["message"]
    # A bad Idempotency-Key is reported as the header it came in.
    header = await gateway.http.post(
        "/v1/images",
        json={"prompt": "p"},
        headers={**bearer(key), "Idempotency-Key": "spaces are not allowed"},
    )
    assert header.status_code == 400
    assert header.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert gateway.upstream_requests("/generations") == []


async def test_a_wrong_method_names_every_method_the_path_answers(gateway: Gateway) -> None:
    answer = await gateway.http.put("/v1/images")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}


async def test_a_body_too_large_says_which_limit(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    json_body = await gateway.http.post(
        "/v1/images",
        content=b'{"prompt": "' + b"x" * 2_000_000 + b'"}',
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert json_body.status_code == 413
    assert "JSON body" in json_body.json()["error"]["message"]
    upload = await gateway.http.post(
        "/v1/files",
        files={"file": ("big.png", b"\x89PNG" + b"0" * 11_000_000, "image/png")},
        headers=bearer(key),
    )
    assert upload.status_code == 413
    assert "10 MiB" in upload.json()["error"]["message"]


async def test_admin_validation_speaks_plainly(gateway: Gateway) -> None:
    answer = await gateway.http.post(
        "/admin/teams",
        json={"id": "Bad Slug", "colour": "red", "cors_origins": ["ftp://x"]},
        headers=admin_headers(),
    )
    assert answer.status_code == 400
    details = {d["field"]: d["message"] for d in answer.json()["error"]["details"]}
    assert details["id"].startswith("must be a slug")
    assert details["colour"] == "is not a known field"
    assert "is not an origin like https://app.example.com" in details["cors_origins"]
    for message in details.values():
        assert "^" not in message  # no raw regex
        assert "Value error" not in message


async def test_a_refused_default_model_says_what_the_team_may_use(gateway: Gateway) -> None:
    key = await gateway.team_with_key("search", allowed_models=["flux-kontext-pro"])
    refused = await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "the default" in message
    assert "flux-kontext-pro" in message
    every = await gateway.http.post(
        "/v1/images", json={"prompt": "", "model": "nope", "foo": 1}, headers=bearer(key)
    )
    assert {d["field"] for d in every.json()["error"]["details"]} == {"prompt", "model", "foo"}
    assert gateway.upstream_requests("/generations") == []
