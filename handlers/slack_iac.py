"""The IaC drift message's buttons and the Accept form (Bolt listeners): ack at once, then one
use case of :class:`domain.iac.decisions.IacDrift`, then an ephemeral reply."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack_ui import iac as ui
from bot.slack_ui.iac import IacAction
from domain.governance.roles import Activity, RoleRefused
from domain.iac.decisions import IacDrift
from domain.model import Actor, DomainError
from handlers.slack_context import SlackContext

# GOV-001 "Break-glass production change": who may accept, revert or escalate drift (issue 15).
# Codify is the normal change process (a pull request), so it is not gated.
BREAK_GLASS = {IacAction.REVERT, IacAction.ACCEPT, IacAction.ESCALATE}
RoleCheck = Callable[[str, Activity, str, str], Awaitable[None]]


def register(app: AsyncApp, ctx: SlackContext, iac: IacDrift, require_role: RoleCheck,
             max_exception_days: int) -> None:
    """The four buttons and the Accept form's submission."""
    listeners = IacListeners(ctx, iac, require_role, max_exception_days)
    for action in IacAction:
        app.action(action.value)(listeners.on_click(action))
    app.view(ui.ACCEPT_CALLBACK)(listeners.accept_submitted)


class IacListeners:
    def __init__(self, ctx: SlackContext, iac: IacDrift, require_role: RoleCheck,
                 max_exception_days: int) -> None:
        self.ctx = ctx
        self.iac = iac
        self.require_role = require_role
        self.max_days = max_exception_days

    def on_click(self, action: IacAction) -> Any:
        async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            self.ctx.after_ack(self.clicked(action, body, respond))

        return on_click

    async def clicked(self, action: IacAction, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Every refusal becomes an ephemeral reply; a stale or foreign button too."""
        try:
            await self.decide(action, body, respond)
        except RoleRefused as exc:
            await self.ctx.reply(body, respond, f":warning: {exc}")
        except DomainError as exc:
            await self.ctx.reply(body, respond, f":information_source: {exc}")
        except (ValueError, KeyError):
            await self.ctx.reply(body, respond, ":warning: That button is not attached to a drift event.")

    async def _actor(self, user: dict[str, Any]) -> Actor:
        return await self.ctx.actor(user["id"], user.get("username") or user.get("name"))

    async def decide(self, action: IacAction, body: dict[str, Any], respond: AsyncRespond) -> None:
        event_id = uuid.UUID((body.get("actions") or [{}])[0].get("value", ""))
        actor = await self._actor(body.get("user") or {})
        stored = await self.iac.load(event_id)
        if stored is None:
            raise DomainError("That drift event no longer exists.")
        if action in BREAK_GLASS:
            await self.require_role(actor.id, Activity.BREAK_GLASS_CHANGE, "drift_event", str(event_id))
        if action is IacAction.ESCALATE:
            incident = await self.iac.escalate(event_id, actor)
            await self.ctx.reply(body, respond, f":white_check_mark: Escalated as *{incident.key}*.")
        elif action is IacAction.ACCEPT:
            await self.ctx.client.views_open(trigger_id=body["trigger_id"], view=ui.accept_modal(
                event_id, stored.needs_security_approver, self.max_days))
        else:
            rec = stored.recommendation("auto_revert" if action is IacAction.REVERT else "codify_iac")
            await self.iac.decide(event_id, actor, action.value.removeprefix("iac_"))
            await self.ctx.reply(body, respond, ui.choice_text(action, rec))

    def form_errors(self, values: dict[str, Any], metadata: dict[str, Any], user_id: str | None
                    ) -> tuple[dict[str, str], str, datetime | None, str | None]:
        """The Accept form checked: errors by block, and the reason, expiry and approver."""
        reason = str((values.get("reason", {}).get("reason") or {}).get("value") or "").strip()
        expiry = (values.get("expires", {}).get("expires") or {}).get("selected_date")
        approver = (values.get("approver", {}).get("approver") or {}).get("selected_user")
        errors: dict[str, str] = {}
        if not reason:
            errors["reason"] = "Say why this drift is accepted."
        expires_at = None
        now = self.ctx.clock.now()
        try:
            expires_at = datetime.combine(datetime.strptime(str(expiry), "%Y-%m-%d").date(), time(), UTC)
            if expires_at <= now:
                errors["expires"] = "The exception must expire in the future."
            elif expires_at > now + timedelta(days=self.max_days):
                errors["expires"] = (f"An exception lasts at most {self.max_days} days "
                                     "(IAC_MAX_EXCEPTION_DAYS); codify the change if it is to stay.")
        except ValueError:
            errors["expires"] = "Pick the date the exception expires."
        if metadata.get("approver"):
            if not approver:
                errors["approver"] = "A security rule fired: name the security approver."
            elif approver == user_id:
                errors["approver"] = "The security approver must be someone else."
        return errors, reason, expires_at, approver

    async def accept_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        metadata = json.loads(view.get("private_metadata") or "{}")
        errors, reason, expires_at, approver = self.form_errors(
            view.get("state", {}).get("values", {}), metadata, (body.get("user") or {}).get("id"))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        self.ctx.after_ack(self.accept(body["user"], metadata, reason, expires_at, approver))

    async def accept(self, user: dict[str, Any], metadata: dict[str, Any], reason: str,
                     expires_at: datetime | None, approver: str | None) -> None:
        actor = await self._actor(user)
        event_id = uuid.UUID(metadata["event_id"])
        try:  # the form could be submitted without the button's check: decide again
            await self.require_role(actor.id, Activity.BREAK_GLASS_CHANGE, "drift_event", str(event_id))
        except RoleRefused as exc:
            await self.ctx.client.chat_postMessage(channel=actor.id, text=f":warning: {exc}")
            return
        extra = {"security_approver": approver} if approver else {}
        await self.iac.decide(event_id, actor, "accept", reason=reason, expires_at=expires_at, **extra)
