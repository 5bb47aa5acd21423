"""PagerDuty deliveries of the outbox rows the paging use cases write (``PD_*`` kinds): the real
``pagerduty`` client in a worker thread, so a PagerDuty outage delays those calls (retried with
backoff by the outbox, in their own lane) and never blocks Slack."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pagerduty
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.dispatcher import NO_CHANNEL, Permanent, Retry
from bot.settings import Settings
from domain.paging.pagerduty import PD_EVENT, PD_NOTE, PD_RESPONDERS, PD_STATUS
from domain.paging.pages import PD_RESPONDER_REQUEST
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import INVITE, IncidentRef, IncidentService, IncidentView
from storage.outbox_store import OutboxRow, OutboxStore

log = structlog.get_logger("pagerduty")

PAGERDUTY_TIMEOUT_SECONDS = 10  # an unanswered call is retried by the outbox, in its own lane
Handler = Callable[[OutboxRow], Any]


def tls(settings: Settings) -> dict[str, Any]:
    bundle = settings.pagerduty_ca_bundle
    return {"verify": ssl.create_default_context(cafile=bundle)} if bundle else {}


def rest_client(settings: Settings) -> pagerduty.RestApiV2Client:
    """The REST API v2 client: one attempt (the outbox, or the person asking, retries) and a
    short timeout (not the library's 60 s: a slot is held meanwhile)."""
    client = pagerduty.RestApiV2Client(
        settings.pagerduty_api_token or "", default_from=settings.pagerduty_from_email,
        base_url=settings.pagerduty_api_url, **tls(settings))
    client.max_http_attempts = 1
    client.max_network_attempts = 0  # a connection error is not retried here either (no sleeps)
    client.timeout = PAGERDUTY_TIMEOUT_SECONDS
    return client


class PagerDutyDelivery:
    def __init__(self, settings: Settings, service: IncidentService, outbox_store: OutboxStore,
                 slack_client: AsyncWebClient, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.settings = settings
        self.service = service
        self.outbox_store = outbox_store
        self.slack_client = slack_client
        self.uow_factory = uow_factory

    def handlers(self) -> dict[str, Handler]:
        return {PD_STATUS: self.deliver_status, PD_NOTE: self.deliver_note,
                PD_EVENT: self.deliver_event, PD_RESPONDERS: self.deliver_responders,
                PD_RESPONDER_REQUEST: self.deliver_responder_request}

    def _rest(self) -> pagerduty.RestApiV2Client:
        if not self.settings.pagerduty_api_token:
            raise Permanent("PAGERDUTY_API_TOKEN is not set")
        return rest_client(self.settings)

    def _tls(self) -> dict[str, Any]:
        return tls(self.settings)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except pagerduty.HttpError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or status >= 500:
                raise Retry(f"PagerDuty {status}") from exc
            raise Permanent(f"PagerDuty refused: {status} {exc}") from exc
        except pagerduty.Error as exc:  # connection errors and timeouts
            raise Retry(f"PagerDuty unreachable: {exc}") from exc

    async def _with_channel(self, row: OutboxRow) -> IncidentView:
        """The incident, once its Slack channel exists. PagerDuty rows have a lane of their own,
        so the channel may still be queued in the incident's Slack lane: wait for it (Retry)."""
        assert row.incident_id is not None
        view = await self.service.view(IncidentRef(incident_id=row.incident_id))
        if not (view.link and view.link.channel_id):
            if await self.outbox_store.waits_behind(row, "slack"):
                raise Retry("the incident channel is still being created")
            raise Permanent(NO_CHANNEL)
        return view

    async def deliver_status(self, row: OutboxRow) -> None:
        client = self._rest()
        if not self.settings.pagerduty_from_email:
            raise Permanent("PAGERDUTY_FROM_EMAIL is not set (PagerDuty requires a From user)")
        await self._call(client.jput, f"/incidents/{row.payload['pd_incident_id']}",
                         json={"incident": {"type": "incident_reference",
                                            "status": row.payload["status"]}})

    async def deliver_note(self, row: OutboxRow) -> None:
        view = await self._with_channel(row)
        client = self._rest()
        assert view.link is not None
        content = (f"Slack: {view.incident.key} is worked in channel <#{view.link.channel_id}> "
                   f"(channel id {view.link.channel_id}).")
        await self._call(client.jpost, f"/incidents/{row.payload['pd_incident_id']}/notes",
                         json={"note": {"content": content}})

    async def deliver_event(self, row: OutboxRow) -> None:
        payload = dict(row.payload)
        client = pagerduty.EventsApiV2Client(payload.pop("routing_key"),
                                             base_url=self.settings.pagerduty_events_url, **self._tls())
        client.max_http_attempts = 1
        client.timeout = PAGERDUTY_TIMEOUT_SECONDS
        action = payload.pop("action")
        await self._call(client.send_event, action, **payload)

    async def deliver_responder_request(self, row: OutboxRow) -> None:
        """``/incident page`` on a linked incident: responders added to the PagerDuty incident,
        once. The message names the page, so a request whose answer was lost is found on the
        incident instead of being sent again."""
        client = self._rest()
        from_email = self.settings.pagerduty_from_email
        if not from_email:
            raise Permanent("PAGERDUTY_FROM_EMAIL is not set (PagerDuty requires a From user)")
        pd_id, message = row.payload["pd_incident_id"], row.payload["message"]
        found = await self._call(client.jget, f"/incidents/{pd_id}")
        sent = ((found or {}).get("incident") or {}).get("responder_requests") or []
        if any(request.get("message") == message for request in sent):
            return
        requester = await self._call(client.find, "users", from_email, attribute="email")
        if not requester:
            raise Permanent(f"PAGERDUTY_FROM_EMAIL ({from_email}) is not a PagerDuty user")
        await self._call(client.jpost, f"/incidents/{pd_id}/responder_requests", json={
            "requester_id": requester["id"], "message": message,
            "responder_request_targets": [{"responder_request_target": target}
                                          for target in row.payload["targets"]]})

    async def deliver_responders(self, row: OutboxRow) -> None:
        """PagerDuty users -> their e-mail -> Slack users -> an invite to the channel."""
        await self._with_channel(row)
        client = self._rest()
        users: list[str] = []
        for pd_user in row.payload.get("users", []):
            found = await self._call(client.jget, f"/users/{pd_user}")
            email = ((found or {}).get("user") or {}).get("email")
            slack_id = await self._slack_user(email, pd_user) if email else None
            if slack_id:
                users.append(slack_id)
        if users:
            async with self.uow_factory() as uow:
                await uow.outbox.add(OutboxMessage(INVITE, row.incident_id, {"users": sorted(set(users))}))
                await uow.commit()

    async def _slack_user(self, email: str, pd_user: str) -> str | None:
        try:
            return str((await self.slack_client.users_lookupByEmail(email=email))["user"]["id"])
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                raise
            log.info("pagerduty.responder_not_in_slack", pd_user=pd_user)
            return None
