"""The teams' webhooks and the deliveries of every outbox (webhook events and budget alerts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.clock import Clock
from app.metrics import Metrics
from app.services.alerts import BudgetAlerts, Webhook
from app.services.deliveries import Deliveries
from app.services.result_links import ResultLinks
from app.services.rivya_hints import RivyaHints
from app.services.webhook_events import WebhookEvents
from app.services.webhook_sender import WebhookSender
from app.services.webhook_targets import Targets
from app.services.webhooks import WebhookService
from app.settings import Settings
from app.upstream.client import RivyaClient
from app.wiring.resources import Resources
from app.wiring.stores import Stores

# A delivery's lease outlasts its longest attempt twice over, so another replica takes it over
# only from one that died or stalled.
LEASE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class WebhookParts:
    service: WebhookService
    deliveries: Deliveries


def webhook_parts(
    settings: Settings,
    stores: Stores,
    resources: Resources,
    clock: Clock,
    metrics: Metrics,
    links: ResultLinks,
) -> WebhookParts:
    targets = Targets(settings.webhook_target_policy, resources.resolver)
    service = WebhookService(
        stores.webhooks,
        stores.outbox,
        targets,
        clock,
        most=settings.webhooks_per_team,
        overlap_seconds=settings.webhook_rotation_overlap_hours * 3600,
    )
    deliveries = Deliveries(
        stores.outbox,
        stores.webhooks,
        WebhookEvents(stores.tasks, links, settings.gateway_public_url),
        WebhookSender(
            resources.webhooks,
            targets,
            clock,
            deadline_seconds=settings.webhook_timeout_seconds,
        ),
        BudgetAlerts(clock, _alert_receiver(settings, resources)),
        clock,
        metrics,
        policy=settings.webhook_retry_policy,
        lease_seconds=2 * _longest_attempt(settings) + LEASE_MARGIN_SECONDS,
        at_once=settings.webhook_deliveries_at_once,
        per_team=settings.webhook_deliveries_per_team,
    )
    return WebhookParts(service, deliveries)


def _longest_attempt(settings: Settings) -> float:
    """A webhook's (resolving its name and the POST, all told) or a budget alert's."""
    return max(settings.webhook_timeout_seconds, settings.alert_webhook_timeout_seconds)


def _alert_receiver(settings: Settings, resources: Resources) -> Webhook | None:
    secret, client = settings.alert_webhook_secret, resources.alerts
    if settings.alert_webhook_url is None or secret is None or client is None:
        return None
    return Webhook(
        settings.alert_webhook_url,
        secret.get_secret_value(),
        client,
        attempts=settings.alert_webhook_attempts,
    )


def rivya_hints(
    settings: Settings, stores: Stores, upstream: RivyaClient, wake: Callable[[], None]
) -> RivyaHints | None:
    """Rivya's webhook taken as hints, when RIVYA_WEBHOOK_URL says where Rivya reaches us."""
    if not settings.rivya_webhook_url:
        return None
    return RivyaHints(
        stores.queue,
        stores.teams,
        upstream,
        wake,
        min_interval_seconds=settings.rivya_hint_min_seconds,
    )
