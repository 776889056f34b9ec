"""The OpenAPI document: renders, and lists every route of the contract that is built."""

from __future__ import annotations

from tests.support import Gateway

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
}


async def test_the_openapi_document_lists_the_contracts_routes(gateway: Gateway) -> None:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    routes = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert routes >= CONTRACT_ROUTES
    create = document["paths"]["/v1/images"]["post"]
    assert (
        "aspect_ratio"
        in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert "bearer" in str(document["components"]["securitySchemes"]).lower()
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
