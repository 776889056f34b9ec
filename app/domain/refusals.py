"""Why admission refused a create, one type per reason, each defined once with everything that
is said of it: its word (how ``admit.lua`` answers it and counts it, ``refused:<word>`` in the
period's figures), the error code its caller gets (what ops count it under: metrics, the spend
report), the figures its answer reports, and the contract's error itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Self

from app.clock import iso_timestamp
from app.domain.rates import SUBJECT_RATE_POLICY, RateState, rate_limit_headers, rate_state
from app.domain.teams import BudgetPeriod, Team
from app.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyRevoked,
    BudgetExceeded,
    GatewayError,
    ModelNotAllowed,
    RateLimited,
    StoreUnavailable,
)
from app.periods import PERIODS, period_bounds


@dataclass(frozen=True)
class Asked:
    """What a refusal's answer speaks of: the team, what the create needed, and when."""

    team: Team
    credits: int
    now: float
    in_flight_retry_seconds: int  # when to try again after the in-flight cap refused


class Refusal(ABC):
    word: ClassVar[str]  # admit.lua's
    code: ClassVar[str]  # the caller's error code, as ops count it
    # admit.lua counts it in the period's books with its decision (``refused('word')``); those
    # it does not are counted with every other refusal (services/refusal_counts.py).
    counted_by_script: ClassVar[bool] = True

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:
        """The refusal from the rest of admit.lua's answer (``values``: its figures)."""
        return cls()

    @abstractmethod
    def error(self, asked: Asked) -> GatewayError: ...


@dataclass(frozen=True)
class OverBudget(Refusal):
    word, code = "budget", "budget_exceeded"
    remaining: int
    budget: int
    period: BudgetPeriod  # the period the script enforced (what is in Redis, not a cache)

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:  # remaining, budget, index_at, period
        return cls(max(int(values[0]), 0), int(values[1]), budget_period(values[3]))

    def error(self, asked: Asked) -> GatewayError:
        return BudgetExceeded(
            f"Team {asked.team.id!r} has {self.remaining} of {self.budget} credits left "
            f"{_period_phrase(self.period, asked.now)}; this task needs {asked.credits}."
        )


@dataclass(frozen=True)
class OverTokenCap(Refusal):
    word, code = "token_cap", "budget_exceeded"
    remaining: int
    cap: int

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:  # remaining, cap
        return cls(max(int(values[0]), 0), int(values[1]))

    def error(self, asked: Asked) -> GatewayError:
        return BudgetExceeded(
            f"This token may spend {self.cap} credits and has {self.remaining} left; this task "
            f"needs {asked.credits}. Ask for a new token."
        )


@dataclass(frozen=True)
class OverKeyBudget(Refusal):
    """Past the credit budget of the key used (or of the key that minted the browser token)."""

    word, code = "key_budget", "budget_exceeded"
    remaining: int
    budget: int
    period: BudgetPeriod

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:  # remaining, budget, period
        return cls(max(int(values[0]), 0), int(values[1]), budget_period(values[2]))

    def error(self, asked: Asked) -> GatewayError:
        return BudgetExceeded(
            f"This key has {self.remaining} of its {self.budget} credits left "
            f"{_period_phrase(self.period, asked.now)}; this task needs {asked.credits}. Ask "
            "an admin to raise the key's budget."
        )


@dataclass(frozen=True)
class TooFast(Refusal):
    """Past the team's create rate."""

    word, code = "rate", "rate_limited"
    rate: RateState  # its full_in_seconds: when one more create is allowed

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:  # retry_after_ms, burst, window_ms
        retry_ms, burst, window_ms = (int(v) for v in values)
        return cls(rate_state(burst, window_ms, 0, retry_ms))

    def error(self, asked: Asked) -> GatewayError:
        team, retry = asked.team, max(1, self.rate.full_in_seconds)
        return RateLimited(
            f"Team {team.id!r} may create {tasks(team.rate_limit_per_minute)} a minute "
            f"(bursts of {team.effective_burst}); retry in {retry} s.",
            headers={"Retry-After": str(retry), **rate_limit_headers(self.rate)},
        )


@dataclass(frozen=True)
class UserTooFast(TooFast):
    """Past the rate of one browser token's user (``per_subject_rate_limit_per_minute``)."""

    word = "subject_rate"

    def error(self, asked: Asked) -> GatewayError:
        team, retry = asked.team, max(1, self.rate.full_in_seconds)
        return RateLimited(
            f"This user may create {tasks(team.per_subject_rate_limit_per_minute or 0)} a "
            f"minute in team {team.id!r}; retry in {retry} s.",
            headers={
                "Retry-After": str(retry),
                **rate_limit_headers(self.rate, SUBJECT_RATE_POLICY),
            },
        )


@dataclass(frozen=True)
class TooManyInFlight(Refusal):
    # Answered 429 rate_limited too; counted apart, so ops can tell the two limits apart.
    word, code = "in_flight", "in_flight_limited"
    in_flight: int
    most: int
    rate: RateState

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:
        in_flight, most, rate_left, full_in_ms, burst, window_ms = (int(v) for v in values)
        return cls(in_flight, most, rate_state(burst, window_ms, rate_left, full_in_ms))

    def error(self, asked: Asked) -> GatewayError:
        return RateLimited(
            f"Team {asked.team.id!r} has {tasks(self.in_flight)} in flight, the most it may "
            "have; retry when one ends.",
            headers={
                "Retry-After": str(asked.in_flight_retry_seconds),
                **rate_limit_headers(self.rate),
            },
        )


@dataclass(frozen=True)
class ModelWithdrawn(Refusal):
    word, code = "model", "model_not_allowed"

    def error(self, asked: Asked) -> GatewayError:
        return ModelNotAllowed(f"Team {asked.team.id!r} may no longer use this model.")


@dataclass(frozen=True)
class KeyRevoked(Refusal):
    """An admin revoked the key after this replica cached it: the admission saw it at once."""

    word, code = "revoked", "api_key_revoked"
    counted_by_script = False

    def error(self, asked: Asked) -> GatewayError:
        return ApiKeyRevoked()


@dataclass(frozen=True)
class KeyExpired(Refusal):
    """The key passed its expiry (by Redis's clock) after this replica cached it."""

    word, code = "key_expired", "api_key_expired"
    expired_ms: int

    @classmethod
    def read(cls, values: Sequence[str]) -> Self:  # expired_ms
        return cls(int(values[0]))

    def error(self, asked: Asked) -> GatewayError:
        return ApiKeyExpired(
            f"This key expired at {iso_timestamp(self.expired_ms / 1000)}: ask an admin for a "
            "new one."
        )


@dataclass(frozen=True)
class TeamGone(Refusal):
    """The team was deleted (or its id is another team's now)."""

    word, code = "no_team", "api_key_invalid"
    counted_by_script = False

    def error(self, asked: Asked) -> GatewayError:
        return ApiKeyInvalid("This key's team no longer exists.")


@dataclass(frozen=True)
class Cancelled(Refusal):
    """Its own request cancelled it before the admission ran (cancel.lua): only a late run of
    a cancelled admission hears this."""

    word, code = "cancelled", "store_unavailable"
    counted_by_script = False

    def error(self, asked: Asked) -> GatewayError:
        return StoreUnavailable("This create was cancelled and sent nothing upstream. Retry.")


REFUSALS: dict[str, type[Refusal]] = {
    kind.word: kind
    for kind in (
        OverBudget,
        OverTokenCap,
        OverKeyBudget,
        TooFast,
        UserTooFast,
        TooManyInFlight,
        ModelWithdrawn,
        KeyRevoked,
        KeyExpired,
        TeamGone,
        Cancelled,
    )
}


def code_of(word: str) -> str:
    """The error code a refusal counted as ``word`` answered (the word itself if unknown)."""
    kind = REFUSALS.get(word)
    return kind.code if kind else word


def budget_period(text: str) -> BudgetPeriod:
    """A period as a script answered it."""
    for period in PERIODS:
        if period == text:
            return period
    raise ValueError(f"not a budget period: {text!r}")


def tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def _period_phrase(period: BudgetPeriod, now: float) -> str:
    _, end = period_bounds(period, now)
    if end is None:
        return "in its total budget, which does not reset"
    this = "today" if period == "day" else f"this {period}"
    return f"{this}; the budget resets at {_iso(end)}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
