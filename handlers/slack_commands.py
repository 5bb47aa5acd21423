"""``/incident`` slash command: parse, ack at once, run one use case, reply ephemerally."""

from __future__ import annotations

import json
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import rendering
from domain.commands import HELP_TEXT, Parsed, parse
from domain.messages import escape
from domain.model import DomainError, Severity
from domain.services import DeclareIncident, IncidentRef, UnknownModel
from domain.state_machine import VERB_TARGET
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.commands")

DECLARE_CALLBACK = "declare_incident"
FAILED = (":boom: Something went wrong on our side; nothing was changed. "
          "Try again, and tell the bot's operators if it persists.")
Extra = dict[str, Any]


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.command("/incident")
    async def incident_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                               client: Any) -> None:
        parsed = parse(body.get("text", ""))
        if parsed.error:
            await ack(response_type="ephemeral", text=f":warning: {parsed.error}")
            return
        if parsed.verb == "help":
            await ack(response_type="ephemeral", text=HELP_TEXT)
            return
        await ack()
        ctx.after_ack(run(ctx, parsed, body, respond), key=incident_key(parsed, body))


def incident_key(parsed: Parsed, body: dict[str, Any]) -> str | None:
    """Which incident a command acts on, as it names it (a number, else the channel), so the
    commands on one incident apply in the order they were sent."""
    if parsed.verb in ("declare", "list", "models", "help"):
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
    user_id = body.get("user_id", "")
    actor = await ctx.actor(user_id, body.get("user_name"))
    ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
    service = ctx.service
    verb = parsed.verb
    extra = ctx.extensions.get("commands", {})

    async def say(text: str) -> None:
        await ctx.reply(body, respond, text)

    if verb == "declare":
        await declare(ctx, parsed, body, respond)
    elif verb in VERB_TARGET:
        outcome = await service.change_status(ref, verb, actor, reason=parsed.rest or None)
        await say(outcome.message if outcome.changed else f":information_source: {outcome.message}")
    elif verb == "note":
        outcome = await service.add_note(ref, actor, parsed.rest, echo=True)
        await say(f":memo: {outcome.message}")
    elif verb == "assign":
        assert parsed.user_id is not None
        outcome = await service.assign(ref, actor, parsed.user_id)
        await say(outcome.message)
    elif verb == "severity":
        assert parsed.severity is not None
        outcome = await service.change_severity(ref, actor, parsed.severity)
        await say(outcome.message)
    elif verb == "status":
        view = await service.view(ref)
        await say(rendering.status_text(view.incident, view.model, view.link, ctx.policy,
                                        ctx.clock.now()))
    elif verb == "timeline":
        view = await service.view(ref, with_timeline=True)
        await say(rendering.timeline_text(view.incident, view.timeline))
    elif verb == "list":
        views = await service.list_incidents()
        if not views:
            await say(":sunny: No open incidents.")
        else:
            lines = [f"*{len(views)} open incident(s)*"] + [
                f"• *{v.incident.key}* [{v.incident.severity.label}] {v.incident.status.value} "
                f"· `{v.model.name if v.model else '?'}` · {escape(v.incident.title)}" for v in views]
            await say("\n".join(lines))
    elif verb == "models":
        models = await service.list_models()
        if not models:
            await say("No models registered. Add one with `incident-bot models add NAME "
                      "--version V --stage production --team T`.")
        else:
            await say("*Registered models*\n" + "\n".join(
                f"• `{m.name}` v{m.version} · {m.stage.value} · team {m.team}"
                + (f" · {', '.join(m.labels)}" if m.labels else "") for m in models))
    elif verb in extra:
        await extra[verb](ctx, parsed, body, respond)
    else:
        await say(f":information_source: `/incident {verb}` is not enabled on this bot.\n{HELP_TEXT}")


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
