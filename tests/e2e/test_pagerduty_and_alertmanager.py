"""PagerDuty and Alertmanager end to end: signed V3 webhook replays (real fixture bodies), the real
``pagerduty`` client against the PagerDuty stand-in, the Slack stand-in; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.local.stack import LocalStack
from bot.slack_ui.incident import ACTION_RESOLVE
from domain.model import Severity, Status, TimelineEventType, TriggerSource
from domain.services import IncidentRef
from tests.e2e.conftest import wait_response
from tests.standins.pagerduty import PagerDutyStandIn, sign

FIXTURES = Path("/work/shared/fixtures")
if not FIXTURES.exists():  # the shared fixtures live next to the repository
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
SECRET, OLD_SECRET = "whsec-new", "whsec-old"
AM_TOKEN = "am-token"
RESPONDER = "U0RESPOND"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "pagerduty" / f"webhook_v3_incident_{name}.json").read_text())


def pd_event(name: str, event_id: str, occurred_at: str, pd_id: str = "PFQZPSY") -> dict[str, Any]:
    """A real delivery body, re-pointed at one PagerDuty incident (as SOURCES.md suggests)."""
    body = copy.deepcopy(fixture(name))
    body["event"].update(id=event_id, occurred_at=occurred_at)
    body["event"]["data"]["id"] = pd_id
    return body


@pytest.fixture
async def pd() -> AsyncIterator[PagerDutyStandIn]:
    standin = PagerDutyStandIn()
    await standin.start()
    standin.add_user("PJ0LVEB", "Carol Oncall", "carol@example.com")
    yield standin
    await standin.stop()


@pytest.fixture
async def stack(database_url: str, pd: PagerDutyStandIn) -> AsyncIterator[LocalStack]:
    async with LocalStack(
        database_url,
        settings_overrides={
            "pagerduty_api_token": pd.api_token,
            "pagerduty_api_url": pd.url,
            "pagerduty_events_url": pd.url,
            "pagerduty_from_email": "bot@example.com",
            "pagerduty_ca_bundle": pd.ca_file,
            "pagerduty_webhook_secret": f"{SECRET},{OLD_SECRET}",
            "pagerduty_service_models": {"PA2P440": "fraud-detector"},
            "pagerduty_routing_keys": {"risk-ml": "R0RISKML"},
            "alertmanager_token": AM_TOKEN,
        },
    ) as s:
        yield s


async def post(
    stack: LocalStack, path: str, body: dict[str, Any] | bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            stack.url + path, data=raw, headers={"Content-Type": "application/json", **headers}
        ) as resp,
    ):
        return resp.status, await resp.json()


async def deliver(stack: LocalStack, body: dict[str, Any], *secrets: str) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    return await post(
        stack, "/webhooks/pagerduty", raw, {"X-PagerDuty-Signature": sign(raw, *(secrets or (SECRET,)))}
    )


async def incidents(stack: LocalStack) -> list[Any]:
    return [v.incident for v in await stack.container.service.list_incidents(active_only=False)]


async def test_a_triggered_webhook_opens_one_incident_channel_and_invites_the_responder(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    triggered = pd_event("triggered", "E1", "2021-06-04T13:35:29.781Z")
    first, again = await asyncio.gather(deliver(stack, triggered), deliver(stack, triggered))
    assert sorted([first[0], again[0]]) == [200, 201]  # the redelivery is recognised
    assert (await deliver(stack, triggered))[0] == 200
    await stack.settle()
    [incident] = await incidents(stack)
    assert (incident.trigger_source, incident.created_by, incident.severity) == (
        TriggerSource.PAGERDUTY,
        "pagerduty",
        Severity.P2,
    )  # urgency high -> SEV-2 per policy
    assert incident.title == "Test Incident 3"
    channels = [c for c in stack.slack.channels if c["name"].startswith("inc-1-")]
    assert len(channels) == 1
    assert "U0ONCALL" in stack.slack.members(channels[0]["id"])  # carol, matched by email
    announcement = stack.slack.top_level("ml-incidents")[-1]
    assert "https://pig208.pagerduty.com/incidents/PFQZPSY" in str(announcement["blocks"])
    [note] = pd.notes["PFQZPSY"]
    assert channels[0]["id"] in note["content"]  # linked both ways


async def test_bad_missing_and_rotated_signatures(stack: LocalStack) -> None:
    triggered = pd_event("triggered", "E1", "2021-06-04T13:35:29.781Z")
    assert (await deliver(stack, triggered, "not-the-secret"))[0] == 401
    status, body = await post(stack, "/webhooks/pagerduty", triggered, {})
    assert status == 401 and "X-PagerDuty-Signature" in body["error"]
    assert await incidents(stack) == []
    # PagerDuty rotating: it signs with the old and the new secret; we know the old one too
    assert (await deliver(stack, triggered, "some-future-secret", OLD_SECRET))[0] == 201
    status, body = await post(
        stack, "/webhooks/pagerduty", b"{not json", {"X-PagerDuty-Signature": sign(b"{not json", SECRET)}
    )
    assert status == 400 and "not a PagerDuty V3 webhook" in body["error"]


async def test_out_of_order_and_unknown_events(stack: LocalStack) -> None:
    await deliver(stack, pd_event("triggered", "E1", "2021-06-04T13:35:29Z"))
    resolved = pd_event("resolved", "E3", "2021-06-04T13:50:00Z")
    acknowledged = pd_event("acknowledged", "E2", "2021-06-04T13:40:00Z")
    assert (await deliver(stack, resolved))[0] == 200  # delivered before the acknowledgement
    assert (await deliver(stack, acknowledged))[0] == 202  # older: ignored, no reopen
    unknown = pd_event("acknowledged", "E4", "2021-06-04T13:55:00Z")
    unknown["event"]["event_type"] = "incident.workflow.started"
    assert (await deliver(stack, unknown))[0] == 202
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert view.incident.status is Status.RESOLVED
    changes = [e.body for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE][1:]
    assert changes == ["open → resolved: resolved in PagerDuty"]


async def test_resolve_clicked_in_slack_reaches_pagerduty_once(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    await deliver(stack, pd_event("triggered", "E1", "2021-06-04T13:35:29Z"))
    await stack.settle()
    announcement = stack.slack.top_level("ml-incidents")[-1]
    incidents_channel = stack.slack.channel_id("ml-incidents")
    await asyncio.gather(
        *(
            stack.driver.block_action(
                ACTION_RESOLVE, message_ts=announcement["ts"], channel_id=incidents_channel, user_id=RESPONDER
            )
            for _ in range(3)
        )
    )
    await stack.settle()
    puts = pd.calls_to("PUT", "/incidents/PFQZPSY")
    assert [c.body for c in puts] == [{"incident": {"type": "incident_reference", "status": "resolved"}}]
    assert puts[0].headers["From"] == "bot@example.com"
    # PagerDuty's echo of our own change: no second status change
    assert (await deliver(stack, pd_event("resolved", "E9", "2021-06-04T14:00:00Z")))[0] == 202
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert len([e for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE]) == 2
    assert len(pd.calls_to("PUT", "/incidents/")) == 1


async def test_a_pagerduty_outage_delays_the_resolve_but_never_blocks_slack(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    await deliver(stack, pd_event("triggered", "E1", "2021-06-04T13:35:29Z"))
    await stack.settle()
    pd.fail_next(2)  # PagerDuty answers 503 twice
    announcement = stack.slack.top_level("ml-incidents")[-1]
    code, _ = await stack.driver.block_action(
        ACTION_RESOLVE,
        message_ts=announcement["ts"],
        channel_id=stack.slack.channel_id("ml-incidents"),
        user_id=RESPONDER,
    )
    assert code == 200
    await stack.slack.wait_until(
        lambda: (
            "(resolved)"
            in (stack.slack.message(stack.slack.channel_id("ml-incidents"), announcement["ts"]) or {}).get(
                "text", ""
            )
        ),
        5,
    )  # Slack moved on
    await stack.settle(timeout=20)
    puts = pd.calls_to("PUT", "/incidents/PFQZPSY")
    assert len(puts) == 3  # two refused by the outage, then delivered once
    assert pd.incidents["PFQZPSY"]["status"] == "resolved"


async def test_a_sev1_declared_in_slack_pages_and_its_resolve_resolves_the_page(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions", user_id="U0DECLARER")
    await wait_response(stack, 1)
    await stack.settle()
    await stack.driver.slash_command("declare P3 credit-risk-v3 Minor skew", user_id="U0DECLARER")
    await wait_response(stack, 2)
    await stack.driver.slash_command("resolve 1 rolled back", user_id="U0DECLARER")
    await wait_response(stack, 3)
    await stack.settle()
    [trigger, resolve] = pd.events  # the SEV-3 pages nobody
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0RISKML"
    assert trigger["payload"]["severity"] == "critical" and "INC-1 [SEV-1]" in trigger["payload"]["summary"]
    assert resolve == {
        "event_action": "resolve",
        "dedup_key": trigger["dedup_key"],
        "routing_key": "R0RISKML",
    }


def alert_group(status: str, model: str | None = "fraud-detector") -> dict[str, Any]:
    body = json.loads((FIXTURES / "alertmanager" / "webhook_v4_firing.json").read_text())
    body["status"] = status
    if model:
        body["commonLabels"]["model"] = model
    for alert in body["alerts"]:
        alert["status"] = status
    return body


async def test_alertmanager_groups_open_update_and_offer_to_resolve(stack: LocalStack) -> None:
    auth = {"Authorization": f"Bearer {AM_TOKEN}"}
    assert (await post(stack, "/webhooks/alertmanager", alert_group("firing"), {}))[0] == 401
    assert (
        await post(stack, "/webhooks/alertmanager", alert_group("firing"), {"Authorization": "Bearer nope"})
    )[0] == 401
    status, body = await post(stack, "/webhooks/alertmanager", alert_group("firing", model=None), auth)
    assert status == 422 and "`model` label" in body["error"]
    wrong = alert_group("firing")
    wrong["version"] = "3"
    assert (await post(stack, "/webhooks/alertmanager", wrong, auth))[0] == 400

    assert (await post(stack, "/webhooks/alertmanager", alert_group("firing"), auth))[0] == 201
    assert (await post(stack, "/webhooks/alertmanager", alert_group("firing"), auth))[0] == 200  # same group
    [incident] = await incidents(stack)
    assert (incident.trigger_source, incident.severity, incident.title) == (
        TriggerSource.AUTOMATED_PERFORMANCE,
        Severity.P2,
        "High CPU core temperature",
    )
    assert (await post(stack, "/webhooks/alertmanager", alert_group("resolved"), auth))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    notes = [e.body for e in view.timeline if e.event_type is TimelineEventType.NOTE]
    assert notes.count("Alert firing: CPU core temperature is 34.75C") == 1  # fingerprints dedupe
    assert "Alertmanager: every alert in the group is resolved" in notes
    assert view.incident.status is Status.OPEN  # offered, not done behind anyone's back
    offer = [m for m in stack.slack.messages(view.link.channel_id) if "have resolved" in m["text"]]
    assert len(offer) == 1 and ACTION_RESOLVE in str(offer[0]["blocks"])


# -- our own page coming back: PagerDuty's webhook for the incident our SEV-1 page opened ---------


async def declare_sev1_and_deliver_its_page(stack: LocalStack, pd: PagerDutyStandIn) -> tuple[str, str]:
    """A SEV-1 declared through a signed Slack command pages risk-ml; the outbox delivers the
    Events API v2 trigger, which opens an incident on a service mapped to a model. Its PagerDuty
    id and the dedup key the bot sent."""
    pd.add_service("R0RISKML", "PA2P440", "pig208")  # PAGERDUTY_SERVICE_MODELS maps it
    await stack.driver.slash_command("declare P1 credit-risk-v3 Null predictions", user_id="U0DECLARER")
    await wait_response(stack, 1)
    await stack.settle()
    [trigger] = pd.events
    opened = pd.incident_for_dedup_key(trigger["dedup_key"])
    assert opened is not None and opened["service"]["id"] == "PA2P440"
    return opened["id"], trigger["dedup_key"]


async def pd_link(stack: LocalStack, number: int) -> Any:
    view = await stack.container.service.view(IncidentRef(number=number))
    async with stack.container.uow_factory() as uow:
        return await uow.pagerduty_links.for_incident(view.incident.id)


def mirrored(pd: PagerDutyStandIn) -> list[Any]:
    """The acknowledge / resolve calls the bot made to PagerDuty (REST or Events API)."""
    return [c for c in pd.calls if c.method == "PUT" or (
        c.path == "/v2/enqueue" and c.body["event_action"] != "trigger")]


async def status_changes(stack: LocalStack) -> list[str]:
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    return [e.body for e in view.timeline if e.event_type is TimelineEventType.STATUS_CHANGE]


async def test_the_webhook_for_our_own_sev1_page_links_that_incident_instead_of_declaring_another(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    pd_id, dedup_key = await declare_sev1_and_deliver_its_page(stack, pd)
    triggered = pd.webhook("incident.triggered", pd_id, "E1", "2026-11-30T10:00:00Z")
    assert triggered["event"]["data"]["incident_key"] == dedup_key
    first, again = await asyncio.gather(deliver(stack, triggered), deliver(stack, triggered))
    assert (first[0], again[0]) == (200, 200)  # linked (once), then a redelivery: nothing declared
    assert (await deliver(stack, triggered))[0] == 200
    await stack.settle()
    [incident] = await incidents(stack)
    assert (incident.number, incident.trigger_source) == (1, TriggerSource.MANUAL)
    link = await pd_link(stack, 1)
    assert (link.pd_incident_id, link.page_dedup_key) == (pd_id, dedup_key)
    [note] = pd.notes[pd_id]  # PagerDuty's incident names our channel, once
    channel = (await stack.container.service.view(IncidentRef(number=1))).link
    assert channel is not None and str(channel.channel_id) in note["content"]
    assert len([c for c in stack.slack.channels if c["name"].startswith("inc-")]) == 1

    # PagerDuty's acknowledgement moves our incident, and is not echoed back
    acked = pd.webhook("incident.acknowledged", pd_id, "E2", "2026-11-30T10:05:00Z", agent="PJ0LVEB")
    assert (await deliver(stack, acked))[0] == 200
    await stack.settle()
    assert (await incidents(stack))[0].status is Status.INVESTIGATING
    assert mirrored(pd) == []
    # our resolve reaches PagerDuty's incident once; PagerDuty's echo of it changes nothing
    await stack.driver.slash_command("resolve 1 rolled back", user_id="U0DECLARER")
    await wait_response(stack, 2)
    await stack.settle()
    assert pd.incidents[pd_id]["status"] == "resolved"
    [resolve] = mirrored(pd)
    echo = pd.webhook("incident.resolved", pd_id, "E3", "2026-11-30T10:10:00Z")
    assert (await deliver(stack, echo))[0] == 202
    await stack.settle()
    assert len(mirrored(pd)) == 1 and len(await incidents(stack)) == 1
    assert (await status_changes(stack))[1:] == ["open → investigating: acknowledged in PagerDuty",
                                                 "investigating → resolved: rolled back"]


async def test_our_acknowledgement_reaches_the_page_and_pagerdutys_resolve_resolves_our_incident(
    stack: LocalStack, pd: PagerDutyStandIn
) -> None:
    pd_id, _ = await declare_sev1_and_deliver_its_page(stack, pd)
    triggered = pd.webhook("incident.triggered", pd_id, "E1", "2026-11-30T10:00:00Z")
    assert (await deliver(stack, triggered))[0] == 200
    await stack.settle()
    await stack.driver.slash_command("ack 1", user_id=RESPONDER)
    await wait_response(stack, 2)
    await stack.settle()
    assert pd.incidents[pd_id]["status"] == "acknowledged"
    assert len(mirrored(pd)) == 1
    echo = pd.webhook("incident.acknowledged", pd_id, "E2", "2026-11-30T10:05:00Z")
    assert (await deliver(stack, echo))[0] == 202  # our own change, back: nothing to do
    resolved = pd.webhook("incident.resolved", pd_id, "E3", "2026-11-30T10:20:00Z", agent="PJ0LVEB")
    assert (await deliver(stack, resolved))[0] == 200
    await stack.settle()
    [incident] = await incidents(stack)
    assert incident.status is Status.RESOLVED
    assert len(mirrored(pd)) == 1  # PagerDuty's resolve is not sent back to it
