"""Related incidents and the catch-up from Slack (issue 19, items 9 and 5): ``/incident link``,
``/incident duplicate-of``, the *This is the same* button, ``/incident catchup`` and the
``member_joined_channel`` event. Parse, call one use case, reply."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import catchup as catchup_ui
from bot.slack_ui import related as ui
from bot.slack_ui.ids import ActionId
from domain.catchup import CatchUps
from domain.commands import Parsed
from domain.model import DomainError, Incident
from domain.related import RelatedIncidents
from domain.services import IncidentRef
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.related")

_NUMBER = re.compile(r"(?i)^(?:inc-?|#)?(\d{1,9})$")
FAILED = ":warning: That did not work (the bot could not complete it); nothing changed. Try again."


def refs(parsed: Parsed, body: dict[str, Any], usage: str) -> tuple[IncidentRef, IncidentRef]:
    """``verb 42`` in an incident channel (this incident, and 42) or ``verb 7 42`` anywhere."""
    rest = (parsed.rest or "").split()
    second = _NUMBER.match(rest[0]) if rest else None
    if parsed.number is not None and second:
        return IncidentRef(number=parsed.number), IncidentRef(number=int(second.group(1)))
    if parsed.number is not None and not rest:
        return IncidentRef(channel_id=body.get("channel_id")), IncidentRef(number=parsed.number)
    raise DomainError(usage)


def register(bolt: AsyncApp, ctx: SlackContext, related: RelatedIncidents,
             catchups: CatchUps) -> None:
    """The verbs, the status line, the *This is the same* button and the join event."""
    _register_verbs(ctx, related, catchups)
    _register_same_as(bolt, ctx, related)
    _register_join(bolt, ctx, catchups)


def _register_verbs(ctx: SlackContext, related: RelatedIncidents, catchups: CatchUps) -> None:
    async def link_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                           respond: AsyncRespond) -> None:
        this, other = refs(parsed, body, ui.LINK_USAGE)
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        assert other.number is not None
        incident, linked = await related.link(this, other.number, actor)
        await ctx.reply(body, respond, ui.linked_reply(incident, linked))

    async def duplicate_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                                respond: AsyncRespond) -> None:
        this, other = refs(parsed, body, ui.DUPLICATE_USAGE)
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        outcome = await related.duplicate_of(this, other, actor)
        await ctx.reply(body, respond, ui.duplicate_reply(outcome))

    async def catchup_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                              respond: AsyncRespond) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        view = await ctx.service.view(ref)
        [seen] = await ctx.shown_to([view], body.get("user_id", ""))
        if seen.incident.title != view.incident.title:  # private, and not a member (item 8)
            await ctx.reply(body, respond, f":lock: {view.incident.key} is private: its "
                            "catch-up is for the members of its channel.")
            return
        read_in = await catchups.read_in(ref)
        if body.get("response_url"):
            await respond(response_type="ephemeral", replace_original=False,
                          text=catchup_ui.text(read_in), blocks=catchup_ui.blocks(read_in))
        else:
            await ctx.reply(body, respond, catchup_ui.text(read_in))

    ctx.verbs.add("link", link_command, help=ui.LINK_HELP)
    ctx.verbs.add("duplicate-of", duplicate_command, aliases=("duplicate", "dup"))
    ctx.verbs.add("catchup", catchup_command, help=catchup_ui.CATCHUP_HELP,
                  aliases=("catch-up", "readin"))

    async def status_lines(incident: Incident) -> list[str]:
        line = ui.related_summary(await related.related(incident.id))
        return [line] if line else []

    ctx.status_notes.append(status_lines)


def _register_same_as(bolt: AsyncApp, ctx: SlackContext, related: RelatedIncidents) -> None:
    @bolt.action(ActionId.SAME_AS)
    async def same_as_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        ctx.after_ack(same_as(body, respond, value), key=f"incident:{value.partition(':')[0]}")

    async def same_as(body: dict[str, Any], respond: AsyncRespond, value: str) -> None:
        try:
            this, _, other = value.partition(":")
            refs_ = IncidentRef(incident_id=uuid.UUID(this)), IncidentRef(incident_id=uuid.UUID(other))
        except ValueError:
            await ctx.reply(body, respond, ":warning: That button is not attached to known incidents.")
            return
        try:
            user = body["user"]
            actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
            outcome = await related.duplicate_of(refs_[0], refs_[1], actor)
            await ctx.reply(body, respond, ui.duplicate_reply(outcome))
        except DomainError as exc:
            await ctx.reply(body, respond, f":warning: {exc}")
        except Exception:  # e.g. the database is away: say so rather than drop the click
            log.exception("same_as.failed")
            await ctx.reply(body, respond, FAILED)


def _register_join(bolt: AsyncApp, ctx: SlackContext, catchups: CatchUps) -> None:
    @bolt.event("member_joined_channel")
    async def member_joined(ack: AsyncAck, body: dict[str, Any], event: dict[str, Any],
                            context: dict[str, Any]) -> None:
        await ack()
        user, channel = event.get("user"), event.get("channel")
        if not isinstance(user, str) or not isinstance(channel, str) or not user or not channel:
            return
        if user == context.get("bot_user_id"):
            return  # the bot itself joining (it creates the channels): nothing to read in
        event_id = str(body.get("event_id") or f"{channel}:{user}:{event.get('event_ts')}")
        by_bot = bool(event.get("inviter")) and event.get("inviter") == context.get("bot_user_id")
        ctx.after_ack(joined(channel, user, event_id, by_bot), key=f"channel:{channel}")

    async def joined(channel: str, user: str, event_id: str, by_bot: bool) -> None:
        try:
            await catchups.joined(channel, user, event_id[:255], added_by_bot=by_bot)
        except Exception:  # a read-in is a courtesy; the join stands
            log.exception("catchup.join_failed", channel=channel)
