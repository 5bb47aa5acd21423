"""On call and paging from Slack (issue 19, item 7) end to end: signed ``/incident`` commands
against the Slack stand-in, the real ``pagerduty`` client against the PagerDuty stand-in (TLS,
REST and Events API v2), signed V3 webhooks back; SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.local.stack import LocalStack
from bot.slack_ui.paging import PagingTexts, oncall_text, page_reply
from domain.model import Incident
from domain.paging.oncall import EscalationPolicy, OnCallShift, PdUser, TeamOnCall, unknown_team
from domain.paging.pages import EVENT, RESPONDERS, TEAM, USER, Page, PageOutcome, PageTarget
from domain.services import IncidentRef
from tests.e2e.conftest import command_reply, webhook_settings
from tests.e2e.rendered import slack_user
from tests.standins.pagerduty import PagerDutyStandIn, sign

FIXTURES = Path("/work/shared/fixtures")
if not FIXTURES.exists():
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
SECRET = "whsec-paging"  # pragma: allowlist secret (a test fake)
ALICE, BOB, CAROL, DAVE = "U0DECLARER", "U0RESPOND", "U0ONCALL", "U0MLLEAD"
ML_PLATFORM = EscalationPolicy("PEPML01", "ML Platform Escalation")
RISK_ML = EscalationPolicy("PEPRISK", "Risk ML")
CAROL_PD = PdUser("PJ0LVEB", "Carol Oncall", "carol@example.com")
DAVE_PD = PdUser("PDAVE01", "Dave Lead", "dave@example.com")
ERIN_PD = PdUser("PERIN01", "Erin External", "erin@contractor.example")


@pytest.fixture
async def pd() -> AsyncIterator[PagerDutyStandIn]:
    standin = PagerDutyStandIn()
    await standin.start()
    standin.add_user("PJ0LVEB", "Carol Oncall", "carol@example.com")
    standin.add_user("PDAVE01", "Dave Lead", "dave@example.com")
    standin.add_user("PBOB001", "Bob Responder", "bob@example.com")
    standin.add_user("PERIN01", "Erin External", "erin@contractor.example")  # not in Slack
    standin.add_user("PBOT001", "Incident Bot", "bot@example.com")  # PAGERDUTY_FROM_EMAIL
    standin.add_escalation_policy("PEPML01", "ML Platform Escalation")
    standin.add_escalation_policy("PEPRISK", "Risk ML")
    standin.add_oncall("PEPML01", 2, "PDAVE01")
    standin.add_oncall("PEPML01", 1, "PJ0LVEB", schedule="ML primary", end="2026-12-01T09:00:00Z")
    standin.add_oncall("PEPML01", 1, "PERIN01", schedule="ML follow-the-sun")
    standin.add_oncall("PEPRISK", 1, "PERIN01", schedule="Risk primary")
    yield standin
    await standin.stop()


@pytest.fixture
async def stack(database_url: str, pd: PagerDutyStandIn) -> AsyncIterator[LocalStack]:
    settings = webhook_settings(pd, pd_secret=SECRET, am_token="am", iac_token="iac")
    settings.update(pagerduty_teams={"ml-platform": "PEPML01"},
                    pagerduty_routing_keys={"ml-platform": "R0MLPLATFORM"})
    async with LocalStack(database_url, settings_overrides=settings) as s:
        yield s


async def deliver(stack: LocalStack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, http.post(
            stack.url + "/webhooks/pagerduty", data=raw,
            headers={"Content-Type": "application/json",
                     "X-PagerDuty-Signature": sign(raw, SECRET)}) as resp:
        return resp.status, await resp.json()


def pd_event(name: str, event_id: str, occurred_at: str, pd_id: str, **data: Any) -> dict[str, Any]:
    """A real V3 delivery body (shared fixtures), re-pointed at one PagerDuty incident."""
    body = json.loads((FIXTURES / "pagerduty" / f"webhook_v3_incident_{name}.json").read_text())
    body["event"].update(id=event_id, occurred_at=occurred_at)
    body["event"]["data"].update(id=pd_id, **data)
    return body


def acknowledged_by(pd_user: str, name: str, event_id: str, pd_id: str, **data: Any) -> dict[str, Any]:
    body = pd_event("acknowledged", event_id, "2026-11-30T10:05:00Z", pd_id, **data)
    body["event"]["agent"].update(id=pd_user, summary=name,
                                  self=f"https://api.pagerduty.com/users/{pd_user}")
    return body


def responder_replied(pd_user: str, event_id: str, pd_id: str, state: str = "joined") -> dict[str, Any]:
    """``incident.responder.replied``: data is an ``incident_responder`` (PagerDuty's V3 shape)."""
    body = copy.deepcopy(pd_event("acknowledged", event_id, "2026-11-30T10:06:00Z", pd_id))
    body["event"].update(event_type="incident.responder.replied")
    body["event"]["data"] = {
        "incident": {"html_url": f"https://pig208.pagerduty.com/incidents/{pd_id}", "id": pd_id,
                     "self": f"https://api.pagerduty.com/incidents/{pd_id}",
                     "summary": "Test Incident 3", "type": "incident_reference"},
        "user": {"html_url": f"https://pig208.pagerduty.com/users/{pd_user}", "id": pd_user,
                 "self": f"https://api.pagerduty.com/users/{pd_user}", "summary": "Dave Lead",
                 "type": "user_reference"},
        "escalation_policy": None, "message": "INC-1 page 1", "state": state,
        "type": "incident_responder"}
    return body


def replied(incident: Incident, method: str, target: PageTarget) -> str:
    """What the person who paged ``target`` by ``method`` is told, the first time."""
    page = Page(incident.id, 1, target.kind, target.name, method, "", "", incident.created_at)
    return page_reply(PageOutcome(incident, page, repeat=False), PagingTexts().target(target))


async def channel_of(stack: LocalStack, number: int) -> str:
    link = (await stack.container.service.view(IncidentRef(number=number))).link
    assert link is not None and link.channel_id
    return link.channel_id


def invited(stack: LocalStack, user: str) -> int:
    return sum(user in str(c.params.get("users", "")).split(",")
               for c in stack.slack.calls_to("conversations.invite"))


async def thread_texts(stack: LocalStack, number: int) -> list[str]:
    announcement = [m for m in stack.slack.top_level("ml-incidents") if f"INC-{number} " in m["text"]][0]
    return [m["text"] for m in stack.slack.thread("ml-incidents", announcement["ts"])]


async def test_oncall_shows_each_level_with_slack_mentions_where_the_email_matches(
        stack: LocalStack, pd: PagerDutyStandIn) -> None:
    reply = await command_reply(stack, "oncall", ALICE)
    assert stack.driver.responses[-1]["body"]["response_type"] == "ephemeral"
    # level 1 first; Slack mentions for carol and dave, erin (no Slack account) by name; only
    # the team PAGERDUTY_TEAMS names
    assert reply == oncall_text([TeamOnCall("ml-platform", ML_PLATFORM, (
        OnCallShift(ML_PLATFORM, 1, CAROL_PD, "ML primary", datetime(2026, 12, 1, 9, tzinfo=UTC)),
        OnCallShift(ML_PLATFORM, 1, ERIN_PD, "ML follow-the-sun"),
        OnCallShift(ML_PLATFORM, 2, DAVE_PD)), {CAROL_PD.id: CAROL, DAVE_PD.id: DAVE})])
    # a team not in PAGERDUTY_TEAMS is the escalation policy of its name
    reply = await command_reply(stack, "oncall risk-ml", BOB)
    assert reply == oncall_text([TeamOnCall("risk-ml", RISK_ML, (
        OnCallShift(RISK_ML, 1, ERIN_PD, "Risk primary"),))])
    lookups = [c.params["email"] for c in stack.slack.calls_to("users.lookupByEmail")]
    assert "erin@contractor.example" in lookups  # asked, answered users_not_found
    assert stack.slack.calls_to("users.lookupByEmail")[-1].error == "users_not_found"


async def test_unknown_team_user_without_pagerduty_and_pagerduty_down_are_clear_errors(
        stack: LocalStack, pd: PagerDutyStandIn) -> None:
    reply = await command_reply(stack, "oncall no-such-team", ALICE)
    unknown = str(unknown_team("no-such-team", ["ml-platform"]))
    assert reply.endswith(unknown)
    await command_reply(stack, "declare P3 credit-risk-v3 Skewed scores", ALICE)
    channel = await channel_of(stack, 1)
    before = len(stack.driver.responses)
    await stack.driver.slash_command("page no-such-team please", user_id=ALICE, channel_id=channel)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    assert unknown in str(stack.driver.responses[-1])
    reply = await command_reply(stack, "page 1 <@U0DECLARER|alice> help", BOB)
    assert reply.endswith(PagingTexts().no_account(ALICE, "`ml-platform`"))
    pd.set_down()
    reply = await command_reply(stack, "oncall", ALICE)
    assert reply.startswith(":warning: PagerDuty answered 503") and "Traceback" not in reply
    pd.set_down(False)
    assert pd.events == [] and not pd.calls_to("POST", "/incidents")  # nobody was paged


async def test_page_adds_responders_to_the_linked_incident_and_the_joining_one_is_invited_once(
        stack: LocalStack, pd: PagerDutyStandIn) -> None:
    pd.add_incident("PFQZPSY")
    status, _ = await deliver(stack, pd_event("triggered", "E1", "2026-11-30T10:00:00Z", "PFQZPSY"))
    assert status == 201
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    channel = await channel_of(stack, 1)
    pd.lose_next(1)  # the first responder request is made, its answer lost: retried, not doubled
    before = len(stack.driver.responses)
    await stack.driver.slash_command("page ml-platform please join the bridge", user_id=ALICE,
                                     channel_id=channel)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    assert stack.driver.responses[-1]["body"]["text"] == replied(
        view.incident, RESPONDERS, PageTarget(TEAM, "ml-platform"))
    await stack.settle(timeout=20)
    reply = await command_reply(stack, "page 1 <@U0RESPOND|bob>", ALICE)
    assert reply == replied(view.incident, RESPONDERS, PageTarget(USER, BOB))
    requests = pd.incidents["PFQZPSY"]["responder_requests"]
    assert [r["responder_request_targets"][0]["responder_request_target"]["id"] for r in requests] \
        == ["PEPML01", "PBOB001"]
    assert requests[0]["requester"]["id"] == "PBOT001"
    assert requests[0]["message"] == "INC-1 page 1 from alice: please join the bridge"
    assert len(pd.calls_to("POST", "/incidents/PFQZPSY/responder_requests")) == 2
    assert pd.events == []  # linked: no Events API page
    assert PagingTexts().paged(view.incident, slack_user(ALICE), "ml-platform",
                               "please join the bridge") in await thread_texts(stack, 1)
    async with stack.container.uow_factory() as uow:
        audit = [a for a in await uow.audit.list(str(view.incident.id)) if a.action == "incident.paged"]
    assert [(a.actor, a.details["target"], a.details["method"]) for a in audit] == [
        (ALICE, "ml-platform", "responders"), (ALICE, BOB, "responders")]

    assert invited(stack, DAVE) == 0
    assert (await deliver(stack, responder_replied("PDAVE01", "E2", "PFQZPSY")))[0] == 200
    await stack.settle()
    assert DAVE in stack.slack.members(channel) and invited(stack, DAVE) == 1
    # the same person again (a redelivery, then their acknowledgement): no second invite
    assert (await deliver(stack, responder_replied("PDAVE01", "E3", "PFQZPSY")))[0] == 202
    await deliver(stack, acknowledged_by("PDAVE01", "Dave Lead", "E4", "PFQZPSY"))
    assert (await deliver(stack, responder_replied("PBOB001", "E5", "PFQZPSY", "declined")))[0] == 202
    await stack.settle()
    assert invited(stack, DAVE) == 1 and invited(stack, BOB) == 0


async def test_page_of_an_unlinked_incident_is_one_events_api_page_and_its_acknowledger_is_invited(
        stack: LocalStack, pd: PagerDutyStandIn) -> None:
    await command_reply(stack, "declare P3 credit-risk-v3 Skewed scores", ALICE)  # SEV-3: no auto page
    view = await stack.container.service.view(IncidentRef(number=1))
    channel = await channel_of(stack, 1)
    pd.lose_next(1)  # PagerDuty takes the event; the answer is lost; the outbox sends it again
    before = len(stack.driver.responses)
    await stack.driver.slash_command("page ml-platform scores are all zero", user_id=BOB,
                                     channel_id=channel)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    assert stack.driver.responses[-1]["body"]["text"] == replied(
        view.incident, EVENT, PageTarget(TEAM, "ml-platform"))
    await stack.settle(timeout=20)
    first, retry = pd.events
    assert first == retry and first["routing_key"] == "R0MLPLATFORM"
    assert first["dedup_key"] == f"incident-bot/{view.incident.id}/page/ml-platform"
    assert first["payload"]["summary"] == "INC-1 [SEV-3] Skewed scores: scores are all zero"
    opened = [i for i in pd.incidents.values() if i.get("incident_key") == first["dedup_key"]]
    assert len(opened) == 1  # one page in PagerDuty
    assert PagingTexts().paged(view.incident, slack_user(BOB), "ml-platform",
                               "scores are all zero") in await thread_texts(stack, 1)

    pd_id = opened[0]["id"]
    # PagerDuty's webhook for the incident our page opened: recognised, not a second incident
    status, body = await deliver(stack, pd_event("triggered", "E1", "2026-11-30T10:01:00Z", pd_id,
                                                 incident_key=first["dedup_key"]))
    assert (status, body) == (200, {"page_opened": pd_id})
    assert len(await stack.container.service.list_incidents(active_only=False)) == 1
    # carol acknowledges the page: invited to the channel, once
    ack = acknowledged_by("PJ0LVEB", "Carol Oncall", "E2", pd_id, incident_key=first["dedup_key"])
    assert (await deliver(stack, ack))[0] == 200
    await stack.settle()
    assert CAROL in stack.slack.members(channel) and invited(stack, CAROL) == 1
    ack["event"]["id"] = "E3"
    assert (await deliver(stack, ack))[0] == 202
    await stack.settle()
    assert invited(stack, CAROL) == 1
    # the page's acknowledgement is not the incident's: its status is the responders' to change
    assert (await stack.container.service.view(IncidentRef(number=1))).incident.status.value == "open"
