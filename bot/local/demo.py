"""``incident-bot demo``: a short incident with no Slack at all.

Starts the bot on SQLite against the local Slack stand-in, plays an incident through the same
signed HTTP endpoint Slack would use (declare, roles taken by command and by the announcement's
menu, acknowledge, a thread note, a message from another channel added with the *Add to
timeline* shortcut, a stakeholder update, a newcomer's catch-up on joining, mitigate, resolve)
and prints a readable transcript of what the bot posted where. The demo's
clock is scripted (an hour of incident plays in seconds), and the SLO clock ticks as the
scheduler would: the missing Incident Commander is flagged, an update is asked for, the
mitigation target is breached and the incident escalated, all per GOV-001.
"""

from __future__ import annotations

import logging
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.output import bold
from bot.features.api import demo_access
from bot.local.demo_rollback import play_rollback
from bot.local.stack import LocalStack
from bot.logging_config import configure
from bot.slack_ui.ids import ActionId, CallbackId
from bot.slack_ui.incident import ACTION_ACK, ACTION_MITIGATE
from domain.model import format_duration
from domain.services import IncidentRef

ALICE, BOB = "U0DECLARER", "U0RESPOND"
NAMES = {ALICE: "alice", BOB: "bob", "U0MLLEAD": "dave", "U0ONCALL": "carol"}
START = datetime(2026, 11, 22, 14, 2, tzinfo=UTC)


class ScriptedClock:
    """The demo's time: set by the script, read by the bot (the Clock port)."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current

    def at(self, hhmm: str) -> None:
        hours, minutes = (int(x) for x in hhmm.split(":"))
        self.current = START.replace(hour=hours, minute=minutes)
WIDTH = 96


class Transcript:
    """Turns the stand-in's recorded Web API calls into lines a person can read."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.seen = 0

    def channel(self, channel_id: str) -> str:
        info = self.stack.slack.channel(channel_id)
        return f"#{info['name']}" if info else channel_id

    def say(self, who: str, what: str) -> None:
        print(f"\n{bold(who)} {what}")

    def flush(self) -> None:
        calls = self.stack.slack.calls[self.seen:]
        self.seen = len(self.stack.slack.calls)
        for call in calls:
            if not call.ok:
                continue
            line = self.describe(call.method, call.params, call.response or {})
            if line:
                print(textwrap.indent(line, "    "))

    def describe(self, method: str, params: dict[str, Any], response: dict[str, Any]) -> str | None:
        if method == "chat.postMessage":
            where = self.channel(response.get("channel") or params.get("channel", ""))
            where += " (thread)" if params.get("thread_ts") else ""
            return f"bot -> {where}: {_clip(params.get('text', ''))}"
        if method == "chat.update":
            return f"bot updates the announcement in {self.channel(params.get('channel', ''))}: " \
                   f"{_clip(params.get('text', ''))}"
        if method == "conversations.create":
            return f"bot creates channel #{params.get('name')}"
        if method == "conversations.setTopic":
            return f"bot sets topic of {self.channel(params.get('channel', ''))}: {params.get('topic')}"
        if method == "conversations.invite":
            users = ", ".join(NAMES.get(u, u) for u in str(params.get("users", "")).split(","))
            return f"bot invites {users} to {self.channel(params.get('channel', ''))}"
        if method == "pins.add":
            return f"bot pins the incident summary in {self.channel(params.get('channel', ''))}"
        if method == "chat.postEphemeral":
            lines = [line for line in str(params.get("text", "")).splitlines() if line.strip()]
            head = f"bot -> only {NAMES.get(str(params.get('user')), params.get('user'))} " \
                   f"sees, in {self.channel(str(params.get('channel', '')))}:"
            return "\n".join([head, *("    " + _clip(line, WIDTH - 4) for line in lines[:24])])
        if method == "views.open":
            title = (params.get("view") or {}).get("title", {}).get("text", "a form")
            return f"bot opens the form \"{title}\""
        return None

    def responses(self, since: int) -> int:
        for response in self.stack.driver.responses[since:]:
            text = response["body"].get("text", "")
            print(textwrap.indent(f"(only you can see this) {_clip(text)}", "    "))
        return len(self.stack.driver.responses)


def _clip(text: str, width: int = WIDTH) -> str:
    first = " / ".join(line for line in str(text).splitlines() if line.strip())
    return first if len(first) <= width else first[: width - 1] + "…"


class Scene:
    """The demo's script, one step at a time: what a person does, then what the bot did."""

    def __init__(self, stack: LocalStack, clock: ScriptedClock, transcript: Transcript) -> None:
        self.stack, self.clock, self.t = stack, clock, transcript
        self.shown = 0
        self.incidents = stack.slack.channel_id("ml-incidents")

    async def later(self, hhmm: str) -> None:
        """Time passes; the SLO clock ticks as the scheduler would."""
        self.clock.at(hhmm)
        clocks = self.stack.container.features.clocks
        assert clocks is not None, "build() installs the SLO clocks"
        await clocks.tick()
        await self.stack.settle()
        if self.stack.slack.calls[self.t.seen:]:
            self.t.say(f"[{hhmm}]", "the SLO clock ticks")
            self.t.flush()

    async def command(self, hhmm: str, who: str, shown: str, text: str, user_id: str,
                      **kwargs: Any) -> None:
        """A person types ``/incident <text>``; their ephemeral answer, then what the bot posted."""
        self.clock.at(hhmm)
        self.t.say(f"[{hhmm}] {who}:", shown)
        await self.stack.driver.slash_command(text, user_id=user_id, **kwargs)
        await self.stack.slack.wait_until(lambda: len(self.stack.driver.responses) > self.shown, 5)
        self.shown = self.t.responses(self.shown)
        await self.stack.settle()
        self.t.flush()

    async def click(self, hhmm: str, who: str, shown: str, action_id: str, message_ts: str) -> None:
        """A person clicks a button on the announcement."""
        self.clock.at(hhmm)
        self.t.say(f"[{hhmm}] {who}:", shown)
        await self.stack.driver.block_action(action_id, message_ts=message_ts,
                                             channel_id=self.incidents, user_id=NAMES_TO_IDS[who])
        await self.stack.settle()
        self.t.flush()

    async def reply_in_thread(self, hhmm: str, who: str, note: str, thread_ts: str) -> None:
        self.clock.at(hhmm)
        self.t.say(f"[{hhmm}] {who}:", f"replies in the announcement's thread: {note}")
        await self.stack.driver.user_says(self.incidents, NAMES_TO_IDS[who], note, thread_ts=thread_ts)
        await self.stack.settle()
        self.t.flush()


NAMES_TO_IDS = {"alice": ALICE, "bob": BOB}
DAVE = "U0MLLEAD"


async def _collaborate(scene: Scene, announcement: str) -> None:
    """Issue 19 in the demo: roles by command and by menu, a shortcut note from another
    channel, and the read-in a newcomer gets on joining the incident channel."""
    stack = scene.stack
    await scene.command("14:03", "alice", "/incident role 1 comms @bob", "role 1 comms <@U0RESPOND|bob>",
                        ALICE)
    scene.clock.at("14:04")
    scene.t.say("[14:04] bob:", "picks Scribe in the announcement's [Take a role] menu")
    await stack.driver.block_action(ActionId.TAKE_ROLE, "scribe", message_ts=announcement,
                                    channel_id=scene.incidents, user_id=BOB)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > scene.shown, 5)
    scene.shown = scene.t.responses(scene.shown)
    await stack.settle()
    scene.t.flush()


async def _shortcut(scene: Scene) -> None:
    stack = scene.stack
    scene.clock.at("14:13")
    team = stack.slack.add_channel("ml-feature-store", members=[ALICE, BOB])
    message = stack.slack.add_user_message(team, ALICE, "Feature store p99 jumped to 4s at 14:01; "
                                           "nulls for the income feature since the ETL run")
    scene.t.say("[14:13] alice in #ml-feature-store:", message["text"])
    scene.t.say("[14:14] bob:", "uses the [Add to timeline] shortcut on alice's message, picks INC-1")
    await stack.driver.message_shortcut(CallbackId.ADD_TO_TIMELINE, team, message["ts"], user_id=BOB)
    await stack.slack.wait_until(lambda: stack.slack.latest_view(CallbackId.PICK_INCIDENT) is not None, 5)
    scene.t.flush()
    view = (await stack.container.service.view(IncidentRef(number=1))).incident
    await stack.driver.view_submission(CallbackId.PICK_INCIDENT, {"incident": str(view.id)}, user_id=BOB)
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > scene.shown, 5)
    scene.shown = scene.t.responses(scene.shown)
    await stack.settle()
    scene.t.flush()
    scene.clock.at("14:15")
    scene.t.say("[14:15] alice:", "reacts :pushpin: to her message: the note becomes a key note")
    await stack.driver.user_reacts(team, ALICE, message["ts"], "pushpin")
    await stack.settle()
    scene.t.flush()


async def _catchup(scene: Scene) -> None:
    stack = scene.stack
    channel = (await stack.container.service.view(IncidentRef(number=1))).link
    scene.clock.at("14:26")
    scene.t.say("[14:26] dave:", "joins the incident channel")
    await stack.driver.user_joins(channel.channel_id or "" if channel else "", DAVE, inviter=BOB)
    await stack.settle()
    scene.t.flush()


async def _play(scene: Scene) -> None:
    """Declare, acknowledge, a thread note, an update, mitigate, resolve; the clock ticks between."""
    await scene.command("14:02", "alice", "/incident declare P1 credit-risk-v3 Null predictions since "
                        "14:02", "declare P1 credit-risk-v3 Null predictions since 14:02", ALICE)
    # the announcement is posted by the outbox; on a loaded machine it can land after the reply
    posted = await scene.stack.slack.wait_until(lambda: scene.stack.slack.top_level(scene.incidents), 30)
    announcement = posted[-1]["ts"]
    await _collaborate(scene, announcement)
    await scene.click("14:05", "bob", "clicks [Acknowledge] on the announcement", ACTION_ACK,
                      announcement)
    await scene.later("14:07")
    await scene.reply_in_thread("14:12", "bob", "Feature store returns nulls for 3% of rows since the "
                                "14:00 ETL run", announcement)
    await _shortcut(scene)
    await scene.later("14:17")
    update = "Scores for 3% of applicants are null; rollback of the feature view under way"
    await scene.command("14:20", "bob", f"/incident update 1 {update}", f"update 1 {update}", BOB)
    await _catchup(scene)
    await scene.later("14:32")
    await scene.click("14:41", "bob", "clicks [Mitigate]: rolled the feature view back to yesterday's "
                      "snapshot", ACTION_MITIGATE, announcement)
    channel = scene.stack.slack.channel_by_name("inc-1-null-predictions-since-14-02") or {}
    await scene.command("15:10", "alice", f"in #{channel.get('name')}: /incident resolve ETL fixed and "
                        "backfilled", "resolve ETL fixed and backfilled", ALICE,
                        channel_id=channel.get("id"), channel_name=channel.get("name"))


async def _print_records(stack: LocalStack, url: str) -> None:
    """What the bot stored: the incident's timeline and audit trail, and its SLO figures."""
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    print("\n" + bold("Timeline of INC-1 (incident_timeline)"))
    for event in view.timeline:
        print(f"    {event.occurred_at:%H:%M:%S} {event.event_type.value:<14} "
              f"{event.author_name or event.author}: {_clip(event.body, 70)}")
    async with stack.container.uow_factory() as uow:
        audit = await uow.audit.list(str(view.incident.id))
    print("\n" + bold("Audit trail (audit_events)"))
    for a in audit:
        print(f"    {a.occurred_at:%H:%M:%S} {a.action:<24} by {a.actor_name} ({a.actor})")
    print(f"\nINC-1 is {view.incident.status.value}; time to acknowledge "
          f"{format_duration(view.incident.time_to_acknowledge())}, time to resolve "
          f"{format_duration(view.incident.time_to_resolve())}. Database kept at {url}")
    print("Next: connect a real workspace with manifest.yml (see README), then `make run` with "
          "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET set.")


async def run_demo(database_url: str | None = None) -> int:
    configure("WARNING", "console")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="incident-bot-demo-"))
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'demo.db'}"
    print("incident-bot demo: the real bot, a local Slack stand-in, SQLite at", url)
    print("Every step below is a signed HTTP request to the bot's /slack/events, as Slack sends.")
    clock = ScriptedClock()
    async with LocalStack(url, clock=clock, settings_overrides={"tick_seconds": 0},
                          slack_follows_clock=True) as stack:
        stack.slack.add_usergroup("ml-platform-lead", ["U0MLLEAD"])
        stack.slack.add_usergroup("vp-engineering", ["U0ONCALL"])
        t = Transcript(stack)
        t.flush()
        await _play(Scene(stack, clock, t))
        await _print_records(stack, url)
        await play_rollback(stack, clock, t)  # a deploy, drift, What changed?, a rollback (issue 18)
        await demo_access(stack, t.flush)  # the REST API: a demo token, curl lines (issue 17)
    return 0
