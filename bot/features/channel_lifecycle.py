"""Channel lifecycle (issue 19 item 8), composed here: channel names from CHANNEL_NAME_TEMPLATE,
private incidents (a private channel, the title shown only to channel members) and the
channel archived ARCHIVE_AFTER_DAYS after close.

Rules and use cases: ``domain/channel_names.py``, ``domain/channel_lifecycle.py``; tables:
``storage/channel_tables.py`` behind ``storage/channel_lifecycle.py``; delivery:
``bot/delivery/channel_lifecycle.py``; words: ``bot/slack_ui/channel_lifecycle.py``; Slack's
archive events: ``handlers/channel_lifecycle.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.delivery.channel_lifecycle import ChannelKeeper
from bot.slack_ui.channel_lifecycle import last_words
from domain.channel_lifecycle import ARCHIVE_CHANNEL, ChannelLifecycle
from domain.channel_names import parse_template
from handlers import channel_lifecycle as archive_events
from storage.channel_lifecycle import SqlChannelRepository

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    settings = container.settings
    lifecycle = ChannelLifecycle(container.service, SqlChannelRepository,
                                 settings.status_page_private_label,
                                 settings.archive_after_days, last_words)
    container.features.channel_lifecycle = lifecycle
    container.slack.private_label = settings.status_page_private_label
    container.slack.visible_to = lifecycle.shown_to
    delivery = container.features.slack_delivery
    if delivery is not None:
        keeper = ChannelKeeper(delivery, lifecycle, parse_template(settings.channel_name_template),
                               SqlChannelRepository, container.uow_factory, container.clock,
                               container.policy)
        delivery.channels = keeper
        lifecycle.member_lookup = keeper.members
        container.dispatcher.handlers[ARCHIVE_CHANNEL] = keeper.archive
    archive_events.register(container.bolt, container.slack, lifecycle)
    if settings.archive_after_days > 0:
        container.scheduler.add_job(lifecycle.archive_due, "interval", hours=1,
                                    id="channel-archiver", max_instances=1, coalesce=True)
