"""Teams and their keys: the admin workflow behind both the admin API and the CLI."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from app.auth.api_keys import generate_key, is_whole_key, key_id_named_by, matches
from app.catalog import Catalog, FieldError
from app.clock import Clock, iso_timestamp
from app.domain.teams import ApiKeyRecord, KeyBudget, KeySpend, KeyStanding, Team
from app.errors import AlreadyExists, NotFound, ValidationFailed, field_errors
from app.periods import stamps_at
from app.store.api_keys import ApiKeyStore
from app.store.redis import admin_write
from app.store.results import ResultStore
from app.store.spend import SpendStore
from app.store.teams import TeamStore


class KeyBudgetAsked(Protocol):
    """A budget as an admin asks for it (``schemas/teams.KeyBudgetFields``)."""

    def key_budget(self, current: KeyBudget | None = None) -> KeyBudget | None: ...


class TeamStores(Protocol):
    """The stores teams and their keys are kept in (``wiring/stores.py``'s)."""

    @property
    def teams(self) -> TeamStore: ...
    @property
    def api_keys(self) -> ApiKeyStore: ...
    @property
    def spend(self) -> SpendStore: ...
    @property
    def results(self) -> ResultStore: ...


@dataclass(frozen=True)
class IssuedKey:
    standing: KeyStanding
    key: str  # the only time the secret exists outside the caller's hands


@dataclass(frozen=True)
class ApplyResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    # What changed (or, on a dry run, would): team -> field -> [before, after].
    changes: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    dry_run: bool = False


_NOT_POLICY = frozenset({"id", "created_at", "updated_at", "generation"})


def _diff(before: Team | None, after: Team) -> dict[str, list[Any]]:
    """The policy fields that differ: field -> [before, after] (before None for a new team)."""
    old = before.model_dump() if before is not None else {}
    new = after.model_dump()
    return {
        name: [old.get(name), value]
        for name, value in new.items()
        if name not in _NOT_POLICY and (before is None or old.get(name) != value)
    }


def new_generation() -> str:
    """A team's generation: random, so a re-created id never meets its predecessor's data."""
    return secrets.token_hex(6)


def _refuse_generation(fields: Mapping[str, Any], field: str) -> None:
    if "generation" in fields:
        raise ValidationFailed(details=[FieldError(field, "is set by the gateway, not given")])


class TeamService:
    def __init__(self, stores: TeamStores, catalog: Catalog, clock: Clock) -> None:
        self._teams, self._keys, self._spend = stores.teams, stores.api_keys, stores.spend
        self._results = stores.results
        self._catalog, self._clock = catalog, clock

    def _now(self) -> str:
        return iso_timestamp(self._clock.now())

    async def create(self, fields: Mapping[str, Any]) -> Team:
        now = self._now()
        _refuse_generation(fields, "generation")
        fields = {**fields, "created_at": now, "updated_at": now}
        team = self._validated(fields).model_copy(update={"generation": new_generation()})
        if not await self._teams.create(team):
            raise AlreadyExists(f"Team {team.id!r} already exists.")
        return team

    async def update(self, team_id: str, changes: Mapping[str, Any]) -> Team:
        """Apply a partial change (PATCH semantics: only the fields given change)."""
        for forbidden in ("id", "created_at", "updated_at", "generation"):
            if forbidden in changes:
                raise ValidationFailed(details=[FieldError(forbidden, "cannot be changed")])
        current = await self.get(team_id)
        merged = {**current.model_dump(), **changes, "updated_at": self._now()}
        team = self._validated(merged)
        # Validated as a whole, written field by field: a concurrent change to other fields
        # is not overwritten with the values read above.
        if not await self._teams.replace(team, only=[*changes, "updated_at"]):
            raise NotFound(f"No team {team_id!r}.")
        return team

    async def get(self, team_id: str) -> Team:
        team = await self._teams.get(team_id)
        if team is None:
            raise NotFound(f"No team {team_id!r}.")
        return team

    async def list_teams(self) -> list[Team]:
        return await self._teams.list()

    async def delete(self, team_id: str) -> None:
        """Remove a team and revoke its keys. Its data stays under its generation's tenant,
        where its tasks in flight still settle; a team created later with the same id has a new
        generation and sees none of it."""
        team = await self.get(team_id)
        # Each step is waited for (when writes wait for a replica); whichever fails with its
        # outcome unknown, the answer names the deletion, and repeating it finishes it.
        async with admin_write("The team's deletion"):
            for record in await self._keys.list_for_team(team.tenant):
                await self._keys.revoke(record.key_id, self._now())
            await self._teams.delete(team)
        await self._results.expire_all(team.tenant)  # its copies go at its next settler pass

    async def apply(
        self, specs: Iterable[Mapping[str, Any]], *, prune: bool = False, dry_run: bool = False
    ) -> ApplyResult:
        """Create or update the named teams from specs (``rivya-gateway teams apply``). A field
        a spec leaves out keeps its current value, so a file never widens access by omission;
        with ``prune`` it goes back to its default. Every spec is checked before any is
        written; teams not named are left alone; ``dry_run`` writes nothing and says what would
        change."""
        plans = await self._plans(list(specs), prune=prune)
        result = ApplyResult([], [], [], dry_run=dry_run)
        for team, existing in plans:
            if existing is None:
                result.changes[team.id] = _diff(None, team)
                if not dry_run:
                    await self._teams.create(
                        team.model_copy(update={"generation": new_generation()})
                    )
                result.created.append(team.id)
                continue
            team = team.model_copy(update={"generation": existing.generation})
            changed = _diff(existing, team)
            if not changed:
                result.unchanged.append(team.id)
                continue
            result.changes[team.id] = changed
            if not dry_run:
                await self._teams.replace(team)
            result.updated.append(team.id)
        return result

    async def _plans(
        self, specs: list[Mapping[str, Any]], *, prune: bool
    ) -> list[tuple[Team, Team | None]]:
        """Each spec as the team it would make (and the team it would replace), every one
        checked first: one run names every problem, by its entry, and writes nothing."""
        problems = [
            FieldError(f"teams[{index}].id", "every team needs an id")
            for index, spec in enumerate(specs)
            if not isinstance(spec, Mapping) or not isinstance(spec.get("id"), str)
        ]
        if problems:
            raise ValidationFailed(details=problems)
        now, seen = self._now(), set[str]()
        plans: list[tuple[Team, Team | None]] = []
        for index, spec in enumerate(specs):
            where = f"teams[{index}] ({spec['id']})"
            if spec["id"] in seen:
                problems.append(FieldError(f"{where}.id", "appears twice in the file"))
            seen.add(spec["id"])
            existing = await self._teams.get(spec["id"])
            base: dict[str, Any] = {"created_at": now}
            if existing is not None:
                kept = {"created_at": existing.created_at} if prune else existing.model_dump()
                base = {k: v for k, v in kept.items() if k != "generation"}
            try:
                _refuse_generation(spec, "generation")
                plans.append((self._validated({**base, **spec, "updated_at": now}), existing))
            except ValidationFailed as bad:
                problems += [FieldError(f"{where}.{d.field}", d.message) for d in bad.details]
        if problems:
            raise ValidationFailed(
                f"{len(problems)} problem(s) in the teams; nothing was changed.", details=problems
            )
        return plans

    async def issue_key(
        self,
        team_id: str,
        name: str | None = None,
        expires_at: float | None = None,
        budget: KeyBudget | None = None,
    ) -> IssuedKey:
        """A new key for the team; ``expires_at`` (epoch seconds, in the future) or never; a
        ``budget`` of its own, or only the team's."""
        team = await self.get(team_id)
        if expires_at is not None and expires_at <= self._clock.now():
            raise ValidationFailed(details=[FieldError("expires_at", "must be in the future")])
        new = generate_key()
        record = ApiKeyRecord(
            key_id=new.key_id,
            team=team_id,
            generation=team.generation,
            name=name,
            secret_hash=new.secret_hash,
            created_at=self._now(),
            expires_at=None if expires_at is None else iso_timestamp(expires_at),
        )
        await self._keys.add(record, budget)
        return IssuedKey(KeyStanding(record, KeySpend(budget, 0, 0)), key=new.key)

    async def backfill_active_keys(self) -> int:
        """Every team's unrevoked keys into its active set; returns how many there are."""
        return sum([await self._keys.backfill_active(t.tenant) for t in await self._teams.list()])

    async def list_keys(self, team_id: str) -> list[KeyStanding]:
        team = await self.get(team_id)
        return await self._standings(await self._keys.list_for_team(team.tenant))

    async def set_key_budget(self, key_id: str, asked: KeyBudgetAsked) -> KeyStanding:
        """Give a key a credit budget of its own, change it or take it away (``asked`` makes
        it from the current one: a period left out is kept)."""
        record = await self._keys.get(key_id)
        if record is None:
            raise NotFound(f"No key {key_id}.")
        if record.revoked:
            raise ValidationFailed(
                f"Key {key_id} is revoked: it spends nothing more, so it takes no budget.",
                details=[FieldError("key_id", "is revoked")],
            )
        [now] = await self._standings([record])
        await self._keys.set_budget(record, asked.key_budget(now.spend.budget))
        [standing] = await self._standings([record])
        return standing

    async def _standings(self, records: list[ApiKeyRecord]) -> list[KeyStanding]:
        """The keys (of one team) with their budgets and spend as of now."""
        if not records:
            return []
        stamps = stamps_at(self._clock.now())
        spends = await self._spend.keys(records[0].tenant, [r.key_id for r in records], stamps)
        return [KeyStanding(r, s) for r, s in zip(records, spends, strict=True)]

    async def revoke_key(self, reference: str) -> KeyStanding:
        """Revoke the key ``reference`` names: its id, the key itself (in an incident, what you
        have is the leaked key) or its ``rgw_<hex>`` prefix. Errors name the id, never the
        secret."""
        key_id = key_id_named_by(reference)
        if key_id is None:
            raise ValidationFailed(
                "Name a key by its id (key_<16 hex>), by the key itself (rgw_…), or by its "
                "prefix (rgw_<16 hex>).",
                details=[FieldError("key", "is not a key, a key id or a key's prefix")],
            )
        if is_whole_key(reference):
            known = await self._keys.get(key_id)
            if known is not None and not matches(reference.strip(), known.secret_hash):
                raise NotFound(
                    f"The key given is not {key_id}'s: its secret differs (nothing revoked)."
                )
        record = await self._keys.revoke(key_id, self._now())
        if record is None:
            raise NotFound(f"No key {key_id}.")
        [standing] = await self._standings([record])
        return standing

    def _validated(self, data: Mapping[str, Any]) -> Team:
        try:
            team = Team.model_validate(dict(data))
        except ValidationError as exc:
            raise ValidationFailed(details=field_errors(exc.errors())) from None
        unknown = [m for m in team.allowed_models or [] if self._catalog.get(m) is None]
        if unknown:
            raise ValidationFailed(
                details=[FieldError("allowed_models", f"unknown model {m!r}") for m in unknown]
            )
        return team
