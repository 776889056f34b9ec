"""A model of the books (issue 22): Hypothesis drives the gateway through every step a create and
a task can take, with what goes wrong between them, and checks the books after each step.

The gateway is its own code throughout (``world.py``): replicas in-process on a real Redis,
running the real Lua scripts; the simulator is Rivya. The rules are what callers, Rivya, Redis,
processes, clocks and ops do; the invariants are what no interleaving of them may break:

- after every step: spent + reserved never passes a budget it counts against (team, key or
  capped token), beyond what an operator's lowering of the budget put it over; what the books
  (the team's, and each key's) say is reserved is the sum of the open reservations; no task is
  charged more than Rivya charges; no ``client_request_id`` has two tasks at Rivya; a create
  answered "nothing was sent" never reaches Rivya afterwards;
- at quiescence (every hung answer given, every fault healed, the settlers run until nothing
  is in flight): each task is charged to one team exactly what Rivya charged for it, and the
  teams' spend adds up to what Rivya's balance fell by; each team's keys' spend adds up to the
  team's; nothing is reserved or in flight; the ledger adds up to the books; the
  reconciliation's drift is 0.

``make test`` runs a short derandomized profile; ``make model`` explores for as long as asked
(MODEL_SECONDS) and prints a failure as its shrunk steps, which replay as an ordinary test
(``test_found.py`` keeps those found).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from app.clock import FakeClock
from app.domain.teams import tenant_of
from app.errors import StoreUnavailable
from app.periods import stamps_at
from app.simulator.state import SimState
from app.store.keyspace import KeySpace
from tests.model.books import (
    Books,
    read_books,
    read_key,
    read_token,
    rivya_charges,
    tasks_per_request_id,
)
from tests.model.world import ANSWERS, SCRIPT_NAMES, World
from tests.support import ADMIN_TOKEN, forget_apps, simulator_app, token_settings

TEAMS = ("alpha", "beta")
POLICIES: dict[str, dict[str, Any]] = {
    "alpha": {"budget_credits": 80, "budget_period": "day"},
    "beta": {
        "budget_credits": 48,
        "budget_period": "total",
        "rate_limit_per_minute": 6,
        "max_in_flight": 3,
    },
}
REPLICAS = ("r1", "r2")
CALLERS = ("alpha", "beta", "alpha-token")
TOKEN_CAP = 24
# alpha's keys have a budget of their own (its token spends from it too): 40 credits a day.
KEY_BUDGETS: dict[str, tuple[int, str]] = {"alpha": (40, "day")}
PRICE = 8  # flux-kontext-max, the model every create asks for
RIVYA_TIMEOUT = 30

REPLICA = st.sampled_from(REPLICAS)


@dataclass(frozen=True)
class Create:
    """A create a caller sends: to which replica, as whom, with which ``client_request_id``
    (None: none), prompt (two, so that a repeat may differ) and surface."""

    replica: str
    caller: str
    crid: str | None
    prompt: str
    surface: str


CREATE = st.builds(
    Create,
    replica=REPLICA,
    caller=st.sampled_from(CALLERS),
    crid=st.sampled_from([None, "1", "2", "3"]),
    prompt=st.sampled_from(["a shoe", "a boat"]),
    surface=st.sampled_from(["gateway", "rivya"]),
)
# Rivya's answers to the attempts of one call, in turn (a create is tried twice; a settler
# pass may resend several); attempts past them are made.
# Refused at every attempt is drawn apart: as a list it is too rare for the CI profile to
# meet, and it is what releases a hold (release.lua).
ATTEMPTS = st.one_of(
    st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=3), st.just(["refused"] * 3)
)


async def settler_pass(gateway: FastAPI) -> None:
    """One pass of a replica's settler, as its loop runs it: a pass the store fails is over,
    and the next one carries on (app/worker/settler.py)."""
    with contextlib.suppress(StoreUnavailable):
        await gateway.state.services.settler.run_once()


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class BooksModel(RuleBasedStateMachine):
    # What a run explored, over all its examples (make model reports it).
    examples_run = 0
    steps_run = 0

    def __init__(self, redis_url: str, **overrides: Any) -> None:
        super().__init__()
        type(self).examples_run += 1
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.clock = FakeClock()
        self.sim_app = simulator_app(self.clock, queued_seconds=2.0, processing_seconds=4.0)
        self.settings = token_settings(
            redis_url,
            # A create's answer waits at most this long, as the model's time goes (hangs past it
            # are answered as lost, _pass_time); the real time a run takes is far less.
            rivya_timeout_seconds=RIVYA_TIMEOUT,
            # Redis's faults are the model's own (redis_fails_once): a busy machine's stall
            # past a short timeout would make a replay of the same steps diverge.
            redis_timeout_seconds=30,
            rivya_retry_attempts=2,
            rivya_retry_budget_seconds=5,
            rivya_idempotency_window_seconds=300,
            idempotency_wait_seconds=0,
            idempotency_ttl_seconds=30 * 86_400,
            settler_give_up_after_seconds=30 * 86_400,
            task_retention_days=60,
            settler_first_poll_min_seconds=1,
            settler_first_poll_max_seconds=1,
            settler_poll_min_seconds=2,
            settler_poll_max_seconds=2,
            **overrides,
        )
        self.world = World(self.settings, self.sim_app, self.clock)
        self._patch = self.world.patched()
        self._patch.__enter__()
        self.redis = self.reader()  # the books as the master holds them
        self.keys = KeySpace(self.settings.redis_key_prefix)
        self.credentials: dict[str, str] = {}
        self.key_ids: dict[str, str] = {}
        # Every team generation's books, by tenant (a deleted team's settle on in its own):
        # its budget and period, and what an operator's change put a period over.
        self.tenant_now: dict[str, str] = {}  # team -> its tenant now
        self.deletions = dict.fromkeys(TEAMS, 0)
        self.budgets: dict[str, tuple[int, str]] = {}
        self.over: dict[tuple[str, str], int] = {}
        self.tokens: list[tuple[str, str]] = []  # (tenant, token id)
        # Every key issued, by tenant, with its budget (None: none) as last set.
        self.team_keys: dict[str, dict[str, tuple[int, str] | None]] = {}
        # Creates hung at Rivya: the answer the model will give, the request, its crid, and
        # when (world time) it was sent.
        self.hung: list[tuple[asyncio.Future[Any], asyncio.Task[httpx.Response], str, float]] = []
        self.never_sent: dict[str, int] = {}  # crid -> Rivya's tasks for it when so answered
        self.crids_sent: set[str] = set()  # crids a request may have been sent with
        self.ready = False  # set up: the teams, their keys and a token

    # -- the world, set up and driven ----------------------------------------------------

    def run(self, step: Any) -> Any:
        return self.loop.run_until_complete(step)

    def reader(self) -> Redis:
        return Redis.from_url(self.settings.redis_url, decode_responses=True)

    async def fresh_store(self) -> None:
        await self.redis.flushall()

    @property
    def sim(self) -> SimState:
        state: SimState = self.sim_app.state.sim
        return state

    @initialize()
    def set_up(self) -> None:
        self.run(self._set_up())

    async def _set_up(self) -> None:
        await self.fresh_store()
        for name in REPLICAS:
            await self.world.start(name, skew=0.0)
        for team in TEAMS:
            await self._create_team(team)
        baseline, _ = await self._ask("POST", "/admin/upstream/baseline")
        assert baseline.status_code == 200, baseline.text
        self.ready = True

    async def _ask(
        self, method: str, path: str, body: dict[str, Any] | None = None, credential: str = ""
    ) -> tuple[httpx.Response, bool]:
        """An admin's (or a team's) request, asked again while the gateway answers 503
        ``store_unavailable`` (Redis is switching masters), as a person or a script would.
        The answer, and whether it was asked again (a repeat may find it done already)."""
        headers = {"Authorization": f"Bearer {credential}"} if credential else admin()
        for attempt in range(100):
            answer = await self._http().request(method, path, json=body, headers=headers)
            if answer.status_code != 503:
                return answer, attempt > 0
            assert answer.json()["error"]["code"] == "store_unavailable", answer.text
            await asyncio.sleep(0.05)  # the caller's backoff (real time: Redis's is real)
        raise AssertionError(f"{method} {path}: the store stayed unavailable for 5 s")

    async def _create_team(self, team: str) -> None:
        policy = POLICIES[team]
        made, again = await self._ask("POST", "/admin/teams", {"id": team, **policy})
        if made.status_code == 409 and again:  # the first attempt had made it
            made, _ = await self._ask("GET", f"/admin/teams/{team}")
        assert made.status_code in (200, 201), made.text
        tenant = tenant_of(team, made.json()["generation"])
        self.tenant_now[team] = tenant
        self.budgets[tenant] = (policy["budget_credits"], policy["budget_period"])
        await self._issue_key(team)
        if team == "alpha":
            await self._mint()

    async def _issue_key(self, team: str) -> None:
        budget = KEY_BUDGETS.get(team)
        body = {"budget_credits": budget[0], "budget_period": budget[1]} if budget else {}
        issued, _ = await self._ask("POST", f"/admin/teams/{team}/keys", body)
        assert issued.status_code == 201, issued.text
        self.credentials[team] = issued.json()["key"]
        self.key_ids[team] = issued.json()["key_id"]
        self.team_keys.setdefault(self.tenant_now[team], {})[self.key_ids[team]] = budget

    async def _mint(self) -> None:
        """A capped browser token for alpha's user ann (its cap is its own: per token)."""
        minted, _ = await self._ask(
            "POST",
            "/v1/tokens",
            {"subject": "ann", "max_credits": TOKEN_CAP, "ttl_seconds": 3600},
            self.credentials["alpha"],
        )
        assert minted.status_code == 201, minted.text
        self.credentials["alpha-token"] = minted.json()["token"]
        self.tokens.append((self.tenant_now["alpha"], minted.json()["token_id"]))

    def _http(self, replica: str | None = None) -> httpx.AsyncClient:
        alive = self.world.replicas
        chosen = alive.get(replica or "") or next(iter(alive.values()))
        assert chosen.http is not None
        return chosen.http

    # -- rules: callers ------------------------------------------------------------------

    # Creates are most of what happens: three rules (Hypothesis picks rules evenly), one with
    # Rivya answering at once, one with anything Rivya or the network may do, one that hangs.

    @rule(sent=CREATE)
    def create(self, sent: Create) -> None:
        self._create_with(sent)

    @rule(sent=CREATE, plans=ATTEMPTS)
    def create_and_rivya_answers(self, sent: Create, plans: list[str]) -> None:
        self._create_with(sent, *plans)

    @rule(sent=CREATE)
    def create_and_rivya_hangs(self, sent: Create) -> None:
        self._create_with(sent, "hang")

    def _create_with(self, sent: Create, *plans: str) -> None:
        if sent.replica not in self.world.replicas:
            return
        # Idempotency is per team, and per end user for a browser token (app/creates.py): each
        # caller's ids are its own, so that Rivya's tasks per id tell one request's apart.
        # A team deleted and created again is a new one, with ids of its own.
        generation = self.deletions[sent.caller.partition("-")[0]]
        request_id = f"{sent.caller}-g{generation}-{sent.crid}" if sent.crid else None
        self.world.upstream.plans = list(plans)  # type: ignore[arg-type]
        self.run(self._create(sent, request_id))
        self.world.upstream.plans = []

    async def _create(self, sent: Create, crid: str | None) -> None:
        if crid is not None:
            self.never_sent.pop(crid, None)  # a new request with it may be sent
        headers = {"Authorization": f"Bearer {self.credentials[sent.caller]}"}
        if sent.surface == "gateway":
            body: dict[str, Any] = {"prompt": sent.prompt}
            path = "/v1/images"
        else:
            body = {"model": "flux-kontext-max", "prompt": sent.prompt}
            path = "/api/v1/generations"
        if crid is not None:
            body["client_request_id"] = crid
        gateway = self.world.replicas[sent.replica]
        assert gateway.http is not None
        self.world.upstream.hangs.clear()
        request = asyncio.ensure_future(gateway.http.post(path, json=body, headers=headers))
        gateway.requests.append(request)
        hangs = asyncio.ensure_future(self.world.upstream.hangs.wait())
        await asyncio.wait({request, hangs}, return_when=asyncio.FIRST_COMPLETED)
        hangs.cancel()  # answered, or it hangs at Rivya
        if not request.done():
            self.hung.append((self.world.upstream.hung[-1], request, crid or "", self.clock.now()))
            if crid is not None:
                self.crids_sent.add(crid)
            return
        self._answered(request.result(), crid)

    def _answered(self, answer: httpx.Response, crid: str | None) -> None:
        assert answer.status_code < 500 or answer.status_code in (502, 503, 504), answer.text
        if crid is None:
            return
        refused = answer.status_code in (400, 402, 403, 429) or (
            answer.status_code == 503 and "never be sent" in answer.json()["error"]["message"]
        )
        if refused and crid not in self.crids_sent:
            # Nothing was sent for it: no earlier request with it may be at Rivya either.
            self.never_sent[crid] = len(tasks_per_request_id(self.sim).get(crid, []))
        else:
            self.crids_sent.add(crid)

    @rule(which=st.integers(min_value=0, max_value=7), plan=st.sampled_from(ANSWERS))
    def answer_hung(self, which: int, plan: str) -> None:
        if not self.hung:
            return
        answer, request, crid, _ = self.hung.pop(which % len(self.hung))
        if not answer.done():  # not already ended with its connection
            answer.set_result(plan)
        self.run(self._finish(request, crid))

    async def _finish(self, request: asyncio.Task[httpx.Response], crid: str) -> None:
        try:
            response = await request
        except asyncio.CancelledError:
            return  # its replica died meanwhile
        self._answered(response, crid or None)

    # -- rules: the settler, time, Rivya's charges -----------------------------------------

    @rule(replica=REPLICA, resends=ATTEMPTS)
    def settle(self, replica: str, resends: list[str]) -> None:
        if replica not in self.world.replicas:
            return
        gateway = self.world.replicas[replica]
        assert gateway.app is not None
        self.world.upstream.plans = list(resends)  # type: ignore[arg-type]
        self.run(settler_pass(gateway.app))
        self.world.upstream.plans = []

    @rule(seconds=st.sampled_from([1, 3, 10, 31, 61, 400]))
    def time_passes(self, seconds: int) -> None:
        self.run(self._pass_time(seconds))

    @rule()
    def the_day_ends(self) -> None:
        now = self.clock.now()
        self.run(self._pass_time((now // 86_400 + 1) * 86_400 + 1 - now))

    async def _pass_time(self, seconds: float) -> None:
        """Time passes as it does in production: the live replicas' settlers tick meanwhile
        (here every 10 s of it, taking turns), so work due is done when due."""
        ticks = 0
        while seconds > 0:
            step = min(seconds, 10.0)
            await self._time_out_hangs(self.clock.now() + step)
            self.clock.advance(step)
            seconds -= step
            alive = list(self.world.replicas.values())
            if alive and (seconds <= 0 or step == 10.0) and ticks < 200:
                replica = alive[ticks % len(alive)]
                assert replica.app is not None
                await settler_pass(replica.app)
                ticks += 1
            if ticks >= 200:
                self.clock.advance(seconds)
                break

    async def _time_out_hangs(self, until: float) -> None:
        """A create's answer that would come after the gateway's timeout never comes: Rivya got
        it, or did not (alternately)."""
        for n, (answer, request, crid, sent) in enumerate(list(self.hung)):
            if sent + RIVYA_TIMEOUT < until:
                self.hung.remove((answer, request, crid, sent))
                if not answer.done():  # not already ended with its connection
                    answer.set_result("lost_after" if n % 2 == 0 else "lost_before")
                await self._finish(request, crid)

    @rule(
        charges=st.lists(st.sampled_from([None, 0, 5]), min_size=1, max_size=2), fail=st.booleans()
    )
    def rivya_charges_otherwise(self, charges: list[int | None], fail: bool) -> None:
        self.sim.set_faults(charge_next=charges, force_fail_next=int(fail))

    # -- rules: Redis and processes --------------------------------------------------------

    @rule(
        replica=REPLICA,
        script=st.sampled_from(SCRIPT_NAMES),
        fault=st.sampled_from(["fail", "lose_reply"]),
    )
    def redis_fails_once(self, replica: str, script: str, fault: str) -> None:
        if replica in self.world.replicas:
            self.world.replicas[replica].faults[script] = fault  # type: ignore[assignment]

    @rule(replica=REPLICA)
    def a_process_dies(self, replica: str) -> None:
        # One process at least lives on: its settler is what moves time's work along.
        if replica in self.world.replicas and len(self.world.replicas) > 1:
            self.run(self.world.kill(replica))
            # Its requests are over (cancelled, or failed as its link was cut), and with them
            # the creates they had hanging at Rivya: Rivya's side of a cut connection ends too.
            self.hung = [hung for hung in self.hung if not hung[1].done()]

    @rule(replica=REPLICA, skew=st.sampled_from([-10.0, -3.0, 0.0, 4.0, 10.0]))
    def a_process_starts(self, replica: str, skew: float) -> None:
        if replica not in self.world.replicas:
            self.run(self.world.start(replica, skew))

    # -- rules: ops ------------------------------------------------------------------------

    @rule(
        team=st.sampled_from(TEAMS),
        budget=st.sampled_from([16, 40, 80, 200]),
        period=st.sampled_from(["day", "total"]),
    )
    def budget_changes(self, team: str, budget: int, period: str) -> None:
        change = {"budget_credits": budget, "budget_period": period}
        answer, _ = self.run(self._ask("PATCH", f"/admin/teams/{team}", change))
        assert answer.status_code == 200, answer.text
        tenant = self.tenant_now[team]
        self.budgets[tenant] = (budget, period)
        self.over = {k: v for k, v in self.over.items() if k[0] != tenant}
        self.run(self._note_overage(tenant))

    @rule(budget=st.sampled_from([0, 16, 40, None]), period=st.sampled_from(["day", "total"]))
    def a_keys_budget_changes(self, budget: int | None, period: str) -> None:
        key_id = self.key_ids["alpha"]
        change = {"budget_credits": budget, "budget_period": period}
        answer, _ = self.run(self._ask("PUT", f"/admin/keys/{key_id}/budget", change))
        assert answer.status_code == 200, answer.text
        tenant = self.tenant_now["alpha"]
        self.team_keys[tenant][key_id] = None if budget is None else (budget, period)
        self.over = {k: v for k, v in self.over.items() if k[0] != key_id}
        self.run(self._note_key_overage(tenant, key_id))

    async def _note_key_overage(self, tenant: str, key_id: str) -> None:
        budget = self.team_keys[tenant][key_id]
        if budget is None:
            return
        for stamp in self._stamps(budget[1]):
            books = await read_key(self.redis, self.keys, tenant, key_id, stamp)
            level = books.spent + books.reserved - budget[0]
            self.over[(key_id, stamp)] = max(self.over.get((key_id, stamp), 0), level, 0)

    @rule()
    def a_browser_user_gets_a_new_token(self) -> None:
        self.run(self._mint())

    @rule(team=st.sampled_from(TEAMS))
    def a_key_is_revoked(self, team: str) -> None:
        answer, _ = self.run(self._ask("DELETE", f"/admin/keys/{self.key_ids[team]}"))
        assert answer.status_code == 200, answer.text
        self.run(self._issue_key(team))

    @rule(team=st.sampled_from(TEAMS))
    def a_team_is_deleted_and_made_again(self, team: str) -> None:
        # Its tasks in flight settle on in its own books; the new team starts afresh.
        answer, again = self.run(self._ask("DELETE", f"/admin/teams/{team}"))
        assert answer.status_code == 204 or (again and answer.status_code == 404), answer.text
        self.deletions[team] += 1
        self.run(self._create_team(team))

    # -- invariants ------------------------------------------------------------------------

    def _stamps(self, period: str) -> set[str]:
        now = self.clock.now()
        return {stamps_at(now + skew).stamp(period) for skew in (-10, 0, 10)}  # type: ignore[arg-type]

    async def books(self, tenant: str, stamp: str = "") -> Books:
        return await read_books(self.redis, self.keys, tenant, stamp)

    async def _note_overage(self, tenant: str) -> None:
        budget, period = self.budgets[tenant]
        for stamp in self._stamps(period):
            books = await self.books(tenant, stamp)
            level = books.period_spent + books.period_reserved - budget
            self.over[(tenant, stamp)] = max(self.over.get((tenant, stamp), 0), level, 0)

    @invariant()
    def the_books_hold(self) -> None:
        if self.world.replicas and self.budgets:
            type(self).steps_run += 1
            self.run(self._check())

    async def _check(self) -> None:
        for tenant, (budget, period) in self.budgets.items():
            for stamp in self._stamps(period):
                books = await self.books(tenant, stamp)
                level = books.period_spent + books.period_reserved - budget
                assert level <= self.over.get((tenant, stamp), 0), (
                    f"{tenant} {stamp}: spent {books.period_spent} + reserved "
                    f"{books.period_reserved} > budget {budget}"
                )
            books = await self.books(tenant, "")
            assert books.reserved == books.entries_reserved, (tenant, books)
            for task, charged in books.charged.items():
                assert charged <= PRICE, f"{tenant}: {task} charged {charged}"
        for tenant, token_id in self.tokens:
            spent, reserved = await read_token(self.redis, self.keys, tenant, token_id)
            assert spent + reserved <= TOKEN_CAP, (token_id, spent, reserved)
        await self._check_keys()
        made = tasks_per_request_id(self.sim)
        for crid, tasks in made.items():
            assert not crid or len(tasks) == 1, f"{crid!r} made {tasks} at Rivya"
        for crid, before in self.never_sent.items():
            assert len(made.get(crid, [])) == before, f"{crid}: answered unsent, then sent"

    async def _check_keys(self) -> None:
        for tenant, keys in self.team_keys.items():
            for key_id, budget in keys.items():
                books = await read_key(self.redis, self.keys, tenant, key_id)
                assert books.reserved == books.entries_reserved, (key_id, books)
                if budget is None:
                    continue
                for stamp in self._stamps(budget[1]):
                    books = await read_key(self.redis, self.keys, tenant, key_id, stamp)
                    level = books.spent + books.reserved - budget[0]
                    assert level <= self.over.get((key_id, stamp), 0), (
                        f"key {key_id} {stamp}: spent {books.spent} + reserved "
                        f"{books.reserved} > its budget {budget[0]}"
                    )

    # -- quiescence --------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.ready:
                self.run(self._quiesce())
        finally:
            self.run(self.world.stop_all())
            self.run(self.redis.aclose())
            self._patch.__exit__(None, None, None)
            self.loop.close()
            forget_apps()

    async def _quiesce(self) -> None:
        for answer, request, crid, _ in self.hung:
            if not answer.done():
                answer.set_result("made")
            await self._finish(request, crid)
        self.hung = []
        if not self.world.replicas:
            await self.world.start("r1", 0.0)
        for replica in self.world.replicas.values():
            replica.faults.clear()
        gateway = next(iter(self.world.replicas.values())).app
        assert gateway is not None
        # The safety net every process runs (every SETTLER_SWEEP_SECONDS): the index writes a
        # process that died took with it. Run as its loop runs it: again after a failed pass
        # (the first command after a failover meets the old master, and is refused).
        for _ in range(5):
            with contextlib.suppress(StoreUnavailable):
                await gateway.state.services.settler.sweep()
                break
        for _ in range(40):
            in_flight = [(await self.books(tenant, "")).in_flight for tenant in self.budgets]
            if not any(in_flight):
                break
            self.clock.advance(61)
            await settler_pass(gateway)
        self.clock.advance(60)  # every task Rivya made has ended, whether the books know it
        charges = rivya_charges(self.sim)
        charged_to: dict[str, list[tuple[str, int]]] = {}
        total_spent = 0
        for tenant in self.budgets:
            books = await self.books(tenant, "")
            assert (books.reserved, books.in_flight) == (0, 0), (tenant, books)
            assert (books.ledger_spent, books.ledger_reserved) == (books.spent, 0), (tenant, books)
            total_spent += books.spent
            for task, charged in books.charged.items():
                charged_to.setdefault(task, []).append((tenant, charged))
        for task, charge in charges.items():
            owners = [(team, c) for team, c in charged_to.get(task, []) if c]
            assert sum(c for _, c in owners) == charge, (
                f"Rivya charged {charge} for {task}; the books charged {owners or 'no team'}"
            )
            assert len(owners) <= 1, (task, owners)
        assert set(charged_to) <= set(charges), set(charged_to) - set(charges)
        rivya_spent = self.sim.settings.initial_credits - self.sim.current_credits()
        assert total_spent == rivya_spent == sum(charges.values())
        for tenant, token_id in self.tokens:
            token_spent, token_reserved = await read_token(self.redis, self.keys, tenant, token_id)
            assert token_reserved == 0, token_id
            assert token_spent <= TOKEN_CAP, token_id
        for tenant, keys in self.team_keys.items():
            per_key = [await read_key(self.redis, self.keys, tenant, k) for k in keys]
            assert [k.reserved for k in per_key] == [0] * len(per_key), (tenant, per_key)
            team_spent = (await self.books(tenant, "")).spent
            assert sum(k.spent for k in per_key) == team_spent, (tenant, per_key, team_spent)
        report = (await self._ask("GET", "/admin/upstream"))[0].json()
        assert (report["drift_credits"], report["unexplained_credits"]) == (0, 0), report


def ci_profile(runs: int, steps: int) -> settings:
    """make test: the same runs every time (derandomized)."""
    return settings(
        max_examples=runs,
        stateful_step_count=steps,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    )


PROFILES = {"ci": ci_profile(150, 30)}  # about a minute


def long_profile(seconds: float, batch: int = 50) -> Iterator[settings]:
    """make model: new random runs, ``batch`` at a time, until the time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield settings(
            max_examples=batch,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )


def model_seconds() -> float:
    """How long ``make model`` explores (MODEL_SECONDS); 0 under ``make test``."""
    return float(os.environ.get("MODEL_SECONDS", "0"))


def test_the_books_hold_under_every_interleaving(redis_url: str) -> None:
    seconds = model_seconds()

    class OnThisRedis(BooksModel):
        def __init__(self) -> None:
            super().__init__(redis_url)

    for profile in long_profile(seconds) if seconds else iter([PROFILES["ci"]]):
        run_state_machine_as_test(OnThisRedis, settings=profile)
        report_explored(OnThisRedis, seconds)


def report_explored(model: type[BooksModel], seconds: float) -> None:
    """make model: how much has been explored so far, after each batch of runs (pytest -s
    shows it), so that a run stopped early still says how far it got."""
    if seconds:
        explored = f"{model.examples_run} runs, {model.steps_run} steps"
        print(f"\n{model.__name__}: {explored}, no failure", flush=True)
