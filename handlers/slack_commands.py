"""``/incident`` slash command: parse, ack at once, run one use case, reply ephemerally."""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import rendering
from domain.commands import Parsed, parse
from domain.messages import escape
from domain.model import Actor, DomainError, Severity
from domain.services import DeclareIncident, IncidentRef, UnknownModel
from handlers.slack_context import SlackContext
from handlers.verbs import Verb

log = structlog.get_logger("handlers.commands")

DECLARE_CALLBACK = "declare_incident"
FAILED = (":boom: Something went wrong on our side; nothing was changed. "
          "Try again, and tell the bot's operators if it persists.")


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
    view = await ctx.service.view(_ref(parsed, body))
    await ctx.reply(body, respond, rendering.status_text(view.incident, view.model, view.link,
                                                         ctx.policy, ctx.clock.now()))


async def timeline(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                   respond: AsyncRespond) -> None:
    view = await ctx.service.view(_ref(parsed, body), with_timeline=True)
    await ctx.reply(body, respond, rendering.timeline_text(view.incident, view.timeline))


async def list_incidents(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                         respond: AsyncRespond) -> None:
    views = await ctx.service.list_incidents()
    if not views:
        await ctx.reply(body, respond, ":sunny: No open incidents.")
        return
    lines = [f"*{len(views)} open incident(s)*"] + [
        f"• *{v.incident.key}* [{v.incident.severity.label}] {v.incident.status.value} "
        f"· `{v.model.name if v.model else '?'}` · {escape(v.incident.title)}" for v in views]
    await ctx.reply(body, respond, "\n".join(lines))


async def list_models(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                      respond: AsyncRespond) -> None:
    models = await ctx.service.list_models()
    if not models:
        await ctx.reply(body, respond, "No models registered. Add one with `incident-bot models "
                                       "add NAME --version V --stage production --team T`.")
        return
    notes = [line for note in ctx.model_notes for line in await note()]
    await ctx.reply(body, respond, "*Registered models*\n" + "\n".join(
        f"• `{m.name}` v{m.version} · {m.stage.value} · team {m.team}"
        + (f" · {', '.join(m.labels)}" if m.labels else "") for m in models) + "".join(
        f"\n{line}" for line in notes))


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
    incident = await ctx.service.declare(
        DeclareIncident(title=parsed.title, severity=parsed.severity, model_name=parsed.model),
        actor)
    await ctx.reply(body, respond, confirmation(incident.key, incident.severity.label,
                                                parsed.model, incident.title,
                                                ctx.incident_channel))


def confirmation(key: str, label: str, model: str, title: str, channel: str) -> str:
    return (f":white_check_mark: Declared *{key}* [{label}] on `{model}`: {escape(title)}. "
            f"Announced in #{channel}; the incident channel is being created and you will be "
            "invited.")


def declare_modal(parsed: Parsed, model_names: list[str], channel_id: str | None) -> dict[str, Any]:
    severity_options = [_option(f"{s.label} ({s.value.upper()})", s.value) for s in Severity]
    model_options = [_option(n, n) for n in model_names[:100]]
    severity_select: dict[str, Any] = {"type": "static_select", "action_id": "severity",
                                       "options": severity_options,
                                       "placeholder": _plain("Pick a severity")}
    if parsed.severity:
        severity_select["initial_option"] = _option(
            f"{parsed.severity.label} ({parsed.severity.value.upper()})", parsed.severity.value)
    model_element: dict[str, Any]
    if model_options:
        model_element = {"type": "static_select", "action_id": "model", "options": model_options,
                         "placeholder": _plain("Pick the affected model")}
        if parsed.model:
            model_element["initial_option"] = _option(parsed.model, parsed.model)
    else:
        model_element = {"type": "plain_text_input", "action_id": "model"}
    title_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "title",
                                   "max_length": 500}
    if parsed.title:
        title_input["initial_value"] = parsed.title
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "title", "label": _plain("Title"),
             "element": title_input},
            {"type": "input", "block_id": "severity", "label": _plain("Severity"),
             "element": severity_select},
            {"type": "input", "block_id": "model", "label": _plain("Model"),
             "element": model_element},
            {"type": "input", "block_id": "description", "optional": True,
             "label": _plain("Description"),
             "element": {"type": "plain_text_input", "action_id": "description",
                         "multiline": True}},
            {"type": "input", "block_id": "labels", "optional": True,
             "label": _plain("Labels (comma separated)"),
             "element": {"type": "plain_text_input", "action_id": "labels"}},
        ],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


CORE_VERBS: tuple[Verb, ...] = (
    Verb("declare", declare, scoped=False, aliases=("open", "new"), help=(
        "`/incident declare P1 credit-risk-v3 Null predictions since 14:02`: declare at once\n"
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
