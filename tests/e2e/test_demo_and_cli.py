"""The README's first command and the operator CLI, run as a user runs them."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import structlog

from bot.cli.main import main
from bot.slack_ui.messages import SlackMessages
from bot.slack_ui.roles import RoleTexts
from bot.slack_ui.shortcuts import added_reply
from bot.slack_ui.timers import (
    breach_text,
    no_commander_text,
    reminder_who,
    update_due_text,
    update_posted_text,
)
from domain.model import Severity, Status
from domain.policy import default_policy
from domain.timers import TimerAction, TimerKind
from tests.e2e.rendered import incident_numbered, slack_user

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The demo configures logging for its process (WARNING, console); in this process the
    tests after it keep theirs."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_demo_plays_a_whole_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           restore_logging: None) -> None:
    from bot.local.demo import run_demo

    assert await run_demo(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}") == 0
    out = capsys.readouterr().out
    # what the bot says, as its renderer says it (the transcript cuts long lines: their heads);
    # the demo declares INC-1 at 14:02, bob acknowledges at 14:05 and mitigates at 14:41,
    # alice resolves at 15:10
    policy = default_policy()
    inc, rule, roles = incident_numbered(1, Severity.P1), policy.rule(Severity.P1), policy.roles
    declared = inc.created_at.replace(hour=14, minute=2)
    assert rule.commander_within is not None and rule.mitigate is not None

    def clock(kind: TimerKind, target: timedelta) -> TimerAction:
        return TimerAction(kind, str(kind), declared + target, Severity.P1, declared, target)

    def changed(status: Status, previous: Status, user: str, at: datetime) -> str:
        moved = dataclasses.replace(inc, status=status, created_at=declared,
                                    acknowledged_at=declared + timedelta(minutes=3))
        return SlackMessages().status_changed(moved, previous, slack_user(user), at, None).split("\n")[0]

    said = [no_commander_text(inc, clock(TimerKind.NO_COMMANDER, rule.commander_within))[:80],
            breach_text(inc, clock(TimerKind.MITIGATE_BREACH, rule.mitigate)),
            changed(Status.INVESTIGATING, Status.OPEN, "U0RESPOND", declared + timedelta(minutes=3)),
            changed(Status.MITIGATED, Status.INVESTIGATING, "U0RESPOND", declared + timedelta(minutes=39)),
            changed(Status.RESOLVED, Status.MITIGATED, "U0DECLARER", declared + timedelta(minutes=68)),
            update_posted_text(inc, "<@U0RESPOND>", "").split("\n")[0],
            RoleTexts().taken(inc, roles["comms"].label, slack_user("U0DECLARER"), "U0RESPOND"),
            RoleTexts().taken(inc, roles["scribe"].label, slack_user("U0RESPOND"), "U0RESPOND"),
            added_reply(inc.key),
            update_due_text(inc, Severity.P1, 900, reminder_who(["<@U0RESPOND>"],
                                                                roles["comms"].label))[:80]]
    for line in ("Declared *INC-1* [SEV-1]", "bot creates channel #inc-1-null-predictions-since-14-02",
                 "bot invites alice", "bot pins the incident summary", "note           bob:",
                 "incident.created         by alice", "the SLO clock ticks", "bot invites dave, carol",
                 "14:12:00 note           bob: Feature store",
                 "INC-1 is resolved; time to acknowledge 3m, time to resolve 1h 8m",
                 # issue 19: a role by command and by menu, a shortcut note made key, a catch-up
                 *said, "bot -> only dave sees", "*Catch-up on INC-1*", "*Key notes*",
                 "incident.role_assigned   by bob"):
        assert line in out, line


def test_models_registry_and_migrations_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert "database at revision" in cli("db", "upgrade", env=env).stdout
    assert cli("db", "current", env=env).stdout.strip()
    added = cli("models", "add", "credit-risk-v3", "--version", "3.1.0", "--stage", "production",
                "--team", "risk-ml", "--labels", "revenue-critical", env=env)
    assert "registered credit-risk-v3 v3.1.0 (production, team risk-ml)" in added.stdout
    models_file = tmp_path / "models.yml"
    models_file.write_text(
        "models:\n"
        "  - {name: fraud-detector, version: 2.0.0, team: fraud}\n"
        "  - {name: credit-risk-v3, version: 3.2.0, team: risk-ml, labels: [revenue-critical]}\n")
    loaded = cli("models", "load", str(models_file), env=env)
    assert "registered fraud-detector v2.0.0" in loaded.stdout
    assert "updated credit-risk-v3 v3.2.0" in loaded.stdout
    listed = cli("models", "list", env=env).stdout
    assert "credit-risk-v3\tv3.2.0\tproduction\tteam=risk-ml\trevenue-critical" in listed
    assert "fraud-detector\tv2.0.0" in listed


def test_a_bad_models_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    bad = tmp_path / "models.yml"
    bad.write_text("models:\n  - {name: x, version: 1, team: t, stage: retired}\n")
    result = cli("models", "load", str(bad), env=env, check=False)
    assert result.returncode == 2
    assert f"{bad}:2: models[0].stage: 'retired' is not allowed" in result.stderr
    missing = cli("models", "load", str(tmp_path / "nope.yml"), env=env, check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_serve_without_credentials_points_to_the_demo(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(ROOT / "tests")  # no .env here
    assert main(["serve"]) == 2
    assert "incident-bot demo" in capsys.readouterr().err
    assert main(["serve", "--socket-mode"]) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().err


def test_an_unreachable_or_unsupported_database_is_named_without_a_traceback(tmp_path: Path) -> None:
    base = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret"}
    refused = "postgresql://ops:hunter2@127.0.0.1:1/incidents"  # nothing listens on port 1
    for args in (("serve", "--port", "0"), ("models", "list"), ("db", "upgrade")):
        result = cli(*args, env={**base, "DATABASE_URL": refused}, check=False)
        assert result.returncode == 1, (args, result.stderr)
        assert "cannot reach the database at postgresql://ops:***@127.0.0.1:1/incidents" in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    no_dir = cli("models", "list", env={**base, "DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir.db"},
                 check=False)
    assert no_dir.returncode == 1 and "unable to open database file" in no_dir.stderr
    mysql = cli("serve", env={**base, "DATABASE_URL": "mysql://root:pw@db/incidents"}, check=False)
    assert mysql.returncode == 2 and "Traceback" not in mysql.stderr
    assert "is not supported: use sqlite+aiosqlite:///path.db" in mysql.stderr


async def test_check_says_what_is_ready_and_what_is_not(tmp_path: Path) -> None:
    from bot.cli.check import run_checks
    from bot.local.slack_standin import SlackStandIn
    from bot.settings import Settings
    from storage import migrate
    from storage.db import create_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    async with SlackStandIn(bot_token="xoxb-good") as slack:
        def settings(**overrides: object) -> Settings:
            return Settings(_env_file=None, **{"slack_bot_token": "xoxb-good", "slack_signing_secret": "s",
                                               "slack_api_url": slack.url, "database_url": url,
                                               **overrides})

        def levels(findings: list) -> dict[str, str]:  # type: ignore[type-arg]
            return {f.what: f.level for f in findings}

        first = await run_checks(settings())
        assert levels(first) == {"database": "warn", "slack": "ok", "scopes": "ok", "channel": "ok",
                                 "policy": "ok", "runbooks": "ok",
                                 "governance": "warn"}  # GOVERNANCE_ROLES unset (issue 15)
        assert "does not exist yet; `serve` (or `db upgrade`) would create it" in first[0].detail
        assert "bot @" in first[1].detail and "member of #ml-incidents" in first[3].detail
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        bad = await run_checks(settings(slack_bot_token="xoxb-wrong", policy_file=str(tmp_path / "none.yml"),
                                        pagerduty_api_token="pd"))
        assert levels(bad) == {"database": "warn", "slack": "FAIL", "policy": "FAIL", "runbooks": "ok",
                               "pagerduty": "warn", "governance": "warn"}
        assert "no models registered" in bad[0].detail
        assert "Slack refused the bot token: invalid_auth" in bad[1].detail
        assert "PAGERDUTY_WEBHOOK_SECRET" in bad[4].detail
