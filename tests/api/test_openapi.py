"""The OpenAPI document: renders, and lists every route of the contract that is built."""

from __future__ import annotations

import json
import re

import pytest

from app.api import compat, images
from app.api.documented_errors import documented_codes
from app.clock import FakeClock
from app.errors import GatewayError
from tests.support import Gateway, admin_headers, assert_books_close, bearer, settle_all

CONTRACT_ROUTES = {
    ("post", "/v1/images"),
    ("get", "/v1/images/{task_id}"),
    ("get", "/v1/images"),
    ("post", "/v1/images/edits"),
    ("post", "/v1/files"),
    ("get", "/v1/models"),
    ("get", "/v1/usage"),
    ("post", "/api/v1/generations"),
    ("get", "/api/v1/generations/{task_id}"),
    ("post", "/api/v1/files"),
    ("get", "/api/v1/files/{file_id}"),
    ("get", "/api/v1/models"),
    ("get", "/api/v1/credits"),
    ("post", "/admin/teams"),
    ("get", "/admin/teams"),
    ("get", "/admin/teams/{team_id}"),
    ("patch", "/admin/teams/{team_id}"),
    ("delete", "/admin/teams/{team_id}"),
    ("post", "/admin/teams/{team_id}/keys"),
    ("get", "/admin/teams/{team_id}/keys"),
    ("delete", "/admin/keys/{key_id}"),
    ("get", "/admin/spend"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}

RESULT_PATH = "/v1/results/{task_id}/{index}"


async def test_the_openapi_document_lists_the_contracts_routes(gateway: Gateway) -> None:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    routes = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routes >= CONTRACT_ROUTES
    create = document["paths"]["/v1/images"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ImageCreate"}  # named for a generated client
    assert "aspect_ratio" in document["components"]["schemas"]["ImageCreate"]["properties"]
    schemes = document["components"]["securitySchemes"]
    assert {name: scheme["scheme"] for name, scheme in schemes.items()} == {
        "TeamKey": "bearer",
        "AdminToken": "bearer",
    }
    docs = await gateway.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_creates_document_the_handle_an_unknown_outcome_names(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    body = document["components"]["schemas"]["ErrorBody"]["properties"]
    assert "client_request_id" in body
    for path in ("/v1/images", "/v1/images/edits", "/api/v1/generations"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"502", "503", "504"} <= set(responses), path
        schema = responses["504"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorOut")


async def test_no_route_documents_a_422_and_every_error_is_the_envelope(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    text = json.dumps(document)
    assert '"422"' not in text
    assert "HTTPValidationError" not in text
    registry = {cls.code: cls.status for cls in _error_classes()}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, codes in documented_codes(operation["responses"]).items():
                response = operation["responses"][str(status)]
                schema = response["content"]["application/json"]["schema"]
                assert schema["$ref"].endswith("/ErrorOut"), (method, path, status)
                assert all(registry[code] == status for code in codes), (method, path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in operation["responses"], (method, path)


async def test_every_operation_answers_only_what_it_documents(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    key = await gateway.team_with_key("web")
    probes = 0
    for path, operations in document["paths"].items():
        if path in ("/healthz", "/readyz"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x-missing", path)
        for method, operation in operations.items():
            documented = documented_codes(operation["responses"])
            admin = path.startswith("/admin")
            credentials = [{}, bearer("rgw_0123456789abcdef_not-a-key")]
            credentials.append(admin_headers() if admin else bearer(key))
            for headers in credentials:
                body = {"unexpected": True} if method in ("post", "patch") else None
                answer = await gateway.http.request(method, concrete, json=body, headers=headers)
                probes += 1
                if answer.status_code < 400:
                    continue
                code = answer.json()["error"]["code"]
                where = (method, path, answer.status_code, code)
                assert code in documented.get(answer.status_code, set()), where
    assert probes > 90
    # No probe made anything at Rivya (balance reads, for /admin/upstream and credits, may).
    assert [r for r in gateway.upstream_requests() if r.method != "GET"] == []


async def test_the_docs_load_nothing_from_another_origin(gateway: Gateway) -> None:
    for page in ("/docs", "/redoc"):
        html = (await gateway.http.get(page)).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert urls, page
        for url in urls:
            assert url.startswith("/"), (page, url)  # served by the gateway itself
            assert not url.startswith("//"), (page, url)
            assert (await gateway.http.get(url)).status_code == 200, url
        assert "cdn" not in html.lower()


def _error_classes() -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


async def test_the_schema_states_the_checks_the_gateway_makes(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    key = await gateway.team_with_key("web")

    create = paths["/v1/images"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    create = schemas[create["$ref"].rsplit("/", 1)[1]]
    assert create["properties"]["prompt"]["minLength"] == 1
    empty = await gateway.http.post("/v1/images", json={"prompt": ""}, headers=bearer(key))
    assert empty.status_code == 400

    edit = paths["/v1/images/edits"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert edit["schema"]["properties"]["safety_tolerance"]["type"] == "integer"
    assert edit["schema"]["properties"]["aspect_ratio"]["enum"][0] == "21:9"

    rivya_upload = paths["/api/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "kind" in rivya_upload["schema"]["required"]
    no_kind = await gateway.http.post(
        "/api/v1/files", files={"file": ("a.png", b"\x89PNG", "image/png")}, headers=bearer(key)
    )
    assert no_kind.status_code == 400
    ours = paths["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(ours["properties"]) == {"file"}  # it takes a file, nothing else

    origins = schemas["TeamCreate"]["properties"]["cors_origins"]["items"]["pattern"]
    assert re.fullmatch(origins, "https://app.example.com")
    assert not re.fullmatch(origins, "ftp://app.example.com")
    refused = await gateway.http.post(
        "/admin/teams",
        json={"id": "x", "cors_origins": ["ftp://app.example.com"]},
        headers=admin_headers(),
    )
    assert refused.status_code == 400
    period = next(p for p in paths["/admin/spend"]["get"]["parameters"] if p["name"] == "period")
    assert not re.fullmatch(period["schema"]["pattern"], "last-week")
    bad = await gateway.http.get("/admin/spend?period=last-week", headers=admin_headers())
    assert bad.status_code == 400


async def test_a_patch_offers_null_only_where_a_team_may_hold_it(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    patch = document["components"]["schemas"]["TeamPatch"]["properties"]
    assert "null" not in json.dumps(patch["budget_period"])
    assert "null" in json.dumps(patch["budget_credits"])  # null: no budget
    assert patch["rate_limit_per_minute"]["maximum"] == 100_000  # the team's own bound
    await gateway.team_with_key("web")
    for field in ("budget_period", "rate_limit_per_minute", "max_in_flight", "cors_origins"):
        refused = await gateway.http.patch(
            "/admin/teams/web", json={field: None}, headers=admin_headers()
        )
        assert refused.status_code == 400, field
    cleared = await gateway.http.patch(
        "/admin/teams/web", json={"budget_credits": None}, headers=admin_headers()
    )
    assert cleared.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "declared"),
    [
        ("/v1/images", {"prompt": "p"}, 202, images.create_image),
        (
            "/api/v1/generations",
            {"model": "flux-kontext-max", "prompt": "p"},
            201,
            compat.rivya_create_generation,
        ),
    ],
)
async def test_the_create_routes_are_served_by_one_path_and_their_declarations_never_run(
    gateway: Gateway,
    clock: FakeClock,
    path: str,
    body: dict[str, str],
    status: int,
    declared: object,
) -> None:
    # The declaration documents the route; were it ever routed to, the create would fail.
    with pytest.raises(RuntimeError, match=r"served by api/create_routes\.py"):
        await declared(None, None)  # type: ignore[operator]
    key = await gateway.team_with_key("alpha")
    headers = {**bearer(key), "Idempotency-Key": "one-path"}
    created = await gateway.http.post(path, json=body, headers=headers)
    assert created.status_code == status, created.text
    repeated = await gateway.http.post(path, json=body, headers=headers)
    assert repeated.status_code in (200, 202)
    assert repeated.json()["id"] == created.json()["id"]
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_operations_are_named_and_secured_as_a_hand_written_sdk_would_be(
    gateway: Gateway,
) -> None:
    # A generated client names its functions after operationIds (create_image, not FastAPI's
    # create_image_v1_images_post), files each under its one tag, and asks for the credential
    # the operation takes: a team key, or the admin token.
    document = (await gateway.http.get("/openapi.json")).json()
    seen: set[str] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            name = operation["operationId"]
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", name), name
            assert not name.endswith(("_get", "_post", "_patch", "_delete")), name
            assert name not in seen, name
            seen.add(name)
            [tag] = operation["tags"]
            security = {scheme for entry in operation.get("security", []) for scheme in entry}
            expected = {"admin": {"AdminToken"}, "ops": set()}.get(tag, {"TeamKey"})
            # Public: Rivya's models, as at Rivya; a result file, whose signed link is its
            # credential (a browser's <img> sends no header).
            if (method, path) not in (("get", "/api/v1/models"), ("get", RESULT_PATH)):
                assert security == expected, (method, path, security)
    assert {"create_image", "rivya_create_generation", "get_daily_spend_csv"} <= seen
    for name in ("TaskOut", "RivyaTask", "KeyOut", "Team"):
        created = document["components"]["schemas"][name]["properties"]["created_at"]
        assert created["format"] == "date-time", name
