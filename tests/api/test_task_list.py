"""GET /v1/images: the team's tasks, newest first, filtered and paged, from Redis alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from app.clock import FakeClock, iso_timestamp
from app.store.keyspace import KeySpace
from app.store.redis import create_redis
from tests.support import Gateway, bearer, settle_all, tenant_of

CREDITS_PER_TASK = 8  # flux-kontext-max, the default model


async def create(gateway: Gateway, key: str, **body: Any) -> dict[str, Any]:
    response = await gateway.http.post(
        "/v1/images", json={"prompt": "a lighthouse", **body}, headers=bearer(key)
    )
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    return task


async def listed(gateway: Gateway, key: str, **params: Any) -> dict[str, Any]:
    response = await gateway.http.get("/v1/images", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def listed_ids(gateway: Gateway, key: str, **params: Any) -> list[str]:
    return [task["id"] for task in (await listed(gateway, key, **params))["data"]]


async def every_page(gateway: Gateway, key: str, **params: Any) -> list[list[str]]:
    """The ids of each page, following next_cursor until it is null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await listed(gateway, key, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([task["id"] for task in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ran out"


async def run_to_the_end(gateway: Gateway, clock: FakeClock) -> None:
    """Long enough for the simulator to end every task (2 s queued, 4 s processing), then one
    settler pass records their ends."""
    clock.advance(10)
    await gateway.app.state.services.settler.run_once()


async def assert_books_close(gateway: Gateway, key: str, *, succeeded: int) -> None:
    response = await gateway.http.get("/v1/usage", headers=bearer(key))
    usage = response.json()
    assert (usage["reserved_credits"], usage["in_flight"]) == (0, 0)
    assert usage["spent_credits"] == CREDITS_PER_TASK * succeeded


def generation_reads(gateway: Gateway) -> int:
    return sum(r.method == "GET" for r in gateway.upstream_requests("/api/v1/generations"))


async def test_lists_the_teams_tasks_newest_first_in_the_task_shape(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    created = []
    for n in range(3):
        created.append(await create(gateway, key, client_request_id=f"order-{n}"))
        clock.advance(1)

    page = await listed(gateway, key)
    assert page["object"] == "list"
    assert page["next_cursor"] is None
    # Each item is the task exactly as its create answered it (nothing has moved on yet).
    assert page["data"] == created[::-1]

    await run_to_the_end(gateway, clock)
    assert [t["status"] for t in (await listed(gateway, key))["data"]] == ["succeeded"] * 3
    await assert_books_close(gateway, key, succeeded=3)


async def test_pages_cover_every_task_once_even_tasks_made_in_the_same_millisecond(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    # Three moments, several tasks each: the fake clock stands still between the creates of
    # one moment, so those tasks share their creation millisecond.
    moments: list[list[str]] = []
    for size in (3, 2, 2):
        moments.append([(await create(gateway, key))["id"] for _ in range(size)])
        clock.advance(1)
    # Newest moment first; within a moment, a fixed order (by id, descending).
    expected = [task_id for ids in reversed(moments) for task_id in sorted(ids, reverse=True)]

    first = await listed(gateway, key, limit=3)
    assert [t["id"] for t in first["data"]] == expected[:3]
    # A task made while a client pages does not shift what the remaining pages hold.
    newer = (await create(gateway, key))["id"]
    rest: list[str] = []
    cursor = first["next_cursor"]
    sizes = []
    while cursor is not None:
        page = await listed(gateway, key, limit=3, cursor=cursor)
        sizes.append(len(page["data"]))
        rest += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
    assert rest == expected[3:]
    assert sizes == [3, 1]
    assert (await listed_ids(gateway, key, limit=1))[0] == newer

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=8)


async def test_status_filter_follows_what_the_settler_recorded(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    done = [(await create(gateway, key))["id"] for _ in range(2)]
    gateway.sim.set_faults(force_fail_next=1)
    failed = (await create(gateway, key))["id"]
    await run_to_the_end(gateway, clock)
    running = [(await create(gateway, key))["id"] for _ in range(2)]

    assert set(await listed_ids(gateway, key, status="succeeded")) == set(done)
    assert await listed_ids(gateway, key, status="failed") == [failed]
    assert set(await listed_ids(gateway, key, status="queued")) == set(running)
    assert await listed_ids(gateway, key, status="processing") == []

    await run_to_the_end(gateway, clock)
    assert set(await listed_ids(gateway, key, status="succeeded")) == {*done, *running}
    assert await listed_ids(gateway, key, status="queued") == []
    await assert_books_close(gateway, key, succeeded=4)


async def test_a_sparse_filter_is_found_by_following_next_cursor(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    oldest = (await create(gateway, key))["id"]
    await run_to_the_end(gateway, clock)
    for _ in range(12):
        await create(gateway, key)

    # One call reads a bounded stretch of the team's tasks (10 per task asked for): the 12
    # newer, unfinished tasks fill it, so the first page is empty but says where to go on.
    first = await listed(gateway, key, status="succeeded", limit=1)
    assert first["data"] == []
    assert first["next_cursor"] is not None
    pages = await every_page(gateway, key, status="succeeded", limit=1)
    assert [task_id for page in pages for task_id in page] == [oldest]

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=13)


async def test_client_request_id_filter_finds_the_one_task(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    wanted = await create(gateway, key, client_request_id="order-1")
    await create(gateway, key, client_request_id="order-2")
    await create(gateway, key)

    page = await listed(gateway, key, client_request_id="order-1")
    assert page == {"object": "list", "data": [wanted], "next_cursor": None}
    assert await listed_ids(gateway, key, client_request_id="order-404") == []
    # Combined with other filters, the task must pass them too.
    assert await listed_ids(gateway, key, client_request_id="order-1", status="succeeded") == []

    await run_to_the_end(gateway, clock)
    assert await listed_ids(gateway, key, client_request_id="order-1", status="succeeded") == [
        wanted["id"]
    ]
    await assert_books_close(gateway, key, succeeded=3)


async def test_a_task_is_found_by_client_request_id_after_its_claim_expired(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task_id = (await create(gateway, key, client_request_id="order-1"))["id"]
    await create(gateway, key)
    await run_to_the_end(gateway, clock)
    # Idempotency claims live a day, tasks a month: drop the claim as its expiry would.
    settings = gateway.app.state.services.settings
    redis = create_redis(settings.redis_url)
    try:
        await redis.delete(
            KeySpace(settings.redis_key_prefix).idempotency(
                await tenant_of(gateway, "alpha"), "order-1"
            )
        )
    finally:
        await redis.aclose()

    assert await listed_ids(gateway, key, client_request_id="order-1") == [task_id]
    await assert_books_close(gateway, key, succeeded=2)


async def test_a_task_made_without_client_request_id_is_listed_with_the_assigned_one(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    created = await create(gateway, key)
    assigned = created["client_request_id"]
    assert assigned.startswith("gw-")

    [task] = (await listed(gateway, key))["data"]
    assert (task["id"], task["client_request_id"]) == (created["id"], assigned)
    assert await listed_ids(gateway, key, client_request_id=assigned) == [created["id"]]

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=1)


async def test_a_task_made_through_the_rivya_compatible_surface_is_listed_too(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    body = {"model": "flux-kontext-max", "prompt": "a red bicycle", "params": {}}
    response = await gateway.http.post(
        "/api/v1/generations",
        json={**body, "client_request_id": "trace/1 éà"},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]
    clock.advance(1)
    ours = (await create(gateway, key))["id"]

    assert await listed_ids(gateway, key) == [ours, task_id]
    assert await listed_ids(gateway, key, client_request_id="trace/1 éà") == [task_id]

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=2)


async def test_since_keeps_tasks_created_at_or_after_it(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    for _ in range(2):
        await create(gateway, key)
    clock.advance(60)
    cut = clock.now()
    later = {(await create(gateway, key))["id"] for _ in range(2)}

    # Rivya's own form (milliseconds, Z), as a task's created_at reads.
    assert set(await listed_ids(gateway, key, since=iso_timestamp(cut))) == later
    assert await listed_ids(gateway, key, since=iso_timestamp(cut + 0.001)) == []
    # Any ISO-8601 form: whole seconds, an offset, a bare date (midnight UTC).
    moment = datetime.fromtimestamp(cut, tz=UTC)
    assert set(await listed_ids(gateway, key, since=f"{moment:%Y-%m-%dT%H:%M:%S}Z")) == later
    west = moment.astimezone(timezone(timedelta(hours=-1))).isoformat()
    assert set(await listed_ids(gateway, key, since=west)) == later
    day = datetime.fromtimestamp(cut - 60, tz=UTC).date().isoformat()
    assert len(await listed_ids(gateway, key, since=day)) == 4

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=4)


async def test_a_team_sees_only_its_own_tasks(gateway: Gateway, clock: FakeClock) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    theirs = [(await create(gateway, alpha, client_request_id=f"a-{n}"))["id"] for n in range(3)]
    ours = (await create(gateway, beta))["id"]

    assert await listed_ids(gateway, beta) == [ours]
    assert set(await listed_ids(gateway, alpha)) == set(theirs)
    # Neither alpha's client_request_id nor a cursor from alpha's listing reaches alpha's tasks.
    assert await listed_ids(gateway, beta, client_request_id="a-0") == []
    cursor = (await listed(gateway, alpha, limit=1))["next_cursor"]
    assert cursor is not None
    # (A foreign cursor is only a place in time: beta's own older tasks may follow it.)
    assert set(await listed_ids(gateway, beta, cursor=cursor)) <= {ours}

    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, alpha, succeeded=3)
    await assert_books_close(gateway, beta, succeeded=1)


async def test_listing_never_asks_rivya(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    for n in range(3):
        await create(gateway, key, client_request_id=f"order-{n}")
    clock.advance(10)  # Rivya has ended them; only the settler will tell the gateway
    reads = generation_reads(gateway)

    assert [t["status"] for t in (await listed(gateway, key))["data"]] == ["queued"] * 3
    await listed(gateway, key, status="queued", limit=1)
    await listed(gateway, key, client_request_id="order-1")
    assert generation_reads(gateway) == reads

    await run_to_the_end(gateway, clock)
    assert [t["status"] for t in (await listed(gateway, key))["data"]] == ["succeeded"] * 3
    await assert_books_close(gateway, key, succeeded=3)


async def test_an_expired_task_is_skipped(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    ids = []
    for _ in range(3):
        ids.append((await create(gateway, key))["id"])
        clock.advance(1)
    await run_to_the_end(gateway, clock)
    await assert_books_close(gateway, key, succeeded=3)
    # The record's retention ran out while the team's index still names it.
    settings = gateway.app.state.services.settings
    redis = create_redis(settings.redis_url)
    try:
        await redis.delete(
            KeySpace(settings.redis_key_prefix).task(await tenant_of(gateway, "alpha"), ids[1])
        )
    finally:
        await redis.aclose()

    assert set(await listed_ids(gateway, key)) == {ids[0], ids[2]}
    paged = [task_id for page in await every_page(gateway, key, limit=1) for task_id in page]
    assert paged == [ids[2], ids[0]]


async def test_bad_query_params_are_validation_failures_naming_the_field(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha")
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"limit": 0}, {"limit"}),
        ({"limit": 101}, {"limit"}),
        ({"limit": "ten"}, {"limit"}),
        ({"status": "done"}, {"status"}),
        ({"cursor": "not-a-cursor"}, {"cursor"}),
        ({"cursor": ""}, {"cursor"}),
        ({"since": "yesterday"}, {"since"}),
        ({"since": "2026-13-01T00:00:00Z"}, {"since"}),
        ({"since": "soon", "cursor": "%%%"}, {"since", "cursor"}),
    ]
    for params, fields in cases:
        response = await gateway.http.get("/v1/images", params=params, headers=bearer(key))
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_failed"
        assert {d["field"] for d in error["details"]} == fields, params
    assert gateway.upstream_requests() == []


async def test_listing_needs_a_team_key(gateway: Gateway) -> None:
    response = await gateway.http.get("/v1/images")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"


async def test_the_openapi_document_describes_the_listing(gateway: Gateway) -> None:
    document = (await gateway.http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/images"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "status",
        "client_request_id",
        "since",
        "limit",
        "cursor",
    }
    assert "TaskList" in str(operation["responses"]["200"])
    assert "get" in document["paths"]["/v1/images/{task_id}"]


async def test_a_client_request_id_reused_after_its_claim_expired_lists_both_tasks(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", budget_period="total")
    body = {"prompt": "a shoe", "client_request_id": "order-17"}
    old = (await gateway.http.post("/v1/images", json=body, headers=bearer(key))).json()["id"]
    clock.advance(86_400 + 120)  # the claim expired (IDEMPOTENCY_TTL_SECONDS); tasks live on
    new = (await gateway.http.post("/v1/images", json=body, headers=bearer(key))).json()["id"]
    filtered = await listed(gateway, key, client_request_id="order-17")
    assert [t["id"] for t in filtered["data"]] == [new, old]
    await settle_all(gateway, clock, rounds=3)
    usage = (await gateway.http.get("/v1/usage", headers=bearer(key))).json()
    assert (usage["spent_credits"], usage["reserved_credits"], usage["in_flight"]) == (16, 0, 0)
