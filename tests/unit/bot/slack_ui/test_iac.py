"""The Slack wording of IaC drift follow-ups (``bot/slack_ui/iac.py``), pinned once here; the
end-to-end tests build these texts with the renderer."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from bot.slack_ui.iac import IacAction, SlackIacTexts, choice_text, expiry_text, incomplete_text, render
from domain.iac.ports import StoredDrift

TRIAGE = {"event": {"changes": [{"path": "/ami", "declared": "ami-1", "actual": "ami-2"}],
                    "rule_hits": [{"rule_id": "SEC-1", "message": "public <b>bucket</b>"}]},
          "triage": {"cause": {"category": "manual_change", "evidence": ["console", "edit"]},
                     "recommendations": []}}
DRIFT = StoredDrift(uuid.uuid4(), "fp", "sig", "modified", "terraform", "aws_instance.web", "prod",
                    "high", 0.8, TRIAGE, "open")


def test_the_drift_message() -> None:
    text, blocks = render(DRIFT)
    assert text == ":red_circle: IaC drift [high] modified aws_instance.web (prod)"
    assert blocks[0]["text"]["text"] == ":red_circle: IaC drift [high] modified aws_instance.web (prod)"
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Tool*\nterraform", "*Confidence*\n80%",
        "*Security rules hit*\n:warning: *SEC-1* public &lt;b&gt;bucket&lt;/b&gt;",
        "*Cause*\nmanual_change: console edit"]
    assert blocks[2]["text"]["text"] == '*Declared → actual*\n`/ami`: `"ami-1"` → `"ami-2"`'
    assert [e["text"]["text"] for e in blocks[3]["elements"]] == [
        "Revert", "Codify in IaC", "Accept exception", "Escalate"]
    accepted = dataclasses.replace(DRIFT, status="accepted", exception_reason="vendor window",
                                   exception_expires_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert render(accepted)[1][3] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "*accepted*: vendor window (until 2026-12-01)"}]}


def test_what_revert_would_take() -> None:
    assert choice_text(IacAction.REVERT, {"command": "terraform apply -target=aws_instance.web",
                                          "steps": ["Plan", "Apply"], "rationale": "undo it"}) == (
        "*Revert* (the bot changes nothing itself):\n```terraform apply -target=aws_instance.web```"
        "\n1. Plan\n2. Apply\n_undo it_")


def test_an_expired_exception_reopens_the_drift() -> None:
    stored = StoredDrift(uuid.uuid4(), "fp", "sig", "modified", "terraform", "aws_s3_bucket.models",
                         "prod", "high", 0.9, {}, "open")
    assert expiry_text(stored, "2026-11-24", "Hotfix kept") == (
        ":hourglass: The exception for `aws_s3_bucket.models` expired on 2026-11-24 (it was: "
        "Hotfix kept). The drift is open again: revert, codify, escalate or accept it anew.")


def test_an_incomplete_report_lists_what_it_may_miss() -> None:
    assert incomplete_text("cfn-nightly", "cfn", ["a first page only (NextToken)"]) == (
        ":warning: IaC drift report `cfn-nightly` (cfn) may not show all drift, so the drift "
        "messages here may be missing some:\n• a first page only (NextToken)")


def test_an_exceptions_reason_names_its_security_approver() -> None:
    assert SlackIacTexts().exception_reason("vendor window", "U0SEC") == (
        "vendor window · security approver <@U0SEC>")
    assert SlackIacTexts().exception_reason("vendor window", None) == "vendor window"
