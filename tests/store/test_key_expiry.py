"""A key issued with an expiry starts no paid create past it, decided by the admission script on
the script's clock, whatever a replica's cached key record says (issue 24.6)."""

from __future__ import annotations

from dataclasses import replace

from app.clock import iso_timestamp
from app.domain.creates import Admitted
from app.domain.refusals import KeyExpired
from app.domain.teams import ApiKeyRecord
from tests.store.conftest import Stores

EXPIRING = "key_00000000000000e1"


async def test_an_expired_key_is_refused_by_the_script_and_reserves_nothing(
    stores: Stores,
) -> None:
    await stores.team("alpha", budget_credits=100)
    now = stores.clock.now()
    await stores.keys.add(
        ApiKeyRecord(
            key_id=EXPIRING,
            team="alpha",
            secret_hash="y" * 64,
            created_at=iso_timestamp(now),
            expires_at=iso_timestamp(now + 60),
        )
    )
    with_key = replace(stores.pending(), key_id=EXPIRING)
    assert isinstance(await stores.admission.admit(with_key, fingerprint="fp"), Admitted)
    stores.clock.advance(60)  # the script's clock reaches the expiry
    late = replace(stores.pending(), key_id=EXPIRING)
    refused = await stores.admission.admit(late, fingerprint="fp")
    assert isinstance(refused, KeyExpired)
    assert refused.expired_ms == int((now + 60) * 1000)
    # A key without an expiry is untouched; the refusal held nothing and was counted once.
    assert isinstance(await stores.admit(), Admitted)
    spent = await stores.spent()
    assert spent.reserved == 16
    assert spent.refusals == {"key_expired": 1}
