"""PagerDuty and Prometheus Alertmanager (issue 5), composed: paged incidents get a channel, and
state stays in sync both ways.

In: ``POST /webhooks/pagerduty`` and ``POST /webhooks/alertmanager`` (handlers/webhooks/) run
the use cases in domain/paging/, which are the ones Slack runs. Out: a declare or status change
becomes outbox rows (written by :meth:`PagerDutyEvents.observe` in the change's transaction),
delivered by bot/delivery/pagerduty.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.delivery.pagerduty import PagerDutyDelivery
from bot.slack_ui.paging import resolve_prompt
from domain.paging.alertmanager import AlertGroupEvents
from domain.paging.pagerduty import PagerDutyConfig, PagerDutyEvents
from handlers.webhooks import alertmanager, pagerduty
from storage.uow import uow_factory

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    settings = container.settings
    # reads need not queue behind SQLite's one writer; the repositories are on the unit of work
    read = uow_factory(container.engine, container.clock)
    config = PagerDutyConfig(service_models=dict(settings.pagerduty_service_models),
                             default_model=settings.pagerduty_default_model,
                             routing_keys=dict(settings.pagerduty_routing_keys))
    events = PagerDutyEvents(container.service, container.policy, config, read)
    alerts = AlertGroupEvents(container.service, read, resolve_prompt)
    delivery = PagerDutyDelivery(settings, container.service, container.outbox_store,
                                 container.slack_client, container.uow_factory)
    container.features.pagerduty = events
    container.routes += [
        web.post("/webhooks/pagerduty", pagerduty.endpoint(
            events, pagerduty.secrets_from(settings.pagerduty_webhook_secret))),
        web.post("/webhooks/alertmanager", alertmanager.endpoint(alerts, settings.alertmanager_token)),
    ]
    container.service.observers.append(events.observe)
    container.dispatcher.handlers.update(delivery.handlers())
