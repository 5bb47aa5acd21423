"""Model actions from Slack (issue 18): the buttons under "What changed?", the rollback request's
Approve / Reject, their modals, and the ``/incident changes|rollback|accept-drift|snooze|retrain``
verbs. Thin: parse, call one use case of :class:`domain.model_actions.service.ModelActions`, reply.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.registry.hooks import verify
from bot.slack_ui import model_actions as ui
from bot.slack_ui.incident import NOT_AN_INCIDENT, NOT_AN_INCIDENT_FORM
from domain.commands import Parsed
from domain.model import DomainError
from domain.model_actions.changes import DEFAULT_WINDOW
from domain.services import IncidentRef
from handlers.slack_commands import FAILED
from handlers.slack_context import SlackContext
from handlers.slack_interactions import _metadata, _value

if TYPE_CHECKING:
    from bot.features.model_actions import ModelActionsFeature

log = structlog.get_logger("handlers.model_actions")
JSON = dict[str, Any]
VERSION_RE = re.compile(r"(?i)^(?:to\s+)?v?([A-Za-z0-9._-]{1,50})$")


def _user(body: JSON) -> tuple[str, str | None]:
    user = body.get("user") or {}
    return str(user.get("id", "")), user.get("username") or user.get("name")


def _origin(body: JSON) -> JSON:
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    return {"channel_id": channel} if channel else {}


async def tell(ctx: SlackContext, user_id: str, channel: str | None, text: str) -> None:
    """After a modal: an ephemeral note where the user clicked, else a DM."""
    try:
        if channel:
            await ctx.client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            return
    except Exception as exc:  # not in that channel: a DM instead
        log.info("model_actions.ephemeral_failed", error=str(exc)[:200])
    try:
        await ctx.client.chat_postMessage(channel=user_id, text=text)
    except Exception as exc:  # the action stands; only the note is lost
        log.warning("model_actions.reply_undeliverable", error=str(exc)[:200])


async def guarded(ctx: SlackContext, body: JSON, respond: Any, work: Awaitable[str | None]) -> None:
    """Run a click's work; a refusal is an ephemeral :warning:, a failure says so."""
    try:
        text = await work
    except DomainError as exc:
        text = f":warning: {exc}"
    except (KeyError, ValueError, TypeError):
        text = NOT_AN_INCIDENT
    except Exception:
        log.exception("model_actions.click_failed")
        text = FAILED
    if text:
        await ctx.reply(body, respond, text)


def register(app: AsyncApp, ctx: SlackContext, feature: ModelActionsFeature) -> None:
    actions = feature.actions

    @app.action(ui.ROLLBACK)
    async def rollback_button(ack: AsyncAck, body: JSON, respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(guarded(ctx, body, respond, open_rollback(body, respond)))

    async def open_rollback(body: JSON, respond: Any) -> str | None:
        incident_id = uuid.UUID(body["actions"][0]["value"])
        form = await actions.rollback_form(IncidentRef(incident_id=incident_id))
        if form.open_request is not None:
            r = form.open_request
            return (f":hourglass: A rollback to v{r.to_version} asked by {r.requested_by_name} is "
                    "waiting for the Incident Commander's approval in the thread.")
        await ctx.open_modal(body, respond, body.get("trigger_id"), ui.rollback_modal(
            str(incident_id), form.model, form.alias, form.current, form.default, form.versions,
            _origin(body)))
        return None

    @app.view(ui.ROLLBACK_CALLBACK)
    async def rollback_submitted(ack: AsyncAck, body: JSON, view: JSON) -> None:
        version = (_value(view, "version") or "").strip()
        reason = (_value(view, "reason") or "").strip()
        errors = {k: v for k, v in (("version", "Pick a version." if not version else ""),
                                    ("reason", "Say why (it is audited)." if len(reason) < 3 else "")) if v}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        meta = _metadata(view)
        ctx.after_ack(request_from_modal(body, meta, version, reason))

    async def request_from_modal(body: JSON, meta: JSON, version: str, reason: str) -> None:
        user_id, name = _user(body)
        try:
            actor = await ctx.actor(user_id, name)
            rollback = await actions.request_rollback(
                IncidentRef(incident_id=uuid.UUID(meta["incident_id"])), actor, version, reason,
                alias=str(meta.get("alias") or "champion"))
            text = ui.rollback_requested_reply(rollback)
        except DomainError as exc:
            text = f":warning: {exc}"
        except (KeyError, ValueError):
            text = NOT_AN_INCIDENT_FORM
        await tell(ctx, user_id, meta.get("channel_id"), text)

    for action_id, approve in ((ui.APPROVE, True), (ui.REJECT, False)):
        app.action(action_id)(_decision(ctx, feature, approve))

    _register_drift_buttons(app, ctx, feature)


def _decision(ctx: SlackContext, feature: ModelActionsFeature, approve: bool) -> Any:
    async def decision_button(ack: AsyncAck, body: JSON, respond: AsyncRespond) -> None:
        await ack()
        value = ((body.get("actions") or [{}])[0]).get("value", "")
        # clicks on one request run one after another: a double click finds it decided
        ctx.after_ack(guarded(ctx, body, respond, decide(body, value)), key=f"rollback:{value}")

    async def decide(body: JSON, value: str) -> str | None:
        user_id, name = _user(body)
        actor = await ctx.actor(user_id, name)
        await feature.actions.decide_rollback(uuid.UUID(value), actor, approve)
        return None  # the thread says it to everyone

    decision_button.__name__ = f"rollback_{'approve' if approve else 'reject'}"
    return decision_button


def _register_drift_buttons(app: AsyncApp, ctx: SlackContext, feature: ModelActionsFeature) -> None:
    """Accept drift and Snooze open a modal (how long, why); Retrain triggers the pipeline."""
    forms = {ui.ACCEPT_DRIFT: (ui.ACCEPT_CALLBACK, "Accept drift", "Re-baseline", "7d",
                               "Accept until (e.g. 7d, at most 90d)"),
             ui.SNOOZE: (ui.SNOOZE_CALLBACK, "Snooze drift alerts", "Snooze", "4h",
                         "Snooze for (e.g. 4h, at most 7d)")}
    for action_id, (callback, title, submit, default, hint) in forms.items():
        app.action(action_id)(_form_button(ctx, callback, title, submit, default, hint))

    @app.view(ui.ACCEPT_CALLBACK)
    async def accept_submitted(ack: AsyncAck, body: JSON, view: JSON) -> None:
        await _duration_submitted(ctx, ack, body, view, accept)

    @app.view(ui.SNOOZE_CALLBACK)
    async def snooze_submitted(ack: AsyncAck, body: JSON, view: JSON) -> None:
        await _duration_submitted(ctx, ack, body, view, snooze)

    async def accept(ref: IncidentRef, actor: Any, reason: str, duration: str) -> str:
        return await accept_drift(feature, ref, actor, reason, duration)

    async def snooze(ref: IncidentRef, actor: Any, reason: str, duration: str) -> str:
        done = await feature.drift.snooze(ref, actor, reason, duration)
        return f":zzz: Drift alerts of `{done.model}` snoozed until {done.until:%Y-%m-%d %H:%M} UTC."

    @app.action(ui.RETRAIN)
    async def retrain_button(ack: AsyncAck, body: JSON, respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(guarded(ctx, body, respond, retrain(body)))

    async def retrain(body: JSON) -> str:
        user_id, name = _user(body)
        run = await feature.drift.retrain(IncidentRef(incident_id=uuid.UUID(body["actions"][0]["value"])),
                                          await ctx.actor(user_id, name))
        return f":gear: Retraining of `{run.model}` requested; its run is recorded in the thread."


async def accept_drift(feature: ModelActionsFeature, ref: IncidentRef, actor: Any, reason: str,
                       duration: str) -> str:
    view = await feature.container.service.view(ref)
    model = view.model.name if view.model else ""
    path = await feature.baseline_copy(model)
    done = await feature.drift.accept(ref, actor, reason, duration, reference_path=path)
    return (f":white_check_mark: Drift of `{done.model}` accepted until {done.expires_at:%Y-%m-%d %H:%M} "
            "UTC; the next assessments compare against the window that drifted.")


def _form_button(ctx: SlackContext, callback: str, title: str, submit: str, default: str,
                 hint: str) -> Any:
    async def form_button(ack: AsyncAck, body: JSON, respond: AsyncRespond) -> None:
        await ack()
        incident_id = ((body.get("actions") or [{}])[0]).get("value", "")
        ctx.after_ack(ctx.open_modal(body, respond, body.get("trigger_id"), ui.duration_modal(
            callback, title, submit, str(incident_id), default, hint, _origin(body))))

    form_button.__name__ = f"open_{callback}"
    return form_button


async def _duration_submitted(ctx: SlackContext, ack: AsyncAck, body: JSON, view: JSON,
                              use_case: Callable[[IncidentRef, Any, str, str], Awaitable[str]]) -> None:
    duration = (_value(view, "duration") or "").strip()
    reason = (_value(view, "reason") or "").strip()
    if len(reason) < 3:
        await ack(response_action="errors", errors={"reason": "Say why (it is audited)."})
        return
    await ack()
    meta = _metadata(view)

    async def work() -> None:
        user_id, name = _user(body)
        try:
            ref = IncidentRef(incident_id=uuid.UUID(meta["incident_id"]))
            text = await use_case(ref, await ctx.actor(user_id, name), reason, duration)
        except DomainError as exc:
            text = f":warning: {exc}"
        except (KeyError, ValueError):
            text = NOT_AN_INCIDENT_FORM
        await tell(ctx, user_id, meta.get("channel_id"), text)

    ctx.after_ack(work())


# -- /incident verbs ------------------------------------------------------------------------------

def register_verbs(ctx: SlackContext, feature: ModelActionsFeature) -> None:
    verbs = {
        "changes": (_changes(feature), "`/incident changes [hours]`: what changed for the model before "
                                       "the incident (registry, IaC drift, earlier incidents, drift)"),
        "rollback": (_rollback(feature), "`/incident rollback [version] <reason>`: ask to roll the "
                                         "model back; `/incident rollback approve|reject` decides"),
    }
    verbs["accept-drift"] = (_accept_verb(feature), "`/incident accept-drift <for, e.g. 7d> <reason>`: "
                                                    "the drifted window becomes the model's reference")
    verbs["snooze"] = (_snooze_verb(feature), "`/incident snooze <for, e.g. 4h> <reason>`: no drift "
                                              "alerts for the model meanwhile")
    verbs["retrain"] = (_retrain_verb(feature), "`/incident retrain`: trigger the model's training "
                                                "pipeline (RETRAIN_WEBHOOK_URL)")
    for name, (handler, help_text) in verbs.items():
        add_verb(ctx, name, handler, help_text)


def add_verb(ctx: SlackContext, name: str, handler: Any, help_text: str) -> None:
    """Through the one verb table (handlers/verbs.py)."""
    ctx.verbs.add(name, handler, help=help_text)


def _changes(feature: ModelActionsFeature) -> Any:
    async def changes(ctx: SlackContext, parsed: Parsed, body: JSON, respond: Any) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        hours = DEFAULT_WINDOW.total_seconds() / 3600
        rest = (parsed.rest or "").strip().lower().removesuffix("h")
        if rest:
            try:
                hours = float(rest)
            except ValueError as exc:
                raise DomainError("Usage: `/incident changes [hours]`, e.g. `/incident changes 48`.") from exc
            if not 0 < hours <= 24 * 30:
                raise DomainError("Give a window between 1 and 720 hours.")
        from datetime import timedelta

        incident, model, items = await feature.actions.what_changed(ref, timedelta(hours=hours))
        await ctx.reply(body, respond, ui.changes_reply(incident, model, items, hours))

    return changes


def _rollback(feature: ModelActionsFeature) -> Any:
    async def rollback(ctx: SlackContext, parsed: Parsed, body: JSON, respond: Any) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        head, _, tail = (parsed.rest or "").strip().partition(" ")
        actions = feature.actions
        if head.lower() in ("approve", "reject"):
            form = await actions.rollback_form(ref)
            if form.open_request is None:
                raise DomainError(f"No rollback of {form.incident.key} is waiting for approval.")
            await actions.decide_rollback(form.open_request.id, actor, head.lower() == "approve")
            await ctx.reply(body, respond, f":ballot_box_with_check: Rollback {head.lower()}d.")
            return
        form = await actions.rollback_form(ref)
        match = VERSION_RE.match(head) if head else None
        version, reason = (match.group(1), tail) if match and match.group(1) in form.versions else (
            form.default, parsed.rest or "")
        if version is None:
            raise DomainError(f"No earlier version of `{form.model}` to return to; name one: "
                              "`/incident rollback <version> <reason>`.")
        if len(reason.strip()) < 3:
            raise DomainError(f"Say why: `/incident rollback {version} <reason>` (it is audited).")
        done = await actions.request_rollback(ref, actor, version, reason, alias=form.alias)
        await ctx.reply(body, respond, f":rewind: Rollback of `{form.model}` to v{done.to_version} "
                                       "requested; the Incident Commander approves it in the thread.")

    return rollback


def _duration_and_reason(parsed: Parsed, usage: str) -> tuple[str, str]:
    duration, _, reason = (parsed.rest or "").strip().partition(" ")
    if not duration or len(reason.strip()) < 3:
        raise DomainError(f"Usage: {usage} (the reason is audited).")
    return duration, reason


def _accept_verb(feature: ModelActionsFeature) -> Any:
    async def accept(ctx: SlackContext, parsed: Parsed, body: JSON, respond: Any) -> None:
        duration, reason = _duration_and_reason(parsed, "`/incident accept-drift 7d <reason>`")
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        await ctx.reply(body, respond, await accept_drift(feature, ref, actor, reason, duration))

    return accept


def _snooze_verb(feature: ModelActionsFeature) -> Any:
    async def snooze(ctx: SlackContext, parsed: Parsed, body: JSON, respond: Any) -> None:
        duration, reason = _duration_and_reason(parsed, "`/incident snooze 4h <reason>`")
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        done = await feature.drift.snooze(ref, actor, reason, duration)
        await ctx.reply(body, respond, f":zzz: Drift alerts of `{done.model}` snoozed until "
                                       f"{done.until:%Y-%m-%d %H:%M} UTC.")

    return snooze


def _retrain_verb(feature: ModelActionsFeature) -> Any:
    async def retrain(ctx: SlackContext, parsed: Parsed, body: JSON, respond: Any) -> None:
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        run = await feature.drift.retrain(ref, actor)
        await ctx.reply(body, respond, f":gear: Retraining of `{run.model}` requested.")

    return retrain


# -- POST /webhooks/pipeline ------------------------------------------------------------------------

def pipeline_route(feature: ModelActionsFeature) -> web.RouteDef:
    """The training pipeline says how a run ended: signed like the bot's own webhooks
    (PIPELINE_WEBHOOK_SECRET); ``{"run": "<the bot's run id or the pipeline's>", "status":
    "running|succeeded|failed", "url": "..."}``."""

    async def pipeline_callback(request: web.Request) -> web.Response:
        secret = feature.container.settings.pipeline_webhook_secret
        if not secret:
            return web.json_response({"error": "PIPELINE_WEBHOOK_SECRET is not set"}, status=404)
        body = await request.content.read(65536)
        refused = verify(secret, request.headers, body, time.time())
        if refused:
            return web.json_response({"error": refused}, status=401)
        try:
            data = json.loads(body)
            run, status = str(data["run"]), str(data["status"])
            url = data.get("url")
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected JSON {run, status[, url]}"}, status=400)
        try:
            done = await feature.drift.pipeline_update(run, status, run_url=str(url) if url else None,
                                                       run_id=data.get("run_id"))
        except DomainError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        return web.json_response({"run": str(done.id), "status": done.status})

    return web.post("/webhooks/pipeline", pipeline_callback)
