"""Incident roles and the update reminder's snooze from Slack (issue 19, items 1 and 6):
``/incident role <role> @user|me|none``, the announcement's *Take a role* menu and the
reminder's *Snooze 15m / 30m / 1h* buttons. Parse, call one use case, reply ephemerally."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import roles as ui
from bot.slack_ui import timers as reminder_ui
from bot.slack_ui.commands import FAILED
from bot.slack_ui.ids import ActionId
from bot.slack_ui.mrkdwn import mentioned_user
from domain.commands import Parsed
from domain.model import DomainError
from domain.reminders import ReminderMessage, ReminderSnoozes
from domain.roles import IncidentRoles, RoleRequest, parse_role_request
from domain.services import IncidentRef
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.roles")

NOT_A_REMINDER = ":warning: This button lost its incident; post an update with `/incident update <text>`."


def register(bolt: AsyncApp, ctx: SlackContext, roles: IncidentRoles, snoozes: ReminderSnoozes) -> None:
    """The ``role`` verb, the *Take a role* menu and the snooze buttons."""

    async def role_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                           respond: AsyncRespond) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        if not parsed.rest.strip():  # `/incident roles`: who holds what, and how to take one
            view = await ctx.service.view(ref)  # names no title: fine for a private incident too
            held = (await roles.holders([view.incident]))[view.incident.id]
            await ctx.reply(body, respond, ui.roles_reply(view.incident, held, ctx.policy))
            return
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        request = parse_role_request(parsed.rest, actor.id, ctx.policy, mentioned_user)
        outcome = await roles.set(ref, actor, request)
        await ctx.reply(body, respond, outcome.message if outcome.changed
                        else f":information_source: {outcome.message}")

    ctx.verbs.add("role", role_command, help=ui.ROLE_HELP, aliases=("roles",))

    @bolt.action(ActionId.TAKE_ROLE)
    async def take_role(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        incident = str(action.get("block_id", "")).removeprefix("roles:")
        ctx.after_ack(take(body, respond), key=f"incident:{incident}")

    async def take(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            action = body["actions"][0]
            incident_id = uuid.UUID(str(action["block_id"]).removeprefix("roles:"))
            role = str(action["selected_option"]["value"])
            user = body["user"]
        except (KeyError, ValueError, IndexError, TypeError):
            await ctx.reply(body, respond, ui.NOT_A_ROLE_MENU)
            return
        await _guarded(ctx, body, respond, _take(ctx, roles, body, respond, incident_id, role, user))

    for action_id in reminder_ui.SNOOZE_FOR:
        bolt.action(action_id)(_snooze_button(ctx, snoozes))


async def _take(ctx: SlackContext, roles: IncidentRoles, body: dict[str, Any], respond: AsyncRespond,
                incident_id: uuid.UUID, role: str, user: dict[str, Any]) -> None:
    actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
    outcome = await roles.set(IncidentRef(incident_id=incident_id), actor, RoleRequest(role, actor.id))
    await ctx.reply(body, respond, outcome.message if outcome.changed
                    else f":information_source: {outcome.message}")


async def _guarded(ctx: SlackContext, body: dict[str, Any], respond: AsyncRespond, work: Any) -> None:
    """Run a click's work; a refusal or a failure becomes an ephemeral reply."""
    try:
        await work
    except DomainError as exc:
        await ctx.reply(body, respond, f":warning: {exc}")
    except Exception:  # e.g. the database is away: say so rather than drop the click
        log.exception("roles.click_failed")
        await ctx.reply(body, respond, FAILED)


def _snooze_button(ctx: SlackContext, snoozes: ReminderSnoozes) -> Any:
    async def snooze_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        ctx.after_ack(snooze(body, respond), key=f"incident:{action.get('value')}")

    async def snooze(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            action = body["actions"][0]
            incident_id = uuid.UUID(str(action["value"]))
            wanted = reminder_ui.SNOOZE_FOR[action["action_id"]]
            user = body["user"]
        except (KeyError, ValueError, IndexError, TypeError):
            await ctx.reply(body, respond, NOT_A_REMINDER)
            return
        await _guarded(ctx, body, respond, run(body, respond, incident_id, wanted, user))

    async def run(body: dict[str, Any], respond: AsyncRespond, incident_id: uuid.UUID, wanted: Any,
                  user: dict[str, Any]) -> None:
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        ts = message.get("ts") or (body.get("container") or {}).get("message_ts")
        where = (ReminderMessage(str(channel), str(ts), str(message.get("text", "")))
                 if channel and ts else None)
        outcome = await snoozes.snooze(IncidentRef(incident_id=incident_id), actor, wanted, where)
        await ctx.reply(body, respond, reminder_ui.snoozed_reply(outcome.incident, outcome.until,
                                                                 outcome.cut))

    return snooze_button
