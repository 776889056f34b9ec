"""How tasks are followed to their end: when Rivya is asked again, and what one settler pass
takes on. Derived from the settings (``Settings.poll_schedule``, ``Settings.settle_pass``)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    """rivya-api.md: first poll 2-3 s after creation, then every 5-10 s, slower for long jobs."""

    first_min: float = 2.0
    first_max: float = 3.0
    every_min: float = 5.0
    every_max: float = 10.0
    slow_after: float = 300.0
    slow_factor: float = 3.0

    def first_poll(self, rng: random.Random) -> float:
        return rng.uniform(self.first_min, self.first_max)

    def next_poll(self, age_seconds: float, rng: random.Random) -> float:
        delay = rng.uniform(self.every_min, self.every_max)
        return delay * self.slow_factor if age_seconds > self.slow_after else delay


@dataclass(frozen=True)
class SettlePass:
    lease_seconds: float = 30.0
    batch: int = 100
    concurrency: int = 16
    give_up_after_seconds: float = 86_400.0


@dataclass(frozen=True)
class Claim:
    """A team a settler works now (of N settlers, one at a time); ``token`` makes its release
    its own."""

    tenant: str
    token: str
