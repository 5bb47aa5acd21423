"""The severity policy as a YAML file: GOV-001 by default, every problem named with its line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.policy_loader import PolicyFileError, load_policy_file, load_policy_text
from domain.model import Severity
from domain.policy import default_policy
from tests.paths import REPO_ROOT

POLICIES = REPO_ROOT / "policies"


def test_the_shipped_gov001_file_is_the_built_in_default() -> None:
    assert load_policy_file(POLICIES / "gov-001.yml").severities == default_policy().severities


def test_gov001_targets_cadences_and_escalations() -> None:
    policy = default_policy()
    p1, p2, p3 = (policy.rule(s) for s in (Severity.P1, Severity.P2, Severity.P3))
    assert (p1.ack, p1.mitigate, p1.resolve) == (timedelta(minutes=5), timedelta(minutes=30),
                                                 timedelta(hours=4))
    assert (p1.update_cadence, p2.update_cadence, p3.update_cadence) == (
        timedelta(minutes=15), timedelta(hours=1), None)
    assert [(s.after, s.notify) for s in p1.escalation] == [
        (timedelta(minutes=30), ["@ml-platform-lead", "@vp-engineering"])]
    assert p2.escalation[0].after == timedelta(hours=2) and p3.escalation[0].after == timedelta(hours=8)
    assert p1.commander_within == p2.commander_within == timedelta(minutes=5)
    assert p3.commander_within is None


def test_durations_user_ids_and_handles_are_accepted(tmp_path: Path) -> None:
    text = (POLICIES / "fast-demo.yml").read_text().replace(
        'notify: ["@ml-platform-lead", "@vp-engineering"]', "notify: U0MLLEAD")
    policy = load_policy_text(text)
    assert policy.rule(Severity.P1).escalation[0].notify == ["U0MLLEAD"]
    assert policy.rule(Severity.P1).ack == timedelta(seconds=5)


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("severities:\n  p1:\n    ack: 5x\n", ":3: severities.p1.ack: '5x' is not a duration"),
    ("severities:\n  p1: {}\n  p2: {}\n  p3: {}\n  p4: {}\n  p5: {}\n",
     ":6: severities.p5: unknown severity 'p5'"),
    ("severities:\n  p1:\n    ack: 5m\n    ack: 6m\n", ":4:"),
    ("severities: [p1\n", "not valid YAML"),
    ("", "the policy file is empty"),
    ("severities:\n  p1:\n    ackk: 5m\n  p2: {}\n  p3: {}\n  p4: {}\n", ":3: severities.p1.ackk"),
])
def test_a_malformed_policy_names_the_key_and_line(yaml_text: str, expected: str) -> None:
    with pytest.raises(PolicyFileError) as raised:
        load_policy_text(yaml_text, "policy.yml")
    assert expected in str(raised.value)


def test_policy_show_prints_the_policy_in_force(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_FILE", raising=False)
    assert main(["policy", "show"]) == 0
    out = capsys.readouterr().out
    assert "GOV-001" in out and "SEV-1  5m   30m       4h       15m" in out
    assert main(["policy", "show", "--file", str(POLICIES / "fast-demo.yml")]) == 0
    assert "FAST-DEMO" in capsys.readouterr().out


def test_a_malformed_policy_file_stops_start_up(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("severities:\n  p1:\n    mitigate: soon\n")
    monkeypatch.setenv("POLICY_FILE", str(bad))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: severities.p1.mitigate: 'soon' is not a duration" in err
