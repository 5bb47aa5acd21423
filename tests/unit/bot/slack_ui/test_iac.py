"""The Slack wording of IaC drift follow-ups (``bot/slack_ui/iac.py``), pinned once here; the
end-to-end tests build these texts with the renderer."""

from __future__ import annotations

import uuid

from bot.slack_ui.iac import SlackIacTexts, expiry_text, incomplete_text
from domain.iac.ports import StoredDrift


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
    assert SlackIacTexts().exception_reason("vendor window", "U0SEC") == (
        "vendor window · security approver <@U0SEC>")
