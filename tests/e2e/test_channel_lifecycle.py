"""Channel lifecycle (issue 19 item 8), driven as Slack drives the bot (signed payloads against
the Slack stand-in): channel names from CHANNEL_NAME_TEMPLATE (a taken name gets a suffix, an
invalid template stops start-up), private incidents (a private channel, the title hidden from
non-members in #ml-incidents, `/incident list` and `status`, the Home tab, the REST API and the
status page), the channel archived ARCHIVE_AFTER_DAYS after close with a last message linking
the postmortem, and a channel archived by hand (Slack's channel_archive event) left alone.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.cli.main import main
from bot.local.stack import LocalStack
from bot.settings import Settings
from bot.slack_ui.channel_lifecycle import last_words, postmortem_line, private_announcement
from bot.slack_ui.postmortems import draft_file
from bot.slack_ui.timers import update_posted_reply, update_posted_text
from domain.channel_lifecycle import HIDDEN_ITEM, HIDDEN_TITLE, ChannelLifecycle
from domain.model import Status
from domain.services import IncidentRef
from storage.channel_lifecycle import SqlChannelRepository
from tests.e2e.conftest import command_reply
from tests.e2e.rendered import incident_of
from tests.fakes import FakeClock

DECLARER, RESPONDER, LEAD, OUTSIDER = "U0DECLARER", "U0RESPOND", "U0MLLEAD", "U0ONCALL"
TITLE = "Fraud ring in payments"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, clock=FakeClock(T0), settings_overrides={
            "channel_name_template": "inc-{number}-{model}-{severity}-{slug}",
            "archive_after_days": 30}) as s:
        yield s


def lifecycle(stack: LocalStack) -> ChannelLifecycle:
    found = stack.container.features.channel_lifecycle
    assert found is not None
    return found


async def channel_state(stack: LocalStack, number: int) -> Any:
    view = await stack.container.service.view(IncidentRef(number=number))
    async with stack.container.uow_factory() as uow:
        return await SqlChannelRepository(uow).state(view.incident.id)


def said_in(stack: LocalStack, channel_id: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel_id)]


async def test_channel_names_follow_the_template_and_a_taken_name_gets_a_suffix(
        stack: LocalStack) -> None:
    taken = "inc-1-credit-risk-v3-sev-2-scores-drift-after-deploy"
    stack.slack.add_channel(taken, members=[LEAD], creator=LEAD)  # somebody else's channel
    await command_reply(stack, "declare P2 credit-risk-v3 Scores drift after deploy", DECLARER)
    answers = [c.error or (c.response or {})["channel"]["name"]
               for c in stack.slack.calls_to("conversations.create")]
    assert answers == ["name_taken", f"{taken}-1"]
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_name == f"{taken}-1"
    assert DECLARER in stack.slack.members(f"{taken}-1")


def test_an_invalid_template_stops_start_up(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # no .env here
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")  # pragma: allowlist secret
    for template, reason in (("inc {number} {slug}", "space"),
                             ("inc-{number}-{team}", "unknown placeholder {team}")):
        monkeypatch.setenv("CHANNEL_NAME_TEMPLATE", template)
        assert main(["serve", "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert f"invalid configuration: CHANNEL_NAME_TEMPLATE={template}" in err and reason in err
    with pytest.raises(ValidationError, match="needs \\{number\\}"):
        Settings(_env_file=None, channel_name_template="inc-{slug}")


async def home_of(stack: LocalStack, user: str) -> str:
    before = stack.slack.published_views.get(user)
    code, _ = await stack.driver.event({"type": "app_home_opened", "user": user,
                                        "channel": "D0BOTDM", "tab": "home"})
    assert code == 200
    await stack.slack.wait_until(lambda: stack.slack.published_views.get(user) is not before, 5)
    return str(stack.slack.published_views[user])


async def test_a_private_incident_is_hidden_from_non_members(stack: LocalStack) -> None:
    confirmation = await command_reply(
        stack, f"declare P2 credit-risk-v3 --private {TITLE}", DECLARER)
    assert "Declared *INC-1*" in confirmation and TITLE in confirmation  # the declarer sees it
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    channel = stack.slack.channel(view.link.channel_id)
    assert channel is not None and channel["is_private"]
    assert stack.slack.calls_to("conversations.create")[0].params.get("is_private") in (
        True, "true", "1", 1)

    [announcement] = stack.slack.top_level("ml-incidents")
    text, _ = private_announcement(await incident_of(stack, 1, Status.OPEN), None,
                                   stack.container.policy, T0)
    assert announcement["text"] == text
    shown = str(announcement)
    assert "Fraud" not in shown and "credit-risk-v3" not in shown
    assert [b["block_id"].split(":")[0] for b in announcement["blocks"] if ":" in b.get(
        "block_id", "")] == ["roles", "incident"]  # Take a role and the buttons stay

    await command_reply(stack, "assign 1 <@U0RESPOND|rae>", DECLARER)  # invited: a member
    await command_reply(stack, "assign 1 <@U0MLLEAD|dave>", DECLARER)  # rae stays a member
    assert [c.ok for c in stack.slack.calls_to("conversations.invite")] == [True, True, True]
    assert "Fraud" not in str(stack.slack.thread("ml-incidents", announcement["ts"]))

    for user in (DECLARER, RESPONDER, LEAD):
        assert TITLE in await command_reply(stack, "list", user)
        assert TITLE in await command_reply(stack, "status 1", user)
        assert TITLE in await home_of(stack, user)
    listed = await command_reply(stack, "list", OUTSIDER)
    status = await command_reply(stack, "status 1", OUTSIDER)
    timeline = await command_reply(stack, "timeline 1", OUTSIDER)
    home = await home_of(stack, OUTSIDER)
    for text in (listed, status, timeline, home):
        assert "Fraud" not in text and "credit-risk-v3" not in text
    assert "*INC-1* [SEV-2]" in listed and HIDDEN_TITLE in listed
    assert HIDDEN_TITLE in status and HIDDEN_TITLE in home

    refused = await command_reply(stack, "catchup 1", OUTSIDER)
    assert refused.startswith(":lock: INC-1 is private") and "Fraud" not in refused
    assert TITLE in await command_reply(stack, "catchup 1", DECLARER)

    stack.slack.add_member(view.link.channel_id, OUTSIDER)  # a member adds them by hand
    assert TITLE in await command_reply(stack, "status 1", OUTSIDER)  # Slack says: a member
    assert stack.slack.calls_to("conversations.members")

    async with aiohttp.ClientSession() as http, http.get(f"{stack.url}/status") as page:
        assert page.status == 200
        html = await page.text()
    assert f"INC-1: {HIDDEN_TITLE}" in html and "Fraud" not in html


async def test_a_private_incidents_stakeholder_update_goes_to_its_own_channel(stack: LocalStack) -> None:
    await command_reply(stack, f"declare P2 credit-risk-v3 --private {TITLE}", DECLARER)
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    reply = await command_reply(stack, "update 1 Card scoring paused while we investigate", DECLARER)
    assert reply == update_posted_reply(view.incident)
    [announcement] = stack.slack.top_level("ml-incidents")
    assert not [m for m in stack.slack.thread("ml-incidents", announcement["ts"])[1:]
                if "Card scoring paused" in m["text"]]  # nothing in the public thread
    posted = update_posted_text(view.incident, f"<@{DECLARER}>",
                                "Card scoring paused while we investigate")
    assert posted in [m["text"] for m in stack.slack.messages(view.link.channel_id)]


async def test_the_declare_form_has_a_private_box(stack: LocalStack) -> None:
    await stack.driver.slash_command("declare --private", user_id=DECLARER)
    await stack.slack.wait_for_call("views.open")
    form = stack.slack.latest_view("declare_incident")
    assert form is not None
    [box] = [b for b in form["blocks"] if b["block_id"] == "private"]
    assert box["element"]["type"] == "checkboxes" and box["element"]["initial_options"]
    code, _ = await stack.driver.view_submission("declare_incident", {
        "title": TITLE, "severity": "p3", "model": "fraud-detector", "private": ["private"]},
        user_id=DECLARER)
    assert code == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.labels == ["private"]
    assert view.link is not None and view.link.channel_id
    assert (stack.slack.channel(view.link.channel_id) or {}).get("is_private")
    text, _ = private_announcement(await incident_of(stack, 1, Status.OPEN), None, stack.container.policy, T0)
    assert stack.slack.top_level("ml-incidents")[-1]["text"] == text


async def close_incident(stack: LocalStack, severity: str = "P4") -> str:
    await command_reply(stack, f"declare {severity} fraud-detector Latency p99 over 2 s", DECLARER)
    await command_reply(stack, "resolve 1 autoscaled", DECLARER)
    await command_reply(stack, "postmortem 1", DECLARER)
    assert "INC-1 closed" in await command_reply(stack, "close 1", DECLARER)
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    return view.link.channel_id


async def test_the_channel_is_archived_n_days_after_close_with_a_postmortem_link(
        stack: LocalStack) -> None:
    channel = await close_incident(stack)
    clock = stack.clock
    assert isinstance(clock, FakeClock)
    clock.advance(days=29, hours=23)
    assert await lifecycle(stack).archive_due() == 0
    clock.advance(hours=2)
    assert await lifecycle(stack).archive_due() == 1
    await stack.settle()
    assert (stack.slack.channel(channel) or {}).get("is_archived")
    last = said_in(stack, channel)[-1]
    permalink = last.rsplit("<", 1)[-1].split("|")[0]  # the uploaded draft's
    assert "/files/" in permalink and draft_file("INC-1")[0] in permalink
    assert last == last_words(await incident_of(stack, 1), 30) + postmortem_line(permalink)
    state = await channel_state(stack, 1)
    assert state.archived_at == clock.now() and state.archived_by == "incident-bot-archiver"
    assert await lifecycle(stack).archive_due() == 0  # once
    assert len(stack.slack.calls_to("conversations.archive")) == 1

    await command_reply(stack, "note 1 late finding: the autoscaler was capped", RESPONDER)
    assert said_in(stack, channel)[-1] == last  # nothing posted to the archived channel
    assert await stack.container.outbox_store.rows("failed") == []


async def test_a_channel_archived_by_hand_is_recorded_and_left_alone(stack: LocalStack) -> None:
    await command_reply(stack, "declare P3 fraud-detector Scores drifting since Monday", DECLARER)
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    channel = view.link.channel_id

    event = stack.slack.archive_by_hand(channel, RESPONDER)
    assert event["type"] == "channel_archive" and event["user"] == RESPONDER
    code, _ = await stack.driver.event(event)
    assert code == 200
    await stack.settle()
    state = await channel_state(stack, 1)
    assert state.archived_by == RESPONDER
    async with stack.container.uow_factory() as uow:
        audited = [(e.action, e.actor) for e in await uow.audit.list(str(view.incident.id))]
    assert ("incident.channel_archived", RESPONDER) in audited

    posts = len(stack.slack.calls_to("chat.postMessage"))
    await command_reply(stack, "note 1 still drifting", RESPONDER)
    await command_reply(stack, "ack 1", RESPONDER)
    channel_posts = [c for c in stack.slack.calls_to("chat.postMessage")[posts:]
                     if c.params.get("channel") == channel]
    assert channel_posts == []  # the bot stopped posting there
    assert await stack.container.outbox_store.rows("failed") == []

    unarchive = stack.slack.archive_by_hand(channel, RESPONDER, archived=False)
    await stack.driver.event(unarchive)
    await stack.settle()
    assert (await channel_state(stack, 1)).archived_at is None
    await command_reply(stack, "note 1 back to work", RESPONDER)
    assert any("back to work" in t for t in said_in(stack, channel))


async def test_slack_saying_is_archived_is_recorded_not_retried(stack: LocalStack) -> None:
    await command_reply(stack, "declare P3 fraud-detector Scores drifting since Monday", DECLARER)
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    stack.slack.archive_by_hand(view.link.channel_id, RESPONDER)  # its event never arrives
    await command_reply(stack, "note 1 still drifting", RESPONDER)
    refused = [c for c in stack.slack.calls_to("chat.postMessage")
               if c.params.get("channel") == view.link.channel_id and not c.ok]
    assert [c.error for c in refused] == ["is_archived"]
    assert (await channel_state(stack, 1)).archived_by == "slack"
    assert await stack.container.outbox_store.rows("failed") == []
    assert await stack.container.outbox_store.pending_count() == 0


async def test_the_api_hides_a_private_incident_from_its_callers(stack: LocalStack) -> None:
    from tests.integration.api_support import Api, add_key

    await command_reply(stack, f"declare P2 credit-risk-v3 --private {TITLE}", DECLARER)
    await command_reply(stack, "declare P3 fraud-detector Scores drifting since Monday", DECLARER)
    key = await add_key(stack, "dashboard", ["incidents:read"])
    api = Api(stack)
    try:
        status, page, _ = await api.call("GET", "/incidents", key)
        assert status == 200
        _, one, _ = await api.call("GET", "/incidents/1", key)
    finally:
        await api.close()
    items = {item["number"]: item for item in page["items"]}
    assert items[1]["title"] == HIDDEN_TITLE and items[1]["model"] == "hidden"
    assert items[2]["title"] == "Scores drifting since Monday"
    assert one["title"] == HIDDEN_TITLE and one["description"] is None
    assert one["timeline"] == [] and "Fraud" not in str(one)


async def test_the_weekly_digest_names_no_private_title(stack: LocalStack) -> None:
    import uuid
    from datetime import date

    import sqlalchemy as sa

    from storage.postmortem_tables import action_items

    await command_reply(stack, f"declare P2 credit-risk-v3 --private {TITLE}", DECLARER)
    await command_reply(stack, "declare P2 fraud-detector Scores drifting since Monday", DECLARER)
    await command_reply(stack, "resolve 1 ring broken up", DECLARER)
    await command_reply(stack, "resolve 2 retrained", DECLARER)
    view = await stack.container.service.view(IncidentRef(number=1))
    async with stack.container.engine.begin() as conn:
        await conn.execute(sa.insert(action_items).values(
            id=uuid.uuid4(), incident_id=view.incident.id, number=1, text="Freeze the fraud ring's cards",
            owner=RESPONDER, due_date=date(2026, 11, 5), severity="p2", ticket="OPS-9",
            status="open", created_by=DECLARER, created_at=T0))
    clock = stack.clock
    assert isinstance(clock, FakeClock)
    clock.advance(days=8)  # SEV-2 postmortems are due 7 days after resolution
    insights = stack.container.features.insights
    assert insights is not None and await insights.digest.run() is True
    await stack.settle()
    [digest] = [m["text"] for m in stack.slack.messages("ml-incidents")
                if "Weekly incident digest" in m["text"]]
    assert f"• INC-1 {HIDDEN_TITLE}:" in digest and "• INC-2 Scores drifting since Monday:" in digest
    assert f"INC-1 #1 {HIDDEN_ITEM}" in digest
    assert "Fraud" not in digest and "fraud ring" not in digest
