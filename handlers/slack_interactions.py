"""Buttons on the announcement, the declare and note modals."""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.slack_ui.channel_lifecycle import is_checked
from bot.slack_ui.ids import ActionId, CallbackId, InputId
from bot.slack_ui.incident import NOT_AN_INCIDENT
from bot.slack_ui.modals import text_modal
from domain.channel_lifecycle import with_private_label
from domain.model import DomainError, Severity
from domain.services import DeclareIncident, IncidentRef
from handlers.shortcuts import declare_from_form
from handlers.slack_commands import DECLARE_CALLBACK, FAILED, confirmation
from handlers.slack_context import SlackContext

log = structlog.get_logger("handlers.interactions")

BUTTON_VERBS = {ActionId.ACK: "ack", ActionId.MITIGATE: "mitigate", ActionId.RESOLVE: "resolve",
                ActionId.REOPEN: "reopen"}


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """The status buttons, the Add note button and its form, and the declare form."""
    for action_id, verb in BUTTON_VERBS.items():
        app.action(action_id)(_status_button(ctx, verb))
    _register_note(app, ctx)
    _register_declare(app, ctx)


def _register_note(app: AsyncApp, ctx: SlackContext) -> None:
    @app.action(ActionId.NOTE)
    async def add_note_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        incident_id = body["actions"][0].get("value", "")
        try:
            uuid.UUID(incident_id)
        except (TypeError, ValueError):
            ctx.after_ack(ctx.reply(body, respond, NOT_AN_INCIDENT))
            return
        ctx.after_ack(ctx.open_modal(body, respond, body.get("trigger_id"), text_modal(
            CallbackId.NOTE, InputId.NOTE, title="Add a timeline note", submit="Add note",
            label="Note", metadata={"incident_id": incident_id})))

    @app.view(CallbackId.NOTE)
    async def note_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = (_value(view, InputId.NOTE) or "").strip()
        if not text:
            await ack(response_action="errors", errors={InputId.NOTE: "Write the note first."})
            return
        await ack()
        ctx.after_ack(add_note(body["user"], _metadata(view).get("incident_id", ""), text))

    async def add_note(user: dict[str, Any], incident_id: str, text: str) -> None:
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        try:
            await ctx.service.add_note(IncidentRef(incident_id=uuid.UUID(incident_id)), actor,
                                       text, echo=True)
        except (ValueError, DomainError) as exc:
            log.warning("note.refused", error=str(exc))


def _register_declare(app: AsyncApp, ctx: SlackContext) -> None:
    @app.view(DECLARE_CALLBACK)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        title = (_value(view, "title") or "").strip()
        severity_text = _value(view, "severity") or ""
        model = (_value(view, "model") or "").strip()
        errors: dict[str, str] = {}
        if not title:
            errors["title"] = "A title is required."
        severity = None
        try:
            severity = Severity.parse(severity_text)
        except DomainError as exc:
            errors["severity"] = str(exc)
        known = [m.name for m in await ctx.service.list_models()]
        if model.lower() not in {n.lower() for n in known}:
            errors["model"] = (f"Unknown model `{model}`. Valid: {', '.join(known)}"
                               if known else "No models registered yet.")[:150]
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        assert severity is not None
        ctx.after_ack(declare(body, view, title, severity, model))

    async def declare(body: dict[str, Any], view: dict[str, Any], title: str,
                      severity: Severity, model: str) -> None:
        user = body["user"]
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        labels = [x for x in (_value(view, "labels") or "").split(",") if x.strip()]
        labels = with_private_label(labels, is_checked(view), ctx.private_label)
        try:
            # a form opened from a message links it, in the declaration's transaction
            incident = await declare_from_form(ctx, view, DeclareIncident(
                title=title, severity=severity, model_name=model,
                description=(_value(view, "description") or "").strip() or None, labels=labels),
                actor)
            text = confirmation(incident.key, severity.label, model, title, ctx.incident_channel)
        except DomainError as exc:  # e.g. a role refusal: the user hears why, as from the command
            text = f":warning: {exc}"
        channel = _metadata(view).get("channel_id")
        try:
            if channel:
                await ctx.client.chat_postEphemeral(channel=channel, user=user["id"], text=text)
            else:
                raise LookupError("no origin channel")
        except Exception:  # the bot may not be in that channel: say it in a DM instead
            try:
                await ctx.client.chat_postMessage(channel=user["id"], text=text)
            except SlackApiError as exc:  # the declaration stands; only the confirmation is lost
                log.warning("declare.confirmation_undeliverable", error=str(exc.response.get("error")))


def _status_button(ctx: SlackContext, verb: str) -> Any:
    async def status_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        actions = body.get("actions") or [{}]
        ctx.after_ack(change_status(body, respond), key=f"incident:{actions[0].get('value')}")

    async def change_status(body: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            user = body["user"]
            incident_id = uuid.UUID(body["actions"][0]["value"])
            actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
            outcome = await ctx.service.change_status(IncidentRef(incident_id=incident_id),
                                                      verb, actor)
            if not outcome.changed:
                await ctx.reply(body, respond, f":information_source: {outcome.message}")
        except DomainError as exc:
            await ctx.reply(body, respond, f":warning: {exc}")
        except (KeyError, ValueError, IndexError, TypeError):
            await ctx.reply(body, respond, NOT_AN_INCIDENT)
        except Exception:  # e.g. the database is away: say so rather than drop the click
            log.exception("button.failed", verb=verb)
            await ctx.reply(body, respond, FAILED)

    status_button.__name__ = f"button_{verb}"
    return status_button


def _value(view: dict[str, Any], block_id: str) -> str | None:
    block = view.get("state", {}).get("values", {}).get(block_id, {})
    for element in block.values():
        if element.get("selected_option"):
            return element["selected_option"].get("value")
        if "value" in element:
            return element.get("value")
    return None


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
        return data if isinstance(data, dict) else {}
    except json.JSONDecodeError:
        return {}
