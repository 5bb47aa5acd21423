"""Related incidents and the catch-up on join (issue 19, items 9 and 5), driven as Slack drives the
bot: signed slash commands, a signed ``block_actions`` click on the announcement, signed
``member_joined_channel`` events (and a redelivery of one) against the Slack stand-in. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot.local.stack import LocalStack
from bot.slack_ui import catchup as catchup_ui
from bot.slack_ui.ids import ActionId
from bot.slack_ui.incident import same_as_block
from bot.slack_ui.postmortems import PostmortemTexts
from bot.slack_ui.related import LINK_USAGE, RelatedTexts, duplicate_reply, linked_reply, related_line
from domain.model import Status
from domain.related import DuplicateOutcome, RelatedIncident
from domain.services import IncidentRef
from tests.e2e.conftest import command_reply
from tests.e2e.rendered import head_before_people, incident_of, slack_user

ALICE, BOB, CAROL, DAVE = "U0DECLARER", "U0RESPOND", "U0ONCALL", "U0MLLEAD"


async def declare(stack: LocalStack, text: str, user: str = ALICE) -> dict[str, Any]:
    """Declare; return the incident's channel (created by the bot)."""
    reply = await command_reply(stack, f"declare {text}", user)
    assert "Declared" in reply, reply
    return await channel_of(stack, len(stack.slack.top_level("ml-incidents")))


async def channel_of(stack: LocalStack, number: int) -> dict[str, Any]:
    view = await stack.container.service.view(IncidentRef(number=number))
    assert view.link is not None and view.link.channel_id
    channel = stack.slack.channel(view.link.channel_id)
    assert channel is not None
    return channel


async def in_channel(stack: LocalStack, channel: dict[str, Any], text: str, user: str) -> str:
    before = len(stack.driver.responses)
    status, _ = await stack.driver.slash_command(text, user_id=user, channel_id=channel["id"],
                                                 channel_name=channel["name"])
    assert status == 200
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    await stack.settle()
    return str(stack.driver.responses[-1]["body"].get("text", ""))


def channel_texts(stack: LocalStack, channel: dict[str, Any]) -> list[str]:
    return [m.get("text", "") for m in stack.slack.messages(channel["id"])]


async def audit_actions(stack: LocalStack, number: int) -> list[str]:
    view = await stack.container.service.view(IncidentRef(number=number))
    async with stack.container.uow_factory() as uow:
        return [e.action for e in await uow.audit.list(str(view.incident.id))]


async def timeline_bodies(stack: LocalStack, number: int) -> list[str]:
    view = await stack.container.service.view(IncidentRef(number=number), with_timeline=True)
    return [e.body for e in view.timeline]


# -- item 9: related incidents --------------------------------------------------------------------

async def test_link_relates_two_incidents_once_on_both_timelines_and_in_status(
        stack: LocalStack) -> None:
    await declare(stack, "P2 credit-risk-v3 Null predictions")
    second = await declare(stack, "P3 fraud-detector Latency up")

    reply = await in_channel(stack, second, "link 1", BOB)
    one, two = await incident_of(stack, 1), await incident_of(stack, 2)
    assert reply == linked_reply(two, one)
    assert any("Linked to INC-1" in b for b in await timeline_bodies(stack, 2))
    assert any("Linked to INC-2" in b for b in await timeline_bodies(stack, 1))
    assert RelatedTexts().linked(two, one, slack_user(BOB)) in channel_texts(stack, second)
    first = await channel_of(stack, 1)
    assert RelatedTexts().linked(one, two, slack_user(BOB)) in channel_texts(stack, first)
    assert "incident.linked" in await audit_actions(stack, 2)

    status = await in_channel(stack, second, "status", BOB)
    assert "*Related:*" in status and "related to" in status and "*INC-1*" in status
    # both announcements show the relation (re-rendered by the link)
    first_announcement, second_announcement = stack.slack.top_level("ml-incidents")
    assert related_line(RelatedIncident("related", 2, two.title, Status.OPEN, second["id"])) in str(
        first_announcement["blocks"])
    assert related_line(RelatedIncident("related", 1, one.title, Status.OPEN, first["id"])) in str(
        second_announcement["blocks"])

    # the same pair again (either way round), itself, an unknown incident: refused, ephemeral
    again = await command_reply(stack, "link 1 2", BOB)
    assert "already linked to INC-2" in again
    assert "cannot be linked to itself" in await in_channel(stack, second, "link 2", BOB)
    assert "No incident INC-99" in await in_channel(stack, second, "link 99", BOB)
    assert LINK_USAGE in await in_channel(stack, second, "link", BOB)
    assert all(r["body"]["response_type"] == "ephemeral" for r in stack.driver.responses)
    assert sum(b.startswith("Linked to") for b in await timeline_bodies(stack, 2)) == 1


async def test_duplicate_of_resolves_invites_responders_and_cross_notes(stack: LocalStack) -> None:
    survivor = await declare(stack, "P2 credit-risk-v3 Null predictions")
    duplicate = await declare(stack, "P2 credit-risk-v3 Scores all zero", user=CAROL)
    await in_channel(stack, duplicate, "assign <@U0MLLEAD|dave>", CAROL)
    stack.slack.add_user("U0ERIN", "erin", "erin@example.com")
    await in_channel(stack, duplicate, "role scribe <@U0ERIN|erin>", CAROL)  # issue 19 item 1
    await stack.driver.user_says(duplicate["id"], BOB, "feature store p99 is 4s")
    await stack.settle()
    assert BOB not in stack.slack.members(survivor["id"])

    reply = await in_channel(stack, duplicate, "duplicate-of 1", CAROL)
    one, two = await incident_of(stack, 1), await incident_of(stack, 2)
    assert reply.startswith(duplicate_reply(DuplicateOutcome(two, one, [], None)))
    view = await stack.container.service.view(IncidentRef(number=2), with_timeline=True)
    assert view.incident.status is Status.RESOLVED  # a legal transition: resolved, not closed
    assert any(e.body == "investigating → resolved: duplicate of INC-1"
               or e.body == "open → resolved: duplicate of INC-1" for e in view.timeline)
    # declarer, commander, role holder and note author are invited to the surviving channel
    for user in (CAROL, DAVE, "U0ERIN", BOB):
        assert user in stack.slack.members(survivor["id"])
    assert any("was marked a duplicate of INC-1" in b for b in await timeline_bodies(stack, 1))
    assert any("Resolved as a duplicate of INC-1" in b for b in await timeline_bodies(stack, 2))
    texts, carol = RelatedTexts(), slack_user(CAROL)
    marked = head_before_people(lambda people: texts.duplicated_here(two, one, carol, people))
    assert any(t.startswith(marked) for t in channel_texts(stack, survivor))
    assert texts.duplicate(two, one, carol, None) in channel_texts(stack, duplicate)
    actions = await audit_actions(stack, 2)
    assert "incident.marked_duplicate" in actions and "incident.status_updated" in actions
    kept, resolved = stack.slack.top_level("ml-incidents")
    assert "(resolved)" in resolved["text"] and "duplicate of" in str(resolved["blocks"])
    assert "duplicated by" in str(kept["blocks"]) and "*INC-2*" in str(kept["blocks"])
    # one postmortem per thing that happened: the SEV-2 duplicate needs none and closes as it is
    required = PostmortemTexts().required(two, None).split(f"*{two.key}*")[0]
    assert not any(t.startswith(required) for t in channel_texts(stack, duplicate))
    assert PostmortemTexts().waived(two, one) in channel_texts(stack, duplicate)
    assert "closed" in await in_channel(stack, duplicate, "close", CAROL)
    assert (await stack.container.service.view(IncidentRef(number=2))).incident.status is Status.CLOSED


async def test_duplicate_refusals_and_chains(stack: LocalStack) -> None:
    one = await declare(stack, "P3 credit-risk-v3 First")
    two = await declare(stack, "P3 credit-risk-v3 Second")
    three = await declare(stack, "P3 credit-risk-v3 Third")
    assert "duplicate of itself" in await in_channel(stack, one, "duplicate-of 1", BOB)
    assert "No incident INC-42" in await in_channel(stack, one, "duplicate-of 42", BOB)
    first, second = await incident_of(stack, 1), await incident_of(stack, 2)
    assert (await in_channel(stack, two, "duplicate-of 1", BOB)).startswith(
        duplicate_reply(DuplicateOutcome(await incident_of(stack, 2), first, [], None)))
    # a chain: INC-3 pointed at INC-2 (a duplicate of INC-1) goes to INC-1, and says so
    chained = await in_channel(stack, three, "duplicate-of 2", BOB)
    assert chained.startswith(duplicate_reply(
        DuplicateOutcome(await incident_of(stack, 3), first, [], second)))
    # the other way round would leave nothing carrying on; twice is refused
    assert "would leave no incident carrying on" in await in_channel(
        stack, one, "duplicate-of 2", BOB)
    assert "already a duplicate of INC-1" in await in_channel(stack, two, "duplicate-of 1", BOB)
    # a closed survivor is refused with what to do instead
    four = await declare(stack, "P4 fraud-detector Old one")
    five = await declare(stack, "P4 fraud-detector New one")
    await in_channel(stack, four, "resolve fixed", BOB)
    await in_channel(stack, four, "close", BOB)
    refused = await in_channel(stack, five, "duplicate-of 4", BOB)
    assert "INC-4 is closed" in refused and "/incident link 4" in refused
    view = await stack.container.service.view(IncidentRef(number=5))
    assert view.incident.status is Status.OPEN


async def test_this_is_the_same_button_marks_the_new_incident_a_duplicate(stack: LocalStack) -> None:
    await declare(stack, "P2 credit-risk-v3 Null predictions")
    other_model = await declare(stack, "P2 fraud-detector Latency")  # noqa: F841
    await declare(stack, "P2 credit-risk-v3 Scores all zero", user=CAROL)
    incidents = stack.slack.channel_id("ml-incidents")
    first, second, third = stack.slack.top_level("ml-incidents")
    assert ActionId.SAME_AS not in str(first["blocks"])  # the first on its model: no offer
    assert ActionId.SAME_AS not in str(second["blocks"])  # another model: no offer
    assert same_as_block(await incident_of(stack, 3, Status.OPEN),
                         await incident_of(stack, 1, Status.OPEN)) in third["blocks"]

    code, _ = await stack.driver.block_action(ActionId.SAME_AS, message_ts=third["ts"],
                                              channel_id=incidents, user_id=BOB)
    assert code == 200
    await stack.settle()
    await stack.slack.wait_until(lambda: stack.driver.responses, 5)
    assert stack.driver.responses[-1]["body"]["text"].startswith(duplicate_reply(DuplicateOutcome(
        await incident_of(stack, 3), await incident_of(stack, 1), [], None)))
    view = await stack.container.service.view(IncidentRef(number=3))
    assert view.incident.status is Status.RESOLVED
    assert "incident.marked_duplicate" in await audit_actions(stack, 3)
    refreshed = stack.slack.message(incidents, third["ts"]) or {}
    assert ActionId.SAME_AS not in str(refreshed["blocks"])  # the offer is gone once taken
    # a stale copy of the button clicked again: refused, nothing changes
    await stack.driver.block_action(ActionId.SAME_AS, message=third, channel_id=incidents,
                                    message_ts=third["ts"], user_id=BOB)
    await stack.settle()
    await stack.slack.wait_until(lambda: len(stack.driver.responses) >= 2, 5)
    assert "already a duplicate of INC-1" in stack.driver.responses[-1]["body"]["text"]


# -- item 5: catch-up on join ---------------------------------------------------------------------

async def test_joining_an_incident_channel_posts_one_ephemeral_read_in(stack: LocalStack) -> None:
    channel = await declare(stack, "P1 credit-risk-v3 Null predictions since 14:02")
    await declare(stack, "P3 fraud-detector Related one")
    await in_channel(stack, channel, "ack", BOB)
    await in_channel(stack, channel, "assign <@U0RESPOND|bob>", BOB)
    await in_channel(stack, channel, "update Rolling back to v2; ETA 15 min", BOB)
    await stack.driver.user_says(channel["id"], BOB, "null rate started with the 14:00 deploy")
    await in_channel(stack, channel, 'action add "Alert on null rate" owner:<@U0RESPOND|bob> '
                                     "due:2099-01-01 severity:p2 ticket:OPS-1", BOB)
    await in_channel(stack, channel, "link 2", BOB)
    await stack.settle()

    def read_ins() -> list[dict[str, Any]]:
        return [e for e in stack.slack.ephemerals if e["via"] == "chat.postEphemeral"
                and "Catch-up on" in e["text"]]

    status, _ = await stack.driver.user_joins(channel["id"], DAVE, inviter=BOB)
    assert status == 200
    await stack.slack.wait_until(read_ins, 5)
    await stack.settle()
    [read_in] = read_ins()
    assert read_in["user"] == DAVE
    assert read_in["channel"] == channel["id"]
    text = read_in["text"]
    for part in ("Catch-up on INC-1", "investigating", "SEV-1", "credit-risk-v3",
                 "<@U0RESPOND>", "Rolling back to v2; ETA 15 min",
                 "null rate started with the 14:00 deploy", "Alert on null rate", "INC-2"):
        assert part in text, part
    catchup = await stack.container.features.catchups.read_in(IncidentRef(number=1))
    assert catchup.clocks and catchup.next_update_due and catchup.related
    assert text == catchup_ui.text(catchup)
    # Slack gives each block an id of its own
    assert [{k: v for k, v in block.items() if k != "block_id"}
            for block in read_in["blocks"]] == catchup_ui.blocks(catchup)

    # Slack redelivers the same event (same event_id): no second read-in
    await stack.driver.redeliver_last_event(retry_num=1)
    await stack.settle()
    assert len(read_ins()) == 1

    # the bot joining, or someone joining a channel that is not an incident's: nothing
    await stack.driver.event(stack.driver.member_joined_event(channel["id"], "U0INCBOT"))
    await stack.driver.user_joins("general", DAVE)
    await stack.settle()
    assert len(read_ins()) == 1
    # the declarer, added by the bot as it created the channel, declared it a moment ago
    await stack.driver.user_joins(channel["id"], ALICE, inviter="U0INCBOT")
    await stack.settle()
    assert len(read_ins()) == 1
    # joining again later (a new event) is a new read-in
    await stack.driver.user_joins(channel["id"], CAROL)
    await stack.slack.wait_until(lambda: len(read_ins()) == 2, 5)
    assert read_ins()[-1]["user"] == CAROL


async def test_incident_catchup_on_demand(stack: LocalStack) -> None:
    channel = await declare(stack, "P2 credit-risk-v3 Scores drift")
    await stack.driver.user_says(channel["id"], BOB, "PSI 0.31 on income")
    await stack.settle()
    reply = await in_channel(stack, channel, "catchup", CAROL)
    assert "Catch-up on INC-1" in reply and "PSI 0.31 on income" in reply
    assert "Commander: _unassigned_" in reply and "None posted yet" in reply
    assert stack.driver.responses[-1]["body"]["response_type"] == "ephemeral"
    assert stack.driver.responses[-1]["body"].get("blocks")
    elsewhere = await command_reply(stack, "catchup 1", CAROL)
    assert "Catch-up on INC-1" in elsewhere
    assert "not an incident channel" in await command_reply(stack, "catchup", CAROL)


async def test_the_read_in_names_role_holders_and_key_notes_first(stack: LocalStack) -> None:
    """With the roles (item 1) and key notes (item 3) features: the read-in names who holds
    which role and shows the notes marked key (by the :pushpin: reaction) instead of the latest."""
    channel = await declare(stack, "P2 credit-risk-v3 Scores drift")
    await in_channel(stack, channel, "role comms <@U0ONCALL|carol>", BOB)
    await stack.driver.user_says(channel["id"], BOB, "root cause: upstream schema change")
    await stack.driver.user_says(channel["id"], BOB, "chatter about lunch")
    await stack.settle()
    root = next(m for m in stack.slack.messages(channel["id"])
                if m.get("text") == "root cause: upstream schema change")
    await stack.driver.user_reacts(channel["id"], CAROL, root["ts"], "pushpin")
    await stack.settle()

    await stack.driver.user_joins(channel["id"], DAVE)
    await stack.slack.wait_until(lambda: any(
        e["user"] == DAVE and e["via"] == "chat.postEphemeral" for e in stack.slack.ephemerals), 5)
    [read_in] = [e for e in stack.slack.ephemerals
                 if e["user"] == DAVE and e["via"] == "chat.postEphemeral"]
    assert "<@U0ONCALL>" in read_in["text"] and "Communications lead" in read_in["text"]
    assert "*Key notes*" in read_in["text"]
    assert "root cause: upstream schema change" in read_in["text"]
    assert "chatter about lunch" not in read_in["text"]
