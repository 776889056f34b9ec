"""POST/GET /v1/images and GET /v1/models: the team API end to end over the simulator."""

from __future__ import annotations

from app.clock import FakeClock
from tests.support import ORG_KEY, Gateway, bearer


async def test_create_returns_a_queued_task_and_sends_rivya_its_own_shape(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images",
        json={
            "prompt": "a lighthouse at dusk",
            "aspect_ratio": "1:1",
            "translate_prompt": False,
            "safety_tolerance": 4,
            "client_request_id": "order-17",
        },
        headers=bearer(key),
    )
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["status"] == "queued"
    assert task["model"] == "flux-kontext-max"
    assert task["reserved_credits"] == 8
    assert task["final_credits"] == 0
    assert task["client_request_id"] == "order-17"
    assert task["result"] is None
    assert task["error"] is None
    assert set(task) == {
        "id",
        "status",
        "model",
        "client_request_id",
        "reserved_credits",
        "final_credits",
        "created_at",
        "updated_at",
        "result",
        "error",
    }

    [sent] = gateway.upstream_requests("/api/v1/generations")
    assert sent.body["model"] == "flux-kontext-max"
    assert sent.body["prompt"] == "a lighthouse at dusk"
    # Gateway names become Rivya's camelCase params, booleans become "true"/"false" strings,
    # and the catalogue's defaults fill in what the caller left out.
    assert sent.body["params"] == {
        "aspectRatio": "1:1",
        "outputFormat": "jpeg",
        "enableTranslation": "false",
        "promptUpsampling": "false",
        "safetyTolerance": 4,
    }
    assert sent.header("idempotency-key")


async def test_upstream_sees_the_org_key_and_never_the_callers(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    created = await gateway.http.post(
        "/v1/images", json={"prompt": "a fox"}, headers={**bearer(key), "Cookie": "s=1"}
    )
    clock.advance(3)  # the task's first poll is due (2-3 s after creation)
    await gateway.http.get(f"/v1/images/{created.json()['id']}", headers=bearer(key))
    requests = gateway.upstream_requests()
    assert len(requests) == 2
    for request in requests:
        assert request.header("authorization") == f"Bearer {ORG_KEY}"
        assert key not in str(request.headers)
        assert request.header("cookie") is None


async def test_task_runs_to_success_and_a_terminal_read_is_served_from_redis(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task_id = (
        await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    ).json()["id"]

    clock.advance(3)
    processing = await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key))
    assert processing.status_code == 202
    assert processing.json()["status"] == "processing"

    clock.advance(10)  # its next poll is due (5-10 s later)
    done = await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key))
    assert done.status_code == 200
    body = done.json()
    assert body["status"] == "succeeded"
    assert body["final_credits"] == 8
    assert body["result"]["primary_url"] in body["result"]["urls"]

    reads_before = len(gateway.upstream_requests(f"/generations/{task_id}"))
    again = await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(key))
    assert again.json() == body
    assert len(gateway.upstream_requests(f"/generations/{task_id}")) == reads_before


async def test_wait_holds_the_answer_until_the_task_ends(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images", params={"wait": 30}, json={"prompt": "p"}, headers=bearer(key)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"


async def test_wait_gives_up_after_n_seconds_with_the_current_state(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task_id = (
        await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
    ).json()["id"]
    started = clock.now()
    response = await gateway.http.get(
        f"/v1/images/{task_id}", params={"wait": 3}, headers=bearer(key)
    )
    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    assert 3 <= clock.now() - started < 4


async def test_a_failed_task_reports_rivyas_error(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    gateway.sim.set_faults(force_fail_next=1)
    response = await gateway.http.post(
        "/v1/images", params={"wait": 30}, json={"prompt": "p"}, headers=bearer(key)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["final_credits"] == 0
    assert body["error"]["code"] == "generation_failed"
    assert body["result"] is None


async def test_bad_input_names_every_bad_field_and_costs_nothing(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images",
        json={
            "prompt": "  ",
            "aspect_ratio": "2:1",
            "safety_tolerance": 7,
            "translate_prompt": "yes",
            "colour": "red",
            "client_request_id": "has spaces",
        },
        headers=bearer(key),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    fields = {d["field"] for d in error["details"]}
    assert fields == {
        "prompt",
        "aspect_ratio",
        "safety_tolerance",
        "translate_prompt",
        "colour",
        "client_request_id",
    }
    assert gateway.upstream_requests() == []


async def test_unknown_model_and_malformed_bodies_are_validation_failures(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    json_type = {"content-type": "application/json"}
    cases: list[tuple[bytes, str]] = [
        (b'{"prompt": "p", "model": "dall-e"}', "model"),
        (b'{"model": "flux-kontext-pro"}', "prompt"),
        (b"{not json", "body"),
        (b'["a", "list"]', "body"),
        (b"", "body"),
    ]
    for content, field in cases:
        response = await gateway.http.post(
            "/v1/images", content=content, headers={**bearer(key), **json_type}
        )
        assert response.status_code == 400, (content, response.text)
        assert field in {d["field"] for d in response.json()["error"]["details"]}
    assert gateway.upstream_requests() == []


async def test_wait_out_of_range_is_a_validation_failure(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images", params={"wait": 61}, json={"prompt": "p"}, headers=bearer(key)
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "wait"
    assert gateway.upstream_requests() == []


async def test_idempotency_key_header_must_agree_with_client_request_id(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    response = await gateway.http.post(
        "/v1/images",
        json={"prompt": "p", "client_request_id": "a-1"},
        headers={**bearer(key), "Idempotency-Key": "b-2"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_failed"
    same = await gateway.http.post(
        "/v1/images",
        json={"prompt": "p"},
        headers={**bearer(key), "Idempotency-Key": '"a-1"'},
    )
    assert same.status_code == 202
    assert same.json()["client_request_id"] == "a-1"


async def test_a_model_the_team_may_not_use_is_forbidden(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", allowed_models=["flux-kontext-pro"])
    response = await gateway.http.post(
        "/v1/images", json={"prompt": "p", "model": "flux-kontext-max"}, headers=bearer(key)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    assert gateway.upstream_requests() == []
    allowed = await gateway.http.post(
        "/v1/images", json={"prompt": "p", "model": "flux-kontext-pro"}, headers=bearer(key)
    )
    assert allowed.status_code == 202
    assert allowed.json()["reserved_credits"] == 4


async def test_another_teams_task_is_not_found_exactly_like_a_missing_one(gateway: Gateway) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    task_id = (
        await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(alpha))
    ).json()["id"]

    theirs = await gateway.http.get(f"/v1/images/{task_id}", headers=bearer(beta))
    missing = await gateway.http.get("/v1/images/task_doesnotexist", headers=bearer(beta))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert theirs.json()["error"]["message"].replace(task_id, "X") == missing.json()["error"][
        "message"
    ].replace("task_doesnotexist", "X")
    # Beta's probe never reached Rivya, so it learned nothing from upstream either.
    assert gateway.upstream_requests(f"/generations/{task_id}") == []


async def test_models_lists_what_the_team_may_use_with_credits_and_params(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha", allowed_models=["flux-kontext-max"])
    response = await gateway.http.get("/v1/models", headers=bearer(key))
    assert response.status_code == 200
    [model] = response.json()["data"]
    assert model["id"] == "flux-kontext-max"
    assert model["credits_per_task"] == 8
    params = {p["name"]: p for p in model["params"]}
    assert params["aspect_ratio"]["default"] == "16:9"
    assert params["aspect_ratio"]["options"] == ["21:9", "16:9", "4:3", "1:1", "3:4", "9:16"]
    assert params["translate_prompt"] == {
        "name": "translate_prompt",
        "type": "boolean",
        "default": True,
        "options": None,
        "minimum": None,
        "maximum": None,
        "description": params["translate_prompt"]["description"],
    }
    assert params["safety_tolerance"]["minimum"] == 0
    assert params["safety_tolerance"]["maximum"] == 6
    assert model["files"]["image"]["max_files"] == 1
