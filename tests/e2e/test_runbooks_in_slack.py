"""Runbooks end to end: matched on declaration, posted as a checklist in the incident channel,
followed with "Done" clicks through signed requests; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.local.stack import LocalStack
from bot.slack_ui.runbooks import checklist_message, checklist_reply, progress_text, selected_reply
from domain.checklists import Checklist, Checklists
from domain.model import TimelineEventType
from domain.runbooks import Runbook
from domain.services import IncidentRef
from runbooks.wiring import STEP_DONE
from storage.runbooks import SqlChecklistRecords
from tests.e2e.conftest import wait_response

DECLARER, RESPONDER, OTHER = "U0DECLARER", "U0RESPOND", "U0ONCALL"


async def declare(stack: LocalStack, text: str) -> tuple[str, dict[str, Any]]:
    await stack.driver.slash_command(text, user_id=DECLARER)
    await wait_response(stack, 1)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    return view.link.channel_id, checklist(stack, view.link.channel_id)


def checklist(stack: LocalStack, channel_id: str) -> dict[str, Any]:
    [message] = [m for m in stack.slack.messages(channel_id) if m["text"].startswith(":clipboard:")]
    return message


async def followed(stack: LocalStack) -> tuple[Checklist, Runbook]:
    """INC-1's checklist as the runbook use cases read it, and its runbook."""
    view = await stack.container.service.view(IncidentRef(number=1))
    checklists = Checklists(stack.container.service, stack.container.features.runbooks,
                            SqlChecklistRecords)
    found = await checklists.checklist(view.incident.id)
    assert found is not None and found.runbook is not None
    return found, found.runbook


def step_buttons(message: dict[str, Any]) -> list[str]:
    return [b["accessory"]["value"] for b in message["blocks"]
            if b.get("accessory", {}).get("action_id") == STEP_DONE]


async def test_a_declared_title_picks_its_runbook(stack: LocalStack) -> None:
    _, message = await declare(stack, "declare P1 credit-risk-v3 Null predictions since 14:02")
    found, runbook = await followed(stack)
    assert runbook.title.startswith("Null or missing predictions")
    assert message["text"] == checklist_message(found, runbook)[0]
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.runbook_url == "runbooks/null-predictions.md"


async def test_a_new_incident_gets_the_generic_runbook_as_a_checklist(stack: LocalStack) -> None:
    channel_id, message = await declare(stack, "declare P1 credit-risk-v3 Scores look odd since 14:02")
    found, runbook = await followed(stack)
    assert (runbook.title, len(runbook.steps), found.followed.done) == ("Generic ML incident", 8, {})
    assert message["text"] == checklist_message(found, runbook)[0]
    assert len(step_buttons(message)) == 8
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.runbook_url == "runbooks/generic-ml-incident.md"
    announcement = stack.slack.top_level("ml-incidents")[-1]
    assert progress_text(runbook, 0) in str(announcement["blocks"])


async def test_done_clicks_update_the_checklist_timeline_audit_and_announcement(stack: LocalStack) -> None:
    channel_id, message = await declare(stack, "declare P1 credit-risk-v3 Scores look odd since 14:02")
    for step in ("1", "2", "3"):
        await stack.driver.block_action(STEP_DONE, message_ts=message["ts"], channel_id=channel_id,
                                        user_id=RESPONDER, block_id=None,
                                        value=next(v for v in step_buttons(checklist(stack, channel_id))
                                                   if f'"s": "{step}"' in v))
        await stack.settle()
    updated = checklist(stack, channel_id)
    assert updated["ts"] == message["ts"]  # the same message, updated in place
    found, runbook = await followed(stack)
    assert sorted(found.followed.done) == ["1", "2", "3"]
    assert updated["text"] == checklist_message(found, runbook)[0]
    rendered = str(updated["blocks"])
    assert rendered.count("done by <@U0RESPOND> at ") == 3 and len(step_buttons(updated)) == 5

    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    steps = [e for e in view.timeline if e.event_type is TimelineEventType.RUNBOOK_STEP_COMPLETED]
    assert [(e.author, e.body.split(":")[0]) for e in steps] == [
        (RESPONDER, "Generic ML incident v1.0.0 step 1"), (RESPONDER, "Generic ML incident v1.0.0 step 2"),
        (RESPONDER, "Generic ML incident v1.0.0 step 3")]
    async with stack.container.uow_factory() as uow:
        audit = [a for a in await uow.audit.list(str(view.incident.id))
                 if a.action == "incident.runbook_step_completed"]
    assert [(a.actor, a.actor_name, a.details["step"]) for a in audit] == [
        (RESPONDER, "bob", "1"), (RESPONDER, "bob", "2"), (RESPONDER, "bob", "3")]
    announcement = stack.slack.top_level("ml-incidents")[-1]
    assert "3/8 steps done" in str(announcement["blocks"])


async def test_a_double_click_counts_once(stack: LocalStack) -> None:
    channel_id, message = await declare(stack, "declare P1 credit-risk-v3 Scores look odd since 14:02")
    first = step_buttons(message)[0]
    clicks = [stack.driver.block_action(STEP_DONE, value=first, message_ts=message["ts"],
                                        channel_id=channel_id, user_id=user)
              for user in (RESPONDER, RESPONDER, OTHER, RESPONDER)]
    assert all(code == 200 for code, _ in await asyncio.gather(*clicks))
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    steps = [e for e in view.timeline if e.event_type is TimelineEventType.RUNBOOK_STEP_COMPLETED]
    assert len(steps) == 1
    await stack.slack.wait_until(lambda: len(stack.driver.responses) >= 4, 5)
    assert sum("already done" in r["body"]["text"] for r in stack.driver.responses) == 3
    assert checklist(stack, channel_id)["text"].endswith("(1/8 done)")


async def test_runbook_command_shows_and_switches(stack: LocalStack) -> None:
    channel_id, _ = await declare(stack, "declare P2 credit-risk-v3 Scoring latency doubled")
    await stack.driver.slash_command("runbook", user_id=RESPONDER, channel_id=channel_id)
    shown = await wait_response(stack, 2)
    found, runbook = await followed(stack)
    assert runbook.title == "Generic ML incident" and shown == checklist_reply("INC-1", found, [])
    await stack.driver.slash_command("runbook feature-store-outage", user_id=RESPONDER, channel_id=channel_id)
    switched = await wait_response(stack, 3)
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.runbook_url == "runbooks/feature-store-outage.md"
    found, runbook = await followed(stack)
    assert (runbook.name, runbook.version) == ("feature-store-outage", "1.1.0")
    assert switched == selected_reply(view.incident, runbook)
    assert checklist(stack, channel_id)["text"] == checklist_message(found, runbook)[0]
    await stack.driver.slash_command("runbook no-such-thing", user_id=RESPONDER, channel_id=channel_id)
    refused = await wait_response(stack, 4)
    assert "No runbook `no-such-thing`" in refused and "`model-drift`" in refused
