"""Insights end to end (issue 21): `/incident stats` through a signed slash command, the weekly
digest through the outbox into the incidents channel, under the injected clock, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import build
from bot.local.stack import ADMIN, LocalStack
from bot.policy_loader import load_policy_text
from bot.settings import Settings
from bot.slack_ui.insights import NO_CHART, digest_text, stats_text
from bot.slack_ui.postmortem_template import TemplateProblem
from bot.slack_ui.postmortems import draft_posted
from domain.insights import Followups, Report
from domain.model import Incident, ModelStage, Severity, Status, TriggerSource
from domain.services import DeclareIncident, IncidentRef
from storage.insights_store import release_sync_lock, tickets_for_incident, try_sync_lock
from storage.postmortem_tables import action_items
from tests.e2e.conftest import command_reply
from tests.fakes import FakeClock
from tests.standins.trackers import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    JIRA_EMAIL,
    JIRA_PROJECT,
    JIRA_TOKEN,
    LINEAR_KEY,
    LINEAR_TEAM,
    TrackerStandIn,
)

T0 = FakeClock().now()  # 2026-11-22 14:00 UTC, a Sunday
USER = "U0ASKER"
OWNER = "U0OWNER"
WEBHOOK_SECRET = "tracker-webhook-secret"


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, clock=FakeClock(),
                          settings_overrides={"tick_seconds": 0}) as s:
        yield s


def _clock(stack: LocalStack) -> FakeClock:
    assert isinstance(stack.clock, FakeClock)
    return stack.clock


async def _incident(stack: LocalStack, at: timedelta, severity: Severity, model: str,
                    steps: dict[Status, timedelta], trigger: TriggerSource = TriggerSource.MANUAL,
                    ) -> Incident:
    """Declare at T0 + ``at`` and move through ``steps`` (status -> delay after declaration)."""
    clock = _clock(stack)
    clock.set(T0 + at)
    service = stack.container.service
    incident = await service.declare(DeclareIncident(f"{model} trouble", severity, model,
                                                     trigger_source=trigger), ADMIN)
    for status, delay in steps.items():
        clock.set(T0 + at + delay)
        await service.change_status(IncidentRef(number=incident.number), status, ADMIN)
    return incident


async def test_stats_answers_with_the_windows_figures(stack: LocalStack) -> None:
    m = timedelta(minutes=1)
    await _incident(stack, -timedelta(days=2), Severity.P1, "credit-risk-v3",
                    {Status.INVESTIGATING: 3 * m, Status.MITIGATED: 20 * m, Status.RESOLVED: 60 * m})
    await _incident(stack, -timedelta(days=1), Severity.P2, "fraud-detector",
                    {Status.INVESTIGATING: 20 * m}, TriggerSource.AUTOMATED_DRIFT)
    await _incident(stack, -timedelta(days=40), Severity.P3, "fraud-detector", {Status.RESOLVED: 90 * m})
    _clock(stack).set(T0)
    await stack.settle()

    reply = await command_reply(stack, "stats", USER)
    insights = stack.container.features.insights
    assert insights is not None
    report = await insights.reports.report(T0 - timedelta(days=30), T0, T0, breach_limit=5)
    assert reply == stats_text(report, timedelta(days=30))
    assert (report.since, report.until) == (datetime(2026, 10, 23, 14, 0, tzinfo=UTC), T0)
    drift, manual = report.drift_vs_manual()
    assert drift is not None and manual is not None and (drift.count, manual.count) == (1, 1)
    assert "*2* incidents: SEV-1 1 · SEV-2 1" in reply
    assert "MTTA p50 3m / p90 20m" in reply  # nearest rank of {3m, 20m}
    assert "acknowledge 50.0% (1/2)" in reply  # the SEV-2 took 20m of its 15m
    assert "mitigate 50.0% (1/2)" in reply  # the SEV-2 is 1 day past its 2h, not mitigated
    assert "resolve 50.0% (1/2)" in reply  # and exactly 24h past its 24h
    assert "*SLA breaches:* 3 (newest: INC-2 ack, INC-2 mitigate, INC-2 resolve)" in reply

    assert "*3* incidents" in await command_reply(stack, "stats 60d", USER)
    assert "*3* incidents" in await command_reply(stack, "stats 60", USER)
    refused = await command_reply(stack, "stats soon", USER)
    assert "`soon` is not a window" in refused and "/incident stats [30d]" in refused
    status, ack = await stack.driver.slash_command("help", user_id=USER)  # help is the ack itself
    assert status == 200 and "/incident stats [30d]" in str(ack)


async def _overdue_action(stack: LocalStack, incident: Incident) -> None:
    """An open action item past its due date."""
    async with stack.container.engine.begin() as conn:
        await conn.execute(sa.insert(action_items).values(
            id=uuid.uuid4(), incident_id=incident.id, number=1, text="Alert on null rate",
            owner=OWNER, due_date=date(2026, 11, 20), severity="p2", ticket="OPS-7", status="open",
            created_by=ADMIN.id, created_at=T0 - timedelta(days=6)))


async def _digest_of(stack: LocalStack, now: datetime) -> tuple[Report, Report, Followups]:
    """The reports and follow-ups the digest of the week up to ``now`` is made of."""
    insights = stack.container.features.insights
    assert insights is not None
    week = timedelta(days=7)
    return (await insights.reports.report(now - week, now, now, breach_limit=0),
            await insights.reports.report(now - 2 * week, now - week, now, breach_limit=0),
            await insights.reports.overdue_followups(now))


def _digests(stack: LocalStack) -> list[dict[str, Any]]:
    channel = stack.slack.channel_id(stack.settings.incident_channel)
    return [m for m in stack.slack.messages(channel) if "Weekly incident digest" in m["text"]]


async def test_the_weekly_digest_compares_weeks_and_names_owners(
        stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    m = timedelta(minutes=1)
    # the week before: two SEV-2s acknowledged in time
    for day in (10, 9):
        await _incident(stack, -timedelta(days=day), Severity.P2, "fraud-detector",
                        {Status.INVESTIGATING: 5 * m, Status.RESOLVED: 60 * m})
    # this week: one in time, one late (20m of 15m)
    await _incident(stack, -timedelta(days=3), Severity.P2, "fraud-detector",
                    {Status.INVESTIGATING: 5 * m, Status.RESOLVED: 60 * m})
    late = await _incident(stack, -timedelta(days=2), Severity.P2, "credit-risk-v3",
                           {Status.INVESTIGATING: 20 * m, Status.RESOLVED: 90 * m})
    await _overdue_action(stack, late)
    _clock(stack).set(T0)
    await stack.settle()

    insights = stack.container.features.insights
    assert insights is not None
    job = stack.container.scheduler.get_job("insights-digest")
    assert job is not None  # the default policy's Mondays 09:00 UTC: next, the day after T0
    assert job.trigger.get_next_fire_time(None, T0) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert await insights.digest.run() is True
    await stack.settle()

    [digest] = _digests(stack)
    text = digest["text"]
    this_week, last_week, followups = await _digest_of(stack, T0)
    assert text == digest_text(this_week, last_week, followups)
    assert this_week.overall is not None and last_week.overall is not None
    assert (this_week.overall.count, last_week.overall.count) == (2, 2)
    assert "• Acknowledge: 50.0% (1/2) (▼ 50.0 pts)" in text
    # SEV-2 postmortems are due 7 days after resolution: the week before's are overdue now
    assert [(p.number, p.owner, p.due_at) for p in followups.postmortems] == [
        (1, None, datetime(2026, 11, 19, 15, 0, tzinfo=UTC)),
        (2, None, datetime(2026, 11, 20, 15, 0, tzinfo=UTC))]
    assert [(a.incident_number, a.number, a.owner, a.due) for a in followups.actions] == [
        (4, 1, OWNER, date(2026, 11, 20))]
    [chart] = stack.slack.files
    assert chart["thread_ts"] == digest["ts"] and chart["content"][:8] == b"\x89PNG\r\n\x1a\n"

    # the same minute again (a second replica, a restart): nothing more is posted
    assert await insights.digest.run() is False
    await stack.settle()
    assert len(_digests(stack)) == 1 and len(stack.slack.files) == 1

    # a week later on a host without matplotlib: the digest says why there is no chart
    await _incident(stack, timedelta(days=6), Severity.P3, "fraud-detector", {Status.INVESTIGATING: m})
    _clock(stack).set(T0 + timedelta(days=7))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert await insights.digest.run() is True
    await stack.settle()
    latest = _digests(stack)[-1]["text"]
    this_week, last_week, followups = await _digest_of(stack, T0 + timedelta(days=7))
    assert this_week.overall is not None and this_week.overall.count == 1
    assert latest.startswith(digest_text(this_week, last_week, followups))
    assert latest.endswith(NO_CHART) and len(stack.slack.files) == 1


@pytest.fixture
async def trackers() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn() as standin:
        yield standin


def tracker_settings(url: str) -> str:
    return json.dumps({
        "risk-ml": {"kind": "jira", "url": url, "email": JIRA_EMAIL, "token": JIRA_TOKEN,
                    "project": JIRA_PROJECT, "api_version": 3},
        "fraud": {"kind": "github", "url": url, "token": GITHUB_TOKEN, "repo": GITHUB_REPO},
        "*": {"kind": "linear", "url": f"{url}/graphql", "token": LINEAR_KEY, "team_id": LINEAR_TEAM},
    })


async def test_action_items_go_to_each_teams_tracker_and_come_back_closed(
        database_url: str, trackers: TrackerStandIn) -> None:
    async with LocalStack(database_url, clock=FakeClock(), settings_overrides={
            "tick_seconds": 0, "trackers": tracker_settings(trackers.url),
            "tracker_webhook_secret": WEBHOOK_SECRET}) as stack:
        await stack.container.service.register_model("churn-predictor", "1.0.0", ModelStage.PRODUCTION,
                                                     "growth", ADMIN)
        for model in ("credit-risk-v3", "fraud-detector", "churn-predictor"):
            await _incident(stack, timedelta(0), Severity.P3, model, {})
        _clock(stack).set(T0)
        for number in (1, 2, 3):
            reply = await command_reply(stack, f'action {number} add "Alert on null rate" '
                                               f"owner:<@{OWNER}|dana> due:2026-12-15 severity:p2 "
                                               "ticket:JIRA-123", USER)
            assert f"Action item 1 on INC-{number}" in reply
        insights = stack.container.features.insights
        assert insights is not None and stack.container.scheduler.get_job("insights-trackers")

        first = await insights.trackers.sync()
        assert first.exported == ["OPS-1", f"{GITHUB_REPO}#1", "ML-1"] and not first.failed
        jira, github, linear = trackers.issues
        fields = jira.request["fields"]
        assert jira.api_version == 3 and fields["description"]["type"] == "doc"
        assert fields["summary"] == "[INC-1] Alert on null rate" and fields["duedate"] == "2026-12-15"
        assert fields["project"] == {"key": JIRA_PROJECT} and fields["labels"] == ["incident-action-item"]
        assert github.request["title"] == "[INC-2] Alert on null rate"
        assert "Due: 2026-12-15" in github.request["body"] and "JIRA-123" in github.request["body"]
        assert linear.request["variables"]["input"]["dueDate"] == "2026-12-15"
        async with stack.container.engine.connect() as conn:
            stored = [await tickets_for_incident(conn, (await _view(stack, n)).incident.id)
                      for n in (1, 2, 3)]
        assert stored == [{1: ("OPS-1", f"{trackers.url}/browse/OPS-1")},
                          {1: (f"{GITHUB_REPO}#1", f"https://github.com/{GITHUB_REPO}/issues/1")},
                          {1: ("ML-1", "https://linear.app/acme/issue/ML-1/action-item")}]

        # the postmortem draft links the ticket beside the reference given in Slack
        assert await command_reply(stack, "postmortem 1", USER) == draft_posted("INC-1", has_factors=False)
        draft = stack.slack.files[-1]["content"].decode()
        assert f"| P2 | JIRA-123 · [OPS-1]({trackers.url}/browse/OPS-1) |" in draft
        assert draft.startswith("# Postmortem: incident #1 — credit-risk-v3 trouble")

        # closing the Jira ticket closes INC-1's item (and only it), said in the incident's thread
        trackers.close("OPS-1")
        second = await insights.trackers.sync()
        assert second.exported == [] and second.closed == ["OPS-1"]
        await stack.settle()
        assert "\n~1. Alert on null rate" in await command_reply(stack, "action 1 list", USER)  # struck out
        assert "\n1. Alert on null rate" in await command_reply(stack, "action 2 list", USER)  # still open
        view = await _view(stack, 1)
        assert view.link is not None and view.link.announcement_channel and view.link.announcement_ts
        thread = stack.slack.thread(view.link.announcement_channel, view.link.announcement_ts)
        assert any(f"Action item #1 is done: <{trackers.url}/browse/OPS-1|OPS-1> was closed in Jira."
                   in m["text"] for m in thread)
        third = await insights.trackers.sync()
        assert (third.exported, third.closed) == ([], [])
        assert len(trackers.issues) == 3
        if stack.container.engine.dialect.name == "postgresql":  # another replica is syncing
            async with stack.container.engine.connect() as other:
                assert await try_sync_lock(other)
                assert (await insights.trackers.sync()).skipped
                await release_sync_lock(other)

        # the trackers' webhooks close items at once (signed with TRACKER_WEBHOOK_SECRET)
        closed_issue = {"action": "closed", "issue": {"number": 1}, "repository": {"full_name": GITHUB_REPO}}
        assert await _webhook(stack, "github", closed_issue, secret="wrong") == (401, None)
        assert await _webhook(stack, "github", closed_issue) == (200, {"ticket": f"{GITHUB_REPO}#1",
                                                                       "closed": True})
        done = {"type": "Issue", "action": "update", "data": {"identifier": "ML-1",
                                                              "state": {"type": "completed"}}}
        assert await _webhook(stack, "linear", done) == (200, {"ticket": "ML-1", "closed": True})
        assert await _webhook(stack, "linear", done) == (200, {"ticket": "ML-1", "closed": False})
        await stack.settle()
        for number in (2, 3):
            assert "\n~1. Alert on null rate" in await command_reply(stack, f"action {number} list", USER)
        assert (await _webhook(stack, "trello", {}))[0] == 404


async def _webhook(stack: LocalStack, kind: str, payload: dict[str, Any],
                   secret: str = WEBHOOK_SECRET) -> tuple[int, Any]:
    """POST a tracker's webhook to the bot, signed as that tracker signs it."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if kind == "github":
        headers |= {"X-GitHub-Event": "issues", "X-Hub-Signature-256": f"sha256={digest}"}
    elif kind == "linear":
        headers["Linear-Signature"] = digest
    else:
        headers["X-Hub-Signature"] = f"sha256={digest}"
    async with aiohttp.ClientSession() as session, session.post(
            f"{stack.url}/webhooks/trackers/{kind}", data=body, headers=headers) as response:
        answer = await response.json() if response.status == 200 else None
        return response.status, answer


async def _view(stack: LocalStack, number: int) -> Any:
    return await stack.container.service.view(IncidentRef(number=number))


def test_the_digest_follows_the_policy_files_schedule(tmp_path: Path) -> None:
    gov = (Path(__file__).resolve().parents[2] / "policies" / "gov-001.yml").read_text()
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    for friday in ("fri", "5", "5-5"):  # weekdays numbered as cron numbers them (0 and 7: Sunday)
        policy = load_policy_text(gov + f'\ndigest:\n  cron: "30 8 * * {friday}"\n')
        container = build(settings, policy=policy)
        job = container.scheduler.get_job("insights-digest")
        assert job is not None
        assert job.trigger.get_next_fire_time(None, T0) == datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    off = build(settings, policy=load_policy_text(gov + "\ndigest:\n  enabled: false\n"))
    assert off.scheduler.get_job("insights-digest") is None


def test_a_broken_postmortem_template_stops_start_up(tmp_path: Path) -> None:
    broken = tmp_path / "postmortem.md"
    broken.write_text("# {{ inc.title }\n", encoding="utf-8")
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'x.db'}",
                        postmortem_template=str(broken))
    with pytest.raises(TemplateProblem, match=rf"^{broken}:1: "):
        build(settings)
