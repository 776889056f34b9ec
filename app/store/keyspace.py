"""Every Redis key name the gateway uses, in one place, under a configurable prefix.

Keys that belong to one team carry the hash tag ``{team:<id>}`` so a script touching several
of them runs on one Redis Cluster slot. A team's data is keyed by its *tenant*
(``<id>@<generation>``, ``Team.tenant``): a team created later with a deleted team's id has
another generation, so it sees and inherits nothing of the old one, whose tasks still settle
under the old tenant. The team's own policy hash is keyed by id alone.
"""

from __future__ import annotations

from functools import lru_cache

from app.periods import PeriodStamps
from app.store.contracts.shape import Periods

_MAX_REMEMBERED = 10_000


class KeySpace:
    def __init__(self, prefix: str = "gw") -> None:
        self.prefix = prefix
        self._tenants: dict[str, str] = {}  # every create names ~20 keys of its team's tenant

    def _team(self, tenant: str) -> str:
        known = self._tenants.get(tenant)
        if known is not None:
            return known
        team_id, _, generation = tenant.partition("@")
        tagged = f"{self.prefix}:{{team:{team_id}}}"
        name = f"{tagged}:{generation}" if generation else tagged
        if len(self._tenants) < _MAX_REMEMBERED:  # teams are few; made-up ids never get here
            self._tenants[tenant] = name
        return name

    def data_marker(self) -> str:
        """String: a random value set once, by the first gateway to start; if it changes or
        vanishes, Redis lost the gateway's data (services/health.py)."""
        return f"{self.prefix}:data-marker"

    def teams_index(self) -> str:
        """Set of every team id."""
        return f"{self.prefix}:teams"

    def team(self, team_id: str) -> str:
        """Hash: the team's policy fields."""
        return f"{self._team(team_id)}:team"

    def team_keys(self, tenant: str) -> str:
        """Set: ids of the team's API keys (revoked ones included)."""
        return f"{self._team(tenant)}:keys"

    def keys_last_used(self) -> str:
        """Hash: key id -> when it was last used (ISO-8601), written at most once a minute per
        key and replica (services/answered.py)."""
        return f"{self.prefix}:keys:last-used"

    def key_expiry(self, tenant: str) -> str:
        """Hash: key id -> when the key expires (ms), for keys issued with an expiry. In the
        team's slot, read by the admission script (Redis's clock decides, not a replica's)."""
        return f"{self._team(tenant)}:key-expiry"

    def key_budgets(self, tenant: str) -> str:
        """Hash: key id -> "credits|period", for keys with a credit budget of their own. In the
        team's slot: the admission script reads it."""
        return f"{self._team(tenant)}:key-budgets"

    def key_spend(self, tenant: str, key_id: str, stamp: str) -> str:
        """Hash: one key's spent/reserved credits and task counts in one period (as ``spend``
        is the team's), moved by the same money scripts."""
        return f"{self._team(tenant)}:key-spend:{key_id}:{stamp}"

    def active_keys(self, tenant: str) -> str:
        """Set: ids of the team's keys not revoked. Read by the admission script, so a revoked
        key starts no paid create from the moment its revocation is answered."""
        return f"{self._team(tenant)}:active-keys"

    def api_key(self, key_id: str) -> str:
        """Hash: one API key's record (team, name, secret hash, revocation)."""
        return f"{self.prefix}:key:{key_id}"

    def task(self, team_id: str, task_id: str) -> str:
        """Hash: one task's record (Rivya's latest state and who created it)."""
        return f"{self._team(team_id)}:task:{task_id}"

    def rate(self, team_id: str) -> str:
        """String: the team's GCRA rate-limit state (theoretical arrival time, microseconds)."""
        return f"{self._team(team_id)}:rate"

    def reservations(self, team_id: str) -> str:
        """Hash: credits held for creates not yet settled (its size is the tasks in flight)."""
        return f"{self._team(team_id)}:reservations"

    def spend(self, team_id: str, stamp: str) -> str:
        """Hash: spent/reserved credits and task counts of one period (a day, week, month or
        ``total``)."""
        return f"{self._team(team_id)}:spend:{stamp}"

    def idempotency(self, team_id: str, client_request_id: str) -> str:
        """Hash: the claim on (team, client_request_id): fingerprint, state, task or error."""
        return f"{self._team(team_id)}:idem:{client_request_id}"

    def pending_creates(self, team_id: str) -> str:
        """Hash: reservation id -> the upstream create (key, body) not yet known to have
        succeeded or failed; resent with the same upstream key until it is."""
        return f"{self._team(team_id)}:creates"

    def abandoned(self, team_id: str, reservation_id: str) -> str:
        """String (expiring): proof that this reservation's create was given up and charged as
        spent: the credits charged. Only its presence lets a late task take them back."""
        return f"{self._team(team_id)}:abandoned:{reservation_id}"

    def abandoned_key(self, team_id: str, reservation_id: str) -> str:
        """String: the key whose books an abandoned hold was charged to (abandon.lua), beside
        its mark (a number, as every version reads it); absent: no key's books."""
        return f"{self._team(team_id)}:abandoned-key:{reservation_id}"

    def cancelled(self, team_id: str, reservation_id: str) -> str:
        """String (expiring): this reservation's admission was cancelled by its own request
        (which never got the admission's answer); an admission that runs late must not run."""
        return f"{self._team(team_id)}:cancelled:{reservation_id}"

    def settle_due(self, team_id: str) -> str:
        """Sorted set: the team's tasks not yet settled, scored by their next poll (ms). Shared
        by every replica's settler."""
        return f"{self._team(team_id)}:due"

    def settle_teams(self) -> str:
        """Set: every tenant ever created (added before a team is created, never removed:
        a deleted team's books still count). Reports walk it; the settlers do not."""
        return f"{self.prefix}:settle:teams"

    def requests(self, hour: str, shard: str) -> str:
        """Hash: request id -> what was answered (domain/requests.py), for one UTC hour
        (``2026120515``), in 16 shards by the id's last hex digit (spread over a Cluster)."""
        return f"{self.prefix}:requests:{hour}:{shard}"

    def due_teams(self) -> str:
        """Sorted set: tenants with work due (a task to poll, a lost create to resend, an
        event to deliver), scored by when (ms); a claimed team is scored at its claim's end.
        The settlers read only this, so idle teams cost them nothing (store/schedule.py)."""
        return f"{self.prefix}:{{due}}:teams"

    def due_claims(self) -> str:
        """Hash: tenant -> the token of the settler working on it now (one at a time)."""
        return f"{self.prefix}:{{due}}:claims"

    def due_asked(self) -> str:
        """Hash: tenant -> a due time (ms) a script asked for while a settler had the team
        claimed; that settler's release indexes the team by it (lua/index_team.lua)."""
        return f"{self.prefix}:{{due}}:asked"

    def task_news(self) -> str:
        """Pub/sub channel: ids of tasks that just ended (``store/task_news.py``)."""
        return f"{self.prefix}:task-news"

    def due_sweep(self) -> str:
        """String: the lease of the replica sweeping every team into the index (a safety net
        for an index lost apart from the teams' own data, e.g. on another Cluster node)."""
        return f"{self.prefix}:{{due}}:sweep"

    def scheduled(self, tenant: str) -> str:
        """String: when (ms) the team is due in the index of due teams, as far as its own data
        knows; absent when it is not indexed. Read by the scripts that add work, in the team's
        slot, so only a write that needs an earlier look costs a write to the index."""
        return f"{self._team(tenant)}:scheduled"

    def results_kept(self, tenant: str) -> str:
        """Sorted set: the team's copies of result files, "sha256|bytes" -> until when they are
        kept (ms); each copy once, however many tasks share it (services/results.py)."""
        return f"{self._team(tenant)}:results-kept"

    def results_usage(self, tenant: str) -> str:
        """Hash: what the team's copies take in the object store (bytes, objects)."""
        return f"{self._team(tenant)}:results-usage"

    def outbox(self, tenant: str) -> str:
        """Stream: events the team or ops must receive (budget alerts), written by the script
        that decides them and deleted once delivered (services/alerts.py)."""
        return f"{self._team(tenant)}:outbox"

    def outbox_attempts(self, tenant: str) -> str:
        """Hash: outbox entry id -> "attempts|next attempt, ms" for events not yet delivered."""
        return f"{self._team(tenant)}:outbox:attempts"

    def outbox_due(self, tenant: str) -> str:
        """Sorted set: outbox entry id -> when it is next to be sent (ms); while one is being
        sent, when its lease ends (a replica that dies mid-delivery leaves it due then). The
        scripts name it as the outbox's name and ":due" (``lua/_events.lua``)."""
        return f"{self.outbox(tenant)}:due"

    def outbox_backlog(self, tenant: str) -> str:
        """Hash: webhook id -> its events waiting in the outbox (``lua/_events.lua`` caps it).
        The scripts name it as the outbox's name and ":backlog"."""
        return f"{self.outbox(tenant)}:backlog"

    def webhooks(self, tenant: str) -> str:
        """Hash: webhook id -> the team's webhook, JSON (``domain/webhooks.py``)."""
        return f"{self._team(tenant)}:webhooks"

    def webhooks_disabled(self, tenant: str) -> str:
        """Hash: webhook id -> why it is stopped (absent: it is delivered to)."""
        return f"{self._team(tenant)}:webhooks:disabled"

    def webhook_tested(self, tenant: str, webhook_id: str) -> str:
        """String: set while the webhook's last test event is too recent for another."""
        return f"{self._team(tenant)}:webhook-tested:{webhook_id}"

    def webhook_deliveries(self, tenant: str, webhook_id: str) -> str:
        """List: the webhook's latest delivery attempts, newest first, JSON each (capped)."""
        return f"{self._team(tenant)}:webhook-deliveries:{webhook_id}"

    def upload_rate(self, tenant: str, subject: str | None = None) -> str:
        """String: the team's GCRA upload-rate state (theoretical arrival time, microseconds),
        or one browser-token user's own."""
        if subject is not None:
            return f"{self._team(tenant)}:upload-rate:subject:{subject}"
        return f"{self._team(tenant)}:upload-rate"

    def file(self, team_id: str, file_id: str) -> str:
        """Hash: one uploaded file's record (Rivya's answer, the content's SHA-256)."""
        return f"{self._team(team_id)}:file:{file_id}"

    def file_by_content(self, team_id: str, sha256: str) -> str:
        """String: the id of the team's upload with this content."""
        return f"{self._team(team_id)}:file-sha:{sha256}"

    def file_by_url(self, team_id: str, url_digest: str) -> str:
        """String: the id of the team's upload with this Rivya URL (by the URL's digest)."""
        return f"{self._team(team_id)}:file-url:{url_digest}"

    def token_revocations(self, tenant: str) -> str:
        """Sorted set: subject -> the time (s) before which its browser tokens are revoked;
        member "*" for the whole team. Entries older than a token's longest life are pruned."""
        return f"{self._team(tenant)}:token-revocations"

    def subject_rate(self, tenant: str, subject: str) -> str:
        """String: one end user's GCRA create-rate state (theoretical arrival time, us)."""
        return f"{self._team(tenant)}:subject-rate:{subject}"

    def token_credits(self, tenant: str, token_id: str) -> str:
        """Hash: spent/reserved credits of one browser token (its usage, and its cap if it has
        one: a budget of its own, moved by the same money scripts)."""
        return f"{self._team(tenant)}:token-credits:{token_id}"

    def ledger(self, tenant: str) -> str:
        """Stream: the team's append-only spend ledger, one entry per money move (reserve,
        settle, release, …; ``lua/_money.lua``), capped at ``LEDGER_MAX_ENTRIES``."""
        return f"{self._team(tenant)}:ledger"

    def suspects(self, tenant: str) -> str:
        """Stream: the team's ledger entries that mean the books may not match Rivya's, under
        their ledger ids. Written by ``lua/_money.lua``, which names it as the ledger's name
        and ":suspects" (so it is in the ledger's slot)."""
        return f"{self.ledger(tenant)}:suspects"

    def reconciliation(self) -> str:
        """String (JSON): the baseline the reconciliation with Rivya's balance counts from."""
        return f"{self.prefix}:reconciliation-baseline"

    def team_tasks(self, team_id: str) -> str:
        """Sorted set: the team's task ids scored by creation time (ms)."""
        return f"{self._team(team_id)}:tasks"


@lru_cache(maxsize=4096)  # two lookups a create; the answer changes once a day per team
def spend_keys(keys: KeySpace, team_id: str, stamps: PeriodStamps) -> Periods:
    """The spend hashes of a reservation's periods: day, week, month and total."""
    day, week, month, total = (keys.spend(team_id, stamp) for stamp in stamps.all())
    return day, week, month, total


@lru_cache(maxsize=4096)
def key_spend_keys(keys: KeySpace, tenant: str, key_id: str, stamps: PeriodStamps) -> Periods:
    """One key's spend hashes of a reservation's periods: day, week, month and total. A create
    without a key (none has, today) names a placeholder the scripts never touch."""
    day, week, month, total = (keys.key_spend(tenant, key_id or "-", s) for s in stamps.all())
    return day, week, month, total
