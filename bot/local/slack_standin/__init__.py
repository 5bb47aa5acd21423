"""A local stand-in for the Slack Web API, for the demo and for end-to-end tests.

Why: the bot talks to Slack through the real ``slack_sdk`` ``AsyncWebClient``; pointing its
``base_url`` here lets the whole product run with no Slack workspace and lets tests see exactly
what the bot asked Slack to do. Responses copy the shape of Slack's real Web API (HTTP 200 with
``ok: false`` and Slack's own error strings for API errors, HTTP 429 + ``Retry-After`` for rate
limits), so code that works here has been exercised against the contract it will meet in
production. Where real Slack silently accepts something that is almost certainly a bug (a reply
to a message that does not exist, a file uploaded with a wrong length) the stand-in still answers
like Slack but notes it in :attr:`SlackStandIn.anomalies` so tests can fail on it.

Routes served (all under the base URL's origin):

* ``/api/<method>``          Web API methods (GET or POST; query string, form or JSON bodies).
* ``/upload/v1/<id>``        the ``upload_url`` handed out by ``files.getUploadURLExternal``.
* ``/files/<id>/<name>``     ``url_private`` downloads of uploaded files (needs the bot token).
* ``/response/<id>``         ``response_url`` targets for slash commands and interactions; they
                             are minted with :meth:`SlackStandIn.new_response_url` (the
                             :class:`bot.local.slack_driver.SlackDriver` does this) and recorded in
                             :attr:`SlackStandIn.responses`.

Faults real Slack shows: refused work (:meth:`SlackStandIn.fail_next`, ``rate_limit_next``,
``error_next``, ``drop_next``), outages (``set_down``, ``go_offline``), slowness (``set_latency``),
and work done whose answer is lost or late (:meth:`SlackStandIn.fail_after_next`,
``drop_after_next``, ``delay_after_next``; such calls carry ``fault`` and ``performed``).
Message ``metadata`` is stored and returned by ``conversations.history`` / ``replies`` only with
``include_all_metadata``, as Slack does.

Everything runs on one asyncio loop and every handler mutates state without awaiting in the
middle, so many concurrent requests are safe without locks.

The package splits the stand-in by Web API family (``chat``, ``conversations``, ``users_views``,
``files``, ``responses``) as mixins over :class:`~bot.local.slack_standin.workspace.Workspace`;
:mod:`~bot.local.slack_standin.faults` injects failures and :mod:`~bot.local.slack_standin.server`
is the HTTP app. Import everything from here.
"""

from bot.local.slack_standin.blocks import validate_blocks, validate_view
from bot.local.slack_standin.model import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    CHANNEL_NAME_MAX,
    DEFAULT_INCIDENT_CHANNEL,
    DEFAULT_INCIDENT_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    JSON,
    MESSAGE_BLOCKS_MAX,
    PURPOSE_MAX,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    SEED_USERS,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    TEXT_MAX,
    TOPIC_MAX,
    VIEW_BLOCKS_MAX,
    Call,
    CallHook,
    Handler,
    SlackError,
)
from bot.local.slack_standin.server import SlackStandIn

__all__ = [
    "APP_ID", "BOT_ID", "BOT_NAME", "BOT_USER_ID", "CHANNEL_NAME_MAX", "DEFAULT_INCIDENT_CHANNEL",
    "DEFAULT_INCIDENT_CHANNEL_ID", "GENERAL_CHANNEL_ID", "JSON", "MESSAGE_BLOCKS_MAX", "PURPOSE_MAX",
    "RESPONSE_URL_TTL", "RESPONSE_URL_USES", "SEED_USERS", "TEAM_DOMAIN", "TEAM_ID", "TEAM_NAME",
    "TEXT_MAX", "TOPIC_MAX", "VIEW_BLOCKS_MAX", "Call", "CallHook", "Handler", "SlackError",
    "SlackStandIn", "validate_blocks", "validate_view",
]
