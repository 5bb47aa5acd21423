"""Nothing lost when Slack fails; nothing but clear 4xx answers for bad requests."""

from __future__ import annotations

import asyncio
import os
import random
import string
import sys
from pathlib import Path

import pytest
import structlog

from bot.local.stack import LocalStack
from bot.slack_ui.incident import ACTION_RESOLVE, NOT_AN_INCIDENT
from domain.services import IncidentRef
from tests.databases import sqlite_url

DECLARE = "declare P1 credit-risk-v3 Null predictions since 14:02"
ROOT = Path(__file__).resolve().parents[2]


def fast_retries() -> dict[str, float]:
    return {"outbox_backoff_seconds": 0.05, "outbox_max_backoff_seconds": 0.3}


async def status_of_first_incident(stack: LocalStack, wanted: str | None = None,
                                   within: float = 15.0) -> str:
    """INC-1's status once it exists (and is ``wanted``): the acked work runs in the background,
    so a loaded machine may take a while; polling keeps the test independent of its speed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    status = "not declared"
    while True:
        try:
            status = (await stack.container.service.view(IncidentRef(number=1))).incident.status.value
            if wanted is None or status == wanted:
                return status
        except Exception:  # not declared yet
            if loop.time() > deadline:
                raise
        if loop.time() > deadline:
            raise AssertionError(f"INC-1 is {status}, not {wanted}, after {within} s")
        await asyncio.sleep(0.05)


async def test_a_slack_outage_delays_messages_but_loses_and_repeats_none(database_url: str) -> None:
    async with LocalStack(database_url, settings_overrides=fast_retries()) as stack:
        stack.slack.set_down(True)
        code, _ = await stack.driver.slash_command(DECLARE)
        assert code == 200  # the declaration does not wait for Slack
        assert (await status_of_first_incident(stack)) == "open"
        code, _ = await stack.driver.slash_command("resolve 1 fixed", user_id="U0RESPOND")
        await status_of_first_incident(stack, "resolved")
        await asyncio.sleep(0.5)  # several delivery attempts fail meanwhile
        assert await stack.container.outbox_store.pending_count() > 0
        stack.slack.set_down(False)
        await stack.settle()
        incidents = stack.slack.channel_id("ml-incidents")
        [announcement] = stack.slack.top_level(incidents)
        assert "(resolved)" in announcement["text"]
        assert len(stack.slack.calls_to("conversations.create")) == sum(
            1 for c in stack.slack.calls_to("conversations.create") if c.ok)
        assert [c.ok for c in stack.slack.calls_to("conversations.create")].count(True) == 1
        replies = [r for r in stack.slack.thread(incidents, announcement["ts"])[1:]
                   if "What changed?" not in r["text"]]  # the model's changes (issue 18)
        assert [r["text"].split("*")[1] for r in replies] == ["INC-1 resolved"]


async def test_rate_limits_are_honoured_with_retry_after(tmp_path: Path) -> None:
    async with LocalStack(sqlite_url(tmp_path), settings_overrides=fast_retries()) as stack:
        stack.slack.rate_limit_next(2, retry_after=1, method="chat.postMessage")
        await stack.driver.slash_command(DECLARE)
        await stack.settle(timeout=15)
        posts = stack.slack.calls_to("chat.postMessage")
        limited = [c for c in posts if c.status == 429]
        delivered = [c for c in posts if c.ok]
        assert len(limited) == 2
        assert delivered[0].time - limited[0].time >= 1.0  # waited for Retry-After
        assert len(stack.slack.top_level("ml-incidents")) == 1


@pytest.mark.parametrize("sign", ["none", "wrong", "stale"])
async def test_unsigned_wrongly_signed_and_stale_requests_get_401(tmp_path: Path, sign: str) -> None:
    async with LocalStack(sqlite_url(tmp_path)) as stack:
        code, body = await stack.driver.slash_command(DECLARE, sign=sign)  # type: ignore[arg-type]
        assert code == 401 and "signature" in body["error"]
        await asyncio.sleep(0.1)
        assert await stack.container.service.list_incidents() == []


MALFORMED = [
    ("payload=notjson", "application/x-www-form-urlencoded", 400),
    ("{not json", "application/json", 400),
    ('payload={"type": "block_actions"}', "application/x-www-form-urlencoded", 400),
    ('payload={"type": "view_submission", "view": {}, "user": {"id": "U1"}}',
     "application/x-www-form-urlencoded", 400),
    ('{"type": "event_callback", "event": "x"}', "application/json", 400),
    ('{"type": "nonsense"}', "application/json", 404),
    ("", "application/json", 404),
]


async def test_malformed_payloads_get_a_4xx_with_a_reason_and_no_traceback(tmp_path: Path) -> None:
    async with LocalStack(sqlite_url(tmp_path)) as stack:
        with structlog.testing.capture_logs() as logs:
            for body, content_type, expected in MALFORMED:
                code, answer = await stack.driver.post(body, content_type)
                assert code == expected, (body, code, answer)
                assert answer["error"]
        assert not [e for e in logs if e.get("log_level") in ("error", "critical")
                    or "exc_info" in e]


async def test_a_thousand_random_command_texts_get_a_reply_and_never_a_5xx(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    words = ["declare", "ack", "resolve", "note", "assign", "severity", "status", "timeline",
             "list", "close", "reopen", "P1", "sev-9", "<@U0RESPOND|bob>", "42", "INC-1",
             "credit-risk-v3", "'; DROP TABLE incidents;--", "\u202e", "🔥", "%s", "{}", "\x00"]
    alphabet = string.printable + "éü漢字🙂\u00a0"

    def random_text() -> str:
        if rng.random() < 0.5:
            return " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))

    async with LocalStack(sqlite_url(tmp_path)) as stack:
        await stack.driver.slash_command(DECLARE)
        with structlog.testing.capture_logs() as logs:
            sem = asyncio.Semaphore(20)

            async def one(text: str) -> int:
                async with sem:
                    code, body = await stack.driver.slash_command(text, user_id="U0RESPOND")
                    return code

            codes = await asyncio.gather(*(one(random_text()) for _ in range(1000)))
            await stack.settle(timeout=30)

            def answered() -> int:
                """In the ack body, through response_url, or as an opened declare form."""
                in_ack = sum(1 for r in stack.driver.sent if r.kind == "slash_command" and r.response)
                return in_ack + len(stack.driver.responses) + len(stack.slack.opened_views)

            await stack.slack.wait_until(lambda: answered() >= 1001, 20)
        assert set(codes) == {200}
        assert not [e for e in logs if e.get("log_level") in ("error", "critical")
                    or "exc_info" in e], [e for e in logs if e.get("log_level") == "error"][:3]


async def test_a_resolve_click_on_a_deleted_incident_is_refused_politely(tmp_path: Path) -> None:
    async with LocalStack(sqlite_url(tmp_path)) as stack:
        code, _ = await stack.driver.block_action(ACTION_RESOLVE, value="not-a-uuid",
                                                  channel_id=stack.slack.channel_id("ml-incidents"))
        assert code == 200
        await stack.slack.wait_until(lambda: stack.driver.responses, 5)
        assert stack.driver.responses[-1]["body"]["text"] == NOT_AN_INCIDENT


async def test_messages_slack_refused_for_good_are_sent_again_once_the_cause_is_fixed(
        tmp_path: Path) -> None:
    """Nobody invited the bot to the incidents channel: the announcement fails (not_in_channel)
    without holding up the rest; `incident-bot outbox list` shows it, the admin invites the bot,
    `incident-bot outbox retry --failed` and the running bot posts it."""
    overrides = {"incident_channel": "ops-incidents"}
    async with LocalStack(sqlite_url(tmp_path), settings_overrides=overrides) as stack:
        stack.slack.add_channel("ops-incidents", members=["U0DECLARER"])  # the bot is not a member
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        assert stack.slack.top_level("ops-incidents") == []
        channel = stack.slack.channel_by_name("inc-1-null-predictions-since-14-02")
        assert channel  # the rest of the incident went on: its channel, and then an ack
        await stack.driver.slash_command("ack", channel_id=channel["id"], user_id="U0RESPOND")
        await stack.slack.wait_until(lambda: any("acknowledged" in m["text"]
                                                 for m in stack.slack.messages(channel["id"])), 5)
        await stack.settle()

        async def cli(*args: str) -> str:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "outbox", *args, cwd=ROOT,
                env={**os.environ, "DATABASE_URL": stack.settings.database_url},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            assert proc.returncode == 0, out
            return out.decode()

        listed = await cli("list")
        assert "INC-1\tannounce\tattempts=1" in listed and "not_in_channel" in listed
        assert "INC-1\tpost_thread" in listed  # the ack's thread reply had nothing to reply to
        stack.slack.add_member("ops-incidents")  # the admin invites the bot
        # the announcement, the ack's thread reply and What changed? in the thread (issue 18)
        assert "3 message(s) back in line" in await cli("retry", "--failed")
        await stack.slack.wait_until(lambda: stack.slack.top_level("ops-incidents"), 10)
        await stack.settle()
        [announcement] = stack.slack.top_level("ops-incidents")
        assert "INC-1" in announcement["text"] and "(investigating)" in announcement["text"]
        [_, changes, reply] = stack.slack.thread("ops-incidents", announcement["ts"])
        assert "What changed?" in changes["text"]  # issue 18, queued with the declaration
        assert "acknowledged" in reply["text"]  # in order: the announcement, then its replies
        assert "no failed messages" in await cli("list")


async def test_a_failure_halfway_through_setting_up_the_channel_repeats_no_message(
        tmp_path: Path) -> None:
    """Slack fails the pin after the summary is posted: the retry pins that summary, it does
    not post a second one."""
    async with LocalStack(sqlite_url(tmp_path), settings_overrides={"outbox_backoff_seconds": 0.05}) as stack:
        stack.slack.fail_next(1, 503, method="pins.add")
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        channel = stack.slack.channel_by_name("inc-1-null-predictions-since-14-02")
        assert channel
        summaries = [m for m in stack.slack.messages(channel["id"]) if m["text"].startswith(":pushpin:")]
        assert len(summaries) == 1
        assert stack.slack.pinned(channel["id"]) == [summaries[0]["ts"]]


async def test_an_announcement_whose_answer_slack_lost_is_not_posted_again(tmp_path: Path) -> None:
    """Slack took the announcement but its answer never arrived (a timeout): the retry finds
    it in the channel by the incident id its buttons carry, records it, posts nothing."""
    from datetime import UTC, datetime

    from domain.services import ANNOUNCE
    from storage.outbox_store import OutboxRow

    async with LocalStack(sqlite_url(tmp_path)) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.driver.slash_command("declare P2 fraud-detector Scores stuck at 0.5")
        await stack.settle()
        view = await stack.container.service.view(IncidentRef(number=2))
        assert view.link and view.link.announcement_ts
        posted = view.link.announcement_ts
        view.link.announcement_channel = view.link.announcement_ts = None  # never recorded
        async with stack.container.uow_factory() as uow:
            await uow.slack_links.save(view.link)
            await uow.commit()
        retry = OutboxRow(id=0, kind=ANNOUNCE, incident_id=view.incident.id, payload={},
                          attempts=1, created_at=datetime.now(UTC))
        await stack.container.dispatcher.handlers[ANNOUNCE](retry)
        assert [m["ts"] for m in stack.slack.top_level("ml-incidents") if "INC-2" in m["text"]] == [posted]
        again = await stack.container.service.view(IncidentRef(number=2))
        assert again.link and again.link.announcement_ts == posted
