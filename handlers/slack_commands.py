"""``/incident`` slash command: parse, ack at once, run one use case, reply ephemerally."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import incident as rendering
from bot.slack_ui.commands import DECLARE_CALLBACK as DECLARE_CALLBACK  # for handlers/slack_interactions
from bot.slack_ui.commands import (
    FAILED,
    confirmation,
    declare_modal,
    incidents_text,
    models_text,
)
from domain.commands import Parsed, parse
from domain.model import Actor, DomainError
from domain.services import DeclareIncident, IncidentRef, UnknownModel
from handlers.slack_context import SlackContext
from handlers.verbs import Verb

log = structlog.get_logger("handlers.commands")


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """The core verbs into ``ctx.verbs``, and the one ``/incident`` listener reading it."""
    for verb in CORE_VERBS:
        ctx.verbs.include(verb)

    @app.command("/incident")
    async def incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                               client: Any) -> None:
        parsed = parse(body.get("text", ""), ctx.verbs.grammar())
        if parsed.error:
            await ack(response_type="ephemeral", text=f":warning: {parsed.error}")
            return
        if parsed.verb == "help":
            await ack(response_type="ephemeral", text=ctx.verbs.help_text())
            return
        await ack()
        ctx.after_ack(run(ctx, parsed, body, respond), key=incident_key(ctx, parsed, body))


def incident_key(ctx: SlackContext, parsed: Parsed, body: dict[str, Any]) -> str | None:
    """Which incident a command acts on, as it names it (a number, else the channel), so the
    commands on one incident apply in the order they were sent."""
    verb = ctx.verbs.get(parsed.verb)
    if verb is None or not verb.scoped:
        return None
    if parsed.number is not None:
        return f"incident-number:{parsed.number}"
    return f"channel:{body.get('channel_id', '')}"


async def run(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
              respond: AsyncRespond) -> None:
    """One acked ``/incident`` command; every failure becomes an ephemeral reply."""
    try:
        await dispatch(ctx, parsed, body, respond)
    except DomainError as exc:
        await ctx.reply(body, respond, f":warning: {exc}")
    except Exception:
        log.exception("command.failed", verb=parsed.verb)
        await ctx.reply(body, respond, FAILED)


async def dispatch(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                   respond: AsyncRespond) -> None:
    """The verb's handler from the table (the parser only lets known verbs through)."""
    verb = ctx.verbs.get(parsed.verb)
    if verb is None:
        await ctx.reply(body, respond, f":information_source: `/incident {parsed.verb}` is not "
                                       f"enabled on this bot.\n{ctx.verbs.help_text()}")
        return
    await verb.handler(ctx, parsed, body, respond)


def _ref(parsed: Parsed, body: dict[str, Any]) -> IncidentRef:
    return IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))


async def _actor(ctx: SlackContext, body: dict[str, Any]) -> Actor:
    return await ctx.actor(body.get("user_id", ""), body.get("user_name"))


async def change_status(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                        respond: AsyncRespond) -> None:
    outcome = await ctx.service.change_status(_ref(parsed, body), parsed.verb,
                                              await _actor(ctx, body), reason=parsed.rest or None)
    await ctx.reply(body, respond, outcome.message if outcome.changed
                    else f":information_source: {outcome.message}")


async def note(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
               respond: AsyncRespond) -> None:
    outcome = await ctx.service.add_note(_ref(parsed, body), await _actor(ctx, body),
                                         parsed.rest, echo=True)
    await ctx.reply(body, respond, f":memo: {outcome.message}")


async def assign(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                 respond: AsyncRespond) -> None:
    assert parsed.user_id is not None  # the parser refuses an assign without a mention
    outcome = await ctx.service.assign(_ref(parsed, body), await _actor(ctx, body),
                                       parsed.user_id)
    await ctx.reply(body, respond, outcome.message)


async def severity(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                   respond: AsyncRespond) -> None:
    assert parsed.severity is not None  # the parser refuses a severity change without one
    outcome = await ctx.service.change_severity(_ref(parsed, body), await _actor(ctx, body),
                                                parsed.severity)
    await ctx.reply(body, respond, outcome.message)


async def status(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                 respond: AsyncRespond) -> None:
    read = await ctx.service.view(_ref(parsed, body))
    [view] = await ctx.shown_to([read], body.get("user_id", ""))
    text = rendering.status_text(view.incident, view.model, view.link, ctx.policy, ctx.clock.now())
    # the features' lines from the incident as read (shown_to may redact a copy's title)
    notes = [line for note in ctx.status_notes for line in await note(read.incident)]
    await ctx.reply(body, respond, "\n".join([text, *notes]))


async def timeline(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                   respond: AsyncRespond) -> None:
    [view] = await ctx.shown_to([await ctx.service.view(_ref(parsed, body), with_timeline=True)],
                                body.get("user_id", ""))
    await ctx.reply(body, respond, rendering.timeline_text(view.incident, view.timeline))


async def list_incidents(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                         respond: AsyncRespond) -> None:
    views = await ctx.shown_to(await ctx.service.list_incidents(with_links=True),
                               body.get("user_id", ""))
    await ctx.reply(body, respond, incidents_text([(v.incident, v.model) for v in views]))


async def list_models(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                      respond: AsyncRespond) -> None:
    models = await ctx.service.list_models()
    notes = [line for note in ctx.model_notes for line in await note()] if models else []
    await ctx.reply(body, respond, models_text(models, notes))


async def show_help(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                    respond: AsyncRespond) -> None:
    """Answered in the ack itself; here for the table's sake (and a replayed request)."""
    await ctx.reply(body, respond, ctx.verbs.help_text())


async def declare(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                  respond: AsyncRespond) -> None:
    models = await ctx.service.list_models()
    names = [m.name for m in models]
    if parsed.model and parsed.model.lower() not in {n.lower() for n in names}:
        if not parsed.missing:
            raise UnknownModel(parsed.model, names)
        parsed.model = None  # an unknown guess in a partial command: let the form ask
    if parsed.missing:
        await ctx.open_modal(body, respond, body.get("trigger_id"),
                             declare_modal(parsed, names, body.get("channel_id")))
        return
    assert parsed.severity and parsed.model and parsed.title
    actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
    labels = [ctx.private_label] if parsed.private else []  # issue 19 item 8
    incident = await ctx.service.declare(
        DeclareIncident(title=parsed.title, severity=parsed.severity, model_name=parsed.model,
                        labels=labels),
        actor)
    await ctx.reply(body, respond, confirmation(incident.key, incident.severity.label,
                                                parsed.model, incident.title,
                                                ctx.incident_channel))


CORE_VERBS: tuple[Verb, ...] = (
    Verb("declare", declare, scoped=False, aliases=("open", "new"), help=(
        "`/incident declare P1 credit-risk-v3 Null predictions since 14:02`: declare at once "
        "(`--private`: a private channel, the title shown only to its members)\n"
        "`/incident declare`: open the declare form")),
    Verb("ack", change_status, aliases=("acknowledge",),
         help="`/incident ack | mitigate | resolve [reason] | reopen [reason] | close`: "
              "change status"),
    Verb("mitigate", change_status),
    Verb("resolve", change_status),
    Verb("reopen", change_status),
    Verb("close", change_status),
    Verb("note", note, aliases=("notes",), help="`/incident note <text>`: add a timeline note"),
    Verb("assign", assign, aliases=("ic", "commander"),
         help="`/incident assign @user`: set the Incident Commander"),
    Verb("severity", severity, aliases=("sev",), help="`/incident severity P2`: change severity"),
    Verb("status", status, aliases=("show",),
         help="`/incident status | timeline`: show this incident / its timeline"),
    Verb("list", list_incidents, scoped=False, aliases=("ls",),
         help="`/incident list`: open incidents · `/incident models`: registered models"),
    Verb("timeline", timeline),
    Verb("models", list_models, scoped=False),
    Verb("help", show_help, scoped=False, aliases=("?",)),
)
