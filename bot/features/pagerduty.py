"""PagerDuty and Prometheus Alertmanager (issue 5), composed: paged incidents get a channel, and
state stays in sync both ways. On call and paging from Slack (issue 19, item 7): the ``oncall``
and ``page`` verbs, and the acknowledging responders invited (a step of the webhook use case).

In: ``POST /webhooks/pagerduty`` and ``POST /webhooks/alertmanager`` (handlers/webhooks/) run
the use cases in domain/paging/, which are the ones Slack runs. Out: a declare or status change
becomes outbox rows (written by the reactions of :class:`PagerDutyEvents` in the change's
transaction), delivered by bot/delivery/pagerduty.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.delivery.pagerduty import PagerDutyDelivery
from bot.delivery.paging_directory import PagerDutyRestDirectory, SlackPeople
from bot.slack_ui.paging import PagingTexts, resolve_prompt
from domain.events import IncidentDeclared, StatusChanged
from domain.paging.alertmanager import AlertGroupEvents
from domain.paging.oncall import OnCall, PagingConfig
from domain.paging.pagerduty import PagerDutyConfig, PagerDutyEvents
from domain.paging.pages import Paging
from handlers import paging_commands
from handlers.webhooks import alertmanager, pagerduty
from storage.paging_pages import page_log
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
    paging_config = PagingConfig(teams=dict(settings.pagerduty_teams),
                                 routing_keys=dict(settings.pagerduty_routing_keys),
                                 api_configured=bool(settings.pagerduty_api_token))
    directory, people = PagerDutyRestDirectory(settings), SlackPeople(container.slack_client)
    paging = Paging(container.service, paging_config, directory, people, page_log, PagingTexts())
    events = PagerDutyEvents(container.service, container.policy, config, acks=paging)
    alerts = AlertGroupEvents(container.service, read, resolve_prompt)
    delivery = PagerDutyDelivery(settings, container.service, container.outbox_store,
                                 container.slack_client, container.uow_factory)
    container.features.pagerduty = events
    container.routes += [
        web.post("/webhooks/pagerduty", pagerduty.endpoint(
            events, pagerduty.secrets_from(settings.pagerduty_webhook_secret))),
        web.post("/webhooks/alertmanager", alertmanager.endpoint(alerts, settings.alertmanager_token)),
    ]
    container.service.reactions.on(IncidentDeclared, events.on_declared)  # pages the on-call
    container.service.reactions.on(StatusChanged, events.on_status_changed)  # mirrored to PD
    container.dispatcher.handlers.update(delivery.handlers())
    paging_commands.register(container.slack.verbs, OnCall(directory, people, paging_config), paging)
