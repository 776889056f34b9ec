"""A client generated from /openapi.json handles the real answers: every answer of a run through
the API (successes and errors, both surfaces, admin) has a documented status, and its body
matches the schema documented for it."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.clock import FakeClock
from tests.support import (
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    mint_token,
    settle_all,
)


class Documented:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        root = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:openapi", root)
        self.checked = 0

    def check(self, answer: httpx.Response) -> None:
        method = answer.request.method.lower()
        path = answer.request.url.path
        template, operation = self._operation(method, path)
        responses = operation["responses"]
        status = str(answer.status_code)
        assert status in responses, (method, path, status, answer.text[:200])
        content = responses[status].get("content", {}).get("application/json")
        if content is None or not answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return
        # The schema where it stands in the document, so its own references resolve there.
        where = ("paths", template, method, "responses", status, "content", "application/json")
        schema = {"$ref": "urn:openapi#/" + "/".join(map(_escaped, where)) + "/schema"}
        validator = Draft202012Validator(schema, registry=self.registry)
        errors = [e.message for e in validator.iter_errors(answer.json())]
        assert not errors, (method, path, status, errors)
        self.checked += 1

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template, operations in self.document["paths"].items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path) and method in operations:
                operation: dict[str, Any] = operations[method]
                return template, operation
        raise AssertionError(f"{method} {path} is not documented")


def _escaped(token: str) -> str:
    """A JSON pointer's reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


async def test_every_answer_of_a_run_is_documented_and_matches_its_schema(
    token_gateway: Gateway, clock: FakeClock
) -> None:
    gw = token_gateway
    documented = Documented((await gw.http.get("/openapi.json")).json())
    check = documented.check
    admin = admin_headers()

    check(
        await gw.http.post("/admin/teams", json={"id": "web", "budget_credits": 80}, headers=admin)
    )
    check(await gw.http.post("/admin/teams", json={"id": "web"}, headers=admin))  # 409
    issued = await gw.http.post("/admin/teams/web/keys", json={"name": "ci"}, headers=admin)
    check(issued)
    key = bearer(issued.json()["key"])
    check(await gw.http.get("/admin/teams/web", headers=admin))
    check(await gw.http.get("/admin/teams/nobody", headers=admin))  # 404
    check(await gw.http.get("/admin/teams", headers=key))  # 401

    created = await gw.http.post("/v1/images", json={"prompt": "a kite"}, headers=key)
    check(created)
    task_id = created.json()["id"]
    check(await gw.http.get(f"/v1/images/{task_id}", headers=key))
    check(await gw.http.get("/v1/images", headers=key))
    check(await gw.http.get("/v1/usage", headers=key))
    check(await gw.http.get("/v1/models", headers=key))
    check(await gw.http.post("/v1/images", json={"prompt": ""}, headers=key))  # 400
    check(await gw.http.post("/v1/images", json={"prompt": "p"}))  # 401
    drop_in = {"model": "flux-kontext-max", "prompt": "p", "client_request_id": "drop-in-1"}
    compat = await gw.http.post("/api/v1/generations", json=drop_in, headers=key)
    check(compat)
    repeat = await gw.http.post("/api/v1/generations", json=drop_in, headers=key)
    assert repeat.status_code == 200  # a repeat answers as a read does
    check(repeat)
    check(await gw.http.get(f"/api/v1/generations/{compat.json()['id']}", headers=key))
    check(await gw.http.get("/api/v1/credits", headers=key))
    check(await gw.http.get("/api/v1/models"))
    token = await mint_token(gw, issued.json()["key"], "user-ann", max_credits=8)
    check(await gw.http.get("/v1/usage", headers=bearer(token)))
    check(await gw.http.get("/v1/models", headers=bearer(token)))  # 403
    for _ in range(9):  # 16 held, 8 more fill the budget of 80, the ninth is refused: 402
        answer = await gw.http.post("/v1/images", json={"prompt": "p"}, headers=key)
        check(answer)
    assert answer.status_code == 402

    await settle_all(gw, clock)
    check(await gw.http.get("/admin/spend", headers=admin))
    check(await gw.http.get("/admin/spend/daily", headers=admin))
    check(await gw.http.get("/admin/tasks", headers=admin))
    check(await gw.http.get("/admin/upstream", headers=admin))
    check(await gw.http.get("/admin/teams/web/ledger", headers=admin))
    assert documented.checked > 25
    await assert_books_close(gw, "web")
