"""A typed client generated from the gateway's own ``/openapi.json`` (openapi-python-client, as a
team would make one) drives every operation of the document, and each answer parses into the
model the document names for it: the OpenAPI document is a client's contract (issue 24.12).

The client is generated afresh from this build's document for each run, so a route whose answer
drifts from its declaration, a name that reads like a URL, or a CSV answer sharing a JSON route
fails here. Every test that moves credits ends with the books."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from app.clock import FakeClock
from app.factory import create_app
from tests.support import (
    ADMIN_TOKEN,
    Gateway,
    assert_books_close,
    gateway_settings,
    settle_all,
)

PACKAGE = "rivya_gateway_client"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from this build's document, importable for the module's tests."""
    where = tmp_path_factory.mktemp("generated")
    app = create_app(gateway_settings("redis://127.0.0.1:1/0"), configure_logs=False)
    document = where / "openapi.json"
    document.write_text(json.dumps(app.openapi()))
    tools = Path(sys.executable).parent  # the generator formats its output with ruff
    generated = subprocess.run(
        [tools / "openapi-python-client", "generate", "--path", document, "--meta", "none"],
        cwd=where,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout  # nothing of the document skipped
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


class Sdk:
    """The generated package, used as a team would: ``sdk.call("team_api", "create_image",
    token, body=...)`` runs that operation's ``asyncio_detailed`` through the gateway app."""

    def __init__(self, package: ModuleType, app: FastAPI) -> None:
        self.package, self.app = package, app
        self.called: set[str] = set()

    def model(self, name: str) -> Any:
        return getattr(importlib.import_module(f"{PACKAGE}.models"), name)

    def operations(self) -> set[str]:
        api = package_dir(self.package) / "api"
        return {f"{tag.name}.{m.stem}" for tag in api.iterdir() for m in tag.glob("[!_]*.py")}

    async def call(self, tag: str, name: str, token: str | None, **arguments: Any) -> Any:
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")
        client_module = importlib.import_module(f"{PACKAGE}.client")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://gateway", headers=headers
        )
        client = (
            client_module.AuthenticatedClient(base_url="http://gateway", token=token)
            if token
            else client_module.Client(base_url="http://gateway")
        )
        client.set_async_httpx_client(http)
        async with http:
            answer = await module.asyncio_detailed(client=client, **arguments)
        self.called.add(f"{tag}.{name}")
        return answer

    async def parsed(
        self, want: str, tag: str, name: str, token: str | None, **arguments: Any
    ) -> Any:
        """The operation's answer, which must have parsed into the model ``want`` names."""
        answer = await self.call(tag, name, token, **arguments)
        assert type(answer.parsed).__name__ == want, (name, answer.status_code, answer.content)
        return answer.parsed


def package_dir(package: ModuleType) -> Path:
    assert package.__file__ is not None
    return Path(package.__file__).parent


def picture() -> Any:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_a_generated_client_covers_every_operation_with_readable_names(
    client_package: ModuleType, token_gateway: Gateway, clock: FakeClock
) -> None:
    gateway = token_gateway  # browser tokens on: every operation can be called
    sdk = Sdk(client_package, gateway.app)
    types = importlib.import_module(f"{PACKAGE}.types")
    admin = ADMIN_TOKEN

    # Ops.
    assert (await sdk.parsed("Liveness", "ops", "check_liveness", None)).status == "ok"
    ready = await sdk.parsed("Readiness", "ops", "check_readiness", None)
    assert ready.status.value == "ready"
    metrics = await sdk.call("ops", "get_metrics", None)
    assert metrics.status_code == 200
    assert "gateway_" in metrics.content.decode()

    # Admin: a team and its key, through the client.
    team = await sdk.parsed(
        "Team", "admin", "create_team", admin, body=sdk.model("TeamCreate")(id="design")
    )
    assert team.id == "design"
    patched = await sdk.parsed(
        "Team",
        "admin",
        "update_team",
        admin,
        team_id="design",
        body=sdk.model("TeamPatch")(budget_credits=800),
    )
    assert patched.budget_credits == 800
    assert (await sdk.parsed("Team", "admin", "get_team", admin, team_id="design")).id == "design"
    assert [t.id for t in (await sdk.parsed("TeamList", "admin", "list_teams", admin)).data] == [
        "design"
    ]
    issued = await sdk.parsed(
        "KeyCreated",
        "admin",
        "create_key",
        admin,
        team_id="design",
        body=sdk.model("KeyCreate")(name="sdk"),
    )
    key = issued.key
    listed = await sdk.parsed("KeyList", "admin", "list_keys", admin, team_id="design")
    assert [k.key_id for k in listed.data] == [issued.key_id]

    # The team API.
    image_create = sdk.model("ImageCreate")
    created = await sdk.parsed(
        "TaskOut", "team_api", "create_image", key, body=image_create(prompt="a lighthouse")
    )
    assert created.created_at.year >= 2026  # date-time: parsed into a datetime
    read = await sdk.parsed("TaskOut", "team_api", "get_image", key, task_id=created.id)
    assert read.id == created.id
    tasks = await sdk.parsed("TaskList", "team_api", "list_images", key)
    assert [t.id for t in tasks.data] == [created.id]
    assert (await sdk.parsed("Usage", "team_api", "get_usage", key)).reserved_credits == 8
    models = await sdk.parsed("ModelList", "team_api", "list_models", key)
    assert "flux-kontext-max" in {m.id for m in models.data}
    png = types.File(payload=io.BytesIO(picture()), file_name="ref.png", mime_type="image/png")
    uploaded = await sdk.parsed(
        "FileOut", "team_api", "upload_file", key, body=sdk.model("UploadFileBody")(file=png)
    )
    assert (await sdk.parsed("FileOut", "team_api", "get_file", key, file_id=uploaded.id)).id
    edit = sdk.model("EditImageBody")(
        image=types.File(payload=io.BytesIO(picture()), file_name="e.png", mime_type="image/png"),
        prompt="make it blue",
    )
    assert (await sdk.parsed("TaskOut", "team_api", "edit_image", key, body=edit)).id
    minted = await sdk.parsed(
        "TokenOut", "team_api", "mint_token", key, body=sdk.model("TokenCreate")(subject="u-1")
    )
    as_user = await sdk.parsed("TokenUsage", "team_api", "get_usage", minted.token)
    assert as_user.subject == "u-1"
    revoked = await sdk.parsed(
        "TokensRevoked",
        "team_api",
        "revoke_tokens",
        key,
        body=sdk.model("TokenRevoke")(subject="u-1"),
    )
    assert revoked.subject == "u-1"

    # The drop-in surface, keyed by Idempotency-Key as a Rivya script keys its retries.
    rivya_create = sdk.model("RivyaCreate")(model="flux-kontext-max", prompt="a red bicycle")
    first = await sdk.parsed(
        "RivyaTask",
        "rivya_compatible",
        "rivya_create_generation",
        key,
        body=rivya_create,
        idempotency_key="retry-1",
    )
    again = await sdk.parsed(
        "RivyaTask",
        "rivya_compatible",
        "rivya_create_generation",
        key,
        body=rivya_create,
        idempotency_key="retry-1",
    )
    assert again.id == first.id
    assert (
        await sdk.parsed(
            "RivyaTask", "rivya_compatible", "rivya_get_generation", key, task_id=first.id
        )
    ).id == first.id
    await sdk.parsed("RivyaCredits", "rivya_compatible", "rivya_get_credits", key)
    await sdk.parsed("RivyaModelList", "rivya_compatible", "rivya_list_models", None)
    rivya_file = await sdk.parsed(
        "RivyaFile",
        "rivya_compatible",
        "rivya_upload_file",
        key,
        body=sdk.model("RivyaUploadFileBody")(
            file=types.File(
                payload=io.BytesIO(picture()), file_name="r.png", mime_type="image/png"
            ),
            kind=sdk.model("RivyaUploadFileBodyKind")("image"),
        ),
    )
    await sdk.parsed("RivyaFile", "rivya_compatible", "rivya_get_file", key, file_id=rivya_file.id)

    # Errors parse into the envelope, with their code, wherever the document says they come.
    refused = await sdk.parsed(
        "ErrorOut", "team_api", "create_image", key, body=image_create(prompt="x", model="nope")
    )
    assert refused.error.code == "validation_failed"
    missing = await sdk.parsed("ErrorOut", "team_api", "get_image", key, task_id="task_nope")
    assert missing.error.code == "not_found"
    denied = await sdk.parsed("ErrorOut", "admin", "list_teams", key)
    assert denied.error.code == "api_key_invalid"

    # The books, then the reports about them.
    await settle_all(gateway, clock)
    # A result, by the link its task's answer gives (no credential: the link is signed).
    done = await sdk.parsed("TaskOut", "team_api", "get_image", key, task_id=created.id)
    link = parse_qs(urlsplit(done.result.primary_url).query)
    image = await sdk.call(
        "team_api",
        "get_result",
        None,
        task_id=created.id,
        index=0,
        team=link["team"][0],
        expires=int(link["expires"][0]),
        sig=link["sig"][0],
    )
    assert image.status_code == 200
    spend = await sdk.parsed("SpendReport", "admin", "get_spend", admin)
    assert spend.totals.reserved_credits == 0
    daily = await sdk.parsed("DailySpend", "admin", "get_daily_spend", admin, days=2)
    assert daily.totals[-1] == spend.totals.spent_credits
    csv = await sdk.call("admin", "get_daily_spend_csv", admin, days=2)
    assert csv.status_code == 200
    assert csv.parsed.startswith("date,")
    ledger = await sdk.parsed("LedgerPage", "admin", "get_ledger", admin, team_id="design")
    assert ledger.data
    await sdk.parsed("TeamTaskList", "admin", "list_tasks", admin)
    found = await sdk.parsed("TeamTask", "admin", "get_task", admin, task_id=created.id)
    assert (found.team, found.id) == ("design", created.id)
    by_key = await sdk.parsed(
        "TeamTaskList",
        "admin",
        "list_tasks",
        admin,
        client_request_id=created.client_request_id,
    )
    assert [t.id for t in by_key.data] == [created.id]
    unknown = await sdk.parsed("ErrorOut", "admin", "get_task", admin, task_id="task_nope")
    assert unknown.error.code == "not_found"
    await sdk.parsed("Reconciliation", "admin", "get_reconciliation", admin)
    await sdk.parsed("Reconciliation", "admin", "reset_baseline", admin)
    await sdk.parsed(
        "TokensRevoked",
        "admin",
        "revoke_team_tokens",
        admin,
        team_id="design",
        body=sdk.model("TokenRevoke")(all_=True),
    )
    await assert_books_close(gateway, "design")
    await gateway.app.state.services.answered.flush()  # what the lifespan writes each second
    request = await sdk.parsed(
        "RequestOut", "admin", "get_request", admin, request_id=missing.error.request_id
    )
    assert request.error_code == "not_found"

    # Webhooks, in Rivya's shape (registered once the books closed: nothing is delivered).
    rivya, hook_url = "rivya_compatible", "https://93.184.216.34/hook"
    hook = await sdk.parsed(
        "WebhookOut",
        rivya,
        "create_webhook",
        key,
        body=sdk.model("WebhookCreate")(
            name="sdk", url=hook_url, event_types=["generation.failed"]
        ),
    )
    assert hook.secret.startswith("whsec_")
    hooks = await sdk.parsed("WebhookList", rivya, "list_webhooks", key)
    assert [h.id for h in hooks.data] == [hook.id]
    assert (await sdk.parsed("WebhookOut", rivya, "get_webhook", key, webhook_id=hook.id)).url
    renamed = await sdk.parsed(
        "WebhookOut",
        rivya,
        "update_webhook",
        key,
        webhook_id=hook.id,
        body=sdk.model("WebhookPatch")(name="renamed"),
    )
    assert renamed.name == "renamed"
    rotated = await sdk.parsed(
        "WebhookOut", rivya, "rotate_webhook_secret", key, webhook_id=hook.id
    )
    assert rotated.secret != hook.secret
    sent = await sdk.parsed("TestSent", rivya, "test_webhook", key, webhook_id=hook.id)
    assert sent.event_id.startswith("evt_")
    log = await sdk.parsed(
        "DeliveryList", rivya, "list_webhook_deliveries", key, webhook_id=hook.id
    )
    assert log.data == []  # the test event is not sent: no settler runs here
    kinds = await sdk.parsed("EventTypeList", rivya, "list_webhook_events", key)
    assert {k.type_ for k in kinds.data} == {"generation.succeeded", "generation.failed"}
    team_hooks = await sdk.parsed(
        "WebhookList", "admin", "admin_list_webhooks", admin, team_id="design"
    )
    assert [h.id for h in team_hooks.data] == [hook.id]
    stopped = await sdk.parsed(
        "WebhookOut",
        "admin",
        "admin_update_webhook",
        admin,
        team_id="design",
        webhook_id=hook.id,
        body=sdk.model("WebhookPatch")(enabled=False),
    )
    assert stopped.enabled is False
    await sdk.parsed(
        "DeliveryList",
        "admin",
        "admin_list_webhook_deliveries",
        admin,
        team_id="design",
        webhook_id=hook.id,
    )
    gone_hook = await sdk.call(
        "admin", "admin_delete_webhook", admin, team_id="design", webhook_id=hook.id
    )
    assert gone_hook.status_code == 204
    again = await sdk.call("rivya_compatible", "delete_webhook", key, webhook_id=hook.id)
    assert again.status_code == 404

    # Rivya's hints: off here (no RIVYA_WEBHOOK_URL), and said so in the envelope.
    hints = await sdk.parsed("ErrorOut", "ops", "rivya_hint", None)
    assert hints.error.code == "not_found"

    # Keys and teams go, last.
    other = await sdk.parsed(
        "KeyCreated", "admin", "create_key", admin, team_id="design", body=sdk.model("KeyCreate")()
    )
    capped = await sdk.parsed(
        "KeyOut",
        "admin",
        "set_key_budget",
        admin,
        key_id=other.key_id,
        body=sdk.model("KeyBudgetFields")(budget_credits=40),
    )
    assert (capped.budget_credits, capped.remaining_credits) == (40, 40)
    gone = await sdk.parsed(
        "KeyOut",
        "admin",
        "revoke_leaked_key",
        admin,
        body=sdk.model("KeyRevoke")(key=other.key),
    )
    assert gone.revoked_at is not None
    assert (
        await sdk.parsed("KeyOut", "admin", "revoke_key", admin, key_id=issued.key_id)
    ).revoked_at
    deleted = await sdk.call("admin", "delete_team", admin, team_id="design")
    assert deleted.status_code == 204

    assert sdk.called == sdk.operations(), sdk.operations() - sdk.called


def test_the_generated_operations_read_like_a_hand_written_sdk(client_package: ModuleType) -> None:
    api = package_dir(client_package) / "api"
    names = {m.stem for m in api.glob("*/[!_]*.py")}
    assert {"create_image", "get_image", "rivya_create_generation", "get_daily_spend_csv"} <= names
    assert not [n for n in names if n.endswith(("_get", "_post", "_patch", "_delete"))]
    assert not [n for n in names if "_v1_" in n or "_admin_" in n]
    models = {m.stem for m in (api.parent / "models").glob("[!_]*.py")}
    assert {"image_create", "rivya_create", "task_out", "error_out"} <= models
