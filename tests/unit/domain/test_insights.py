"""Insights, pure parts (issue 21): what the figures mean, the windows, the routing. The Slack
words are pinned in ``tests/unit/bot/slack_ui/test_insights.py``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.trackers.jira import adf
from domain.insights import (
    Compliance,
    Report,
    compliance_delta,
    human_duration,
    nearest_rank,
    parse_window,
    targets_from_policy,
)
from domain.model import Severity
from domain.policy import DigestSchedule, default_policy
from domain.trackers import closed_ticket, parse_trackers, signature_valid, ticket_request

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def test_nearest_rank_is_a_real_value_never_an_interpolation() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([7.0], 0.9) == 7.0
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0  # rank ceil(2) = 2
    assert nearest_rank([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert nearest_rank([float(v) for v in range(1, 11)], 0.9) == 9.0
    assert nearest_rank([float(v) for v in range(1, 12)], 0.9) == 10.0  # ceil(9.9)


@pytest.mark.parametrize(("text", "days"), [("", 30), ("30d", 30), ("7", 7), ("4w", 28), (" 90D ", 90)])
def test_stats_windows(text: str, days: int) -> None:
    assert parse_window(text) == timedelta(days=days)


def test_stats_window_in_hours_and_refusals() -> None:
    assert parse_window("48h") == timedelta(hours=48)
    for bad in ("0d", "soon", "-3d", "30 days", "99999d"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_durations_read_short() -> None:
    assert [human_duration(s) for s in (None, 42, 300, 5400, 3600, 90000, 172800)] == [
        "-", "42s", "5m", "1h30m", "1h", "1d1h", "2d"]


def test_compliance_and_its_trend() -> None:
    assert Compliance("ack", 0, 0).percent is None
    now, before = Compliance("ack", 3, 2), Compliance("ack", 4, 4)
    assert (now.percent, now.breached) == (66.7, 1)
    assert compliance_delta(now, before) == -33.3
    assert compliance_delta(now, None) is None


def test_targets_follow_the_policy_and_say_none_where_it_has_none() -> None:
    p4 = targets_from_policy(default_policy())[3]
    assert p4.severity is Severity.P4 and (p4.ack, p4.mitigate, p4.commander, p4.update) == (
        14400, None, None, None)


def test_the_digest_schedule_is_a_crontab_line() -> None:
    assert DigestSchedule().cron == "0 9 * * 1"
    with pytest.raises(ValidationError, match="not a crontab line"):
        DigestSchedule(cron="monday 9am")


def _empty(since: datetime, until: datetime) -> Report:
    return Report(since=since, until=until, as_of=until, policy_name="GOV-001", groups=[])


def test_tracker_routing_names_the_team_and_the_problem() -> None:
    routing = parse_trackers('{"*": {"kind": "github", "url": "https://api.github.com", '
                             '"token": "t", "repo": "acme/ml"}}')
    config = routing.for_team("anyone")
    assert config is not None and config.kind == "github"
    assert parse_trackers(None).for_team("x") is None
    with pytest.raises(ValueError, match=r"^TRACKERS\['risk'\]: a Jira tracker needs 'project'$"):
        parse_trackers('{"risk": {"kind": "jira", "url": "https://acme.atlassian.net", "token": "t"}}')
    with pytest.raises(ValueError, match=r"TRACKERS\['risk'\]: kind: Input should be 'jira'"):
        parse_trackers('{"risk": {"kind": "trello", "url": "u", "token": "t"}}')
    with pytest.raises(ValueError, match="not JSON"):
        parse_trackers("{")


def test_a_ticket_says_where_the_item_came_from() -> None:
    request = ticket_request(incident_number=7, incident_title="Null scores", item_number=2,
                             text="Alert on null rate", owner="U0DANA", due=date(2026, 12, 1),
                             severity="p2", reference="JIRA-9", labels=["incident"])
    assert request.title == "[INC-7] Alert on null rate"
    assert "Action item #2 from postmortem of INC-7 (Null scores)" in request.description
    assert "Reference given in Slack: JIRA-9" in request.description


def test_jira_v3_descriptions_are_atlassian_documents() -> None:
    assert adf("one\ntwo\n\nthree") == {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "one"}, {"type": "hardBreak"},
                                          {"type": "text", "text": "two"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "three"}]}]}


def test_tracker_webhooks_say_which_ticket_is_done() -> None:
    jira_done = {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-4", "fields": {
        "status": {"name": "Closed", "statusCategory": {"key": "done"}}}}}
    assert closed_ticket("jira", "", jira_done) == "OPS-4"
    jira_done["issue"]["fields"]["status"]["statusCategory"]["key"] = "indeterminate"  # type: ignore[index]
    assert closed_ticket("jira", "", jira_done) is None
    reopened = {"action": "reopened", "issue": {"number": 3}, "repository": {"full_name": "a/b"}}
    assert closed_ticket("github", "issues", reopened) is None
    assert closed_ticket("github", "issue_comment", {**reopened, "action": "closed"}) is None
    assert closed_ticket("linear", "", {"type": "Issue", "data": {"identifier": "ML-2",
                                                                  "state": {"type": "canceled"}}}) == "ML-2"
    assert closed_ticket("linear", "", ["not", "a", "dict"]) is None


def test_tracker_webhook_signatures() -> None:
    body = b'{"a": 1}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_valid("github", "s3cret", body, {"X-Hub-Signature-256": f"sha256={digest}"})
    assert signature_valid("jira", "s3cret", body, {"X-Hub-Signature": f"sha256={digest}"})
    assert signature_valid("linear", "s3cret", body, {"Linear-Signature": digest})
    assert not signature_valid("linear", "s3cret", body + b" ", {"Linear-Signature": digest})
    assert not signature_valid("github", "s3cret", body, {})


def test_digest_crontab_weekdays_are_crons_not_apschedulers() -> None:
    from scheduler.cron import crontab_trigger

    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    for line in ("0 9 * * 1", "0 9 * * mon", "0 9 * * 1-1"):
        assert crontab_trigger(line).get_next_fire_time(None, NOW) == monday
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    for line in ("0 9 * * 0", "0 9 * * 7"):
        assert crontab_trigger(line).get_next_fire_time(None, NOW + timedelta(days=1)) == sunday
    with pytest.raises(ValueError):
        crontab_trigger("0 9 * * 8")


def test_every_format_of_an_empty_report() -> None:
    from bot.cli.report import render

    empty = _empty(NOW - timedelta(days=30), NOW)
    assert "No incidents were declared in this period." in render(empty, "table")
    assert render(empty, "csv").count("\n") == 1  # the header alone
    assert '"groups": []' in render(empty, "json")
    assert "Incidents declared in the period: <b>0</b>" in render(empty, "html")


def test_the_digest_schedule_survives_policy_show() -> None:
    from bot.policy_loader import dump_policy, load_policy_text

    text = dump_policy(default_policy())
    assert "digest:\n  enabled: true\n  cron: 0 9 * * 1\n" in text
    assert load_policy_text(text) == default_policy()
