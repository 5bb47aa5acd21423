"""The Slack wording of ``/incident`` command replies (``bot/slack_ui/commands.py``), pinned once
here; the end-to-end tests build these texts with the renderer."""

from __future__ import annotations

from bot.slack_ui.commands import confirmation


def test_the_declarers_confirmation_escapes_the_title() -> None:
    assert confirmation("INC-1", "SEV-1", "credit-risk-v3", "Nulls <b>now</b>", "ml-incidents") == (
        ":white_check_mark: Declared *INC-1* [SEV-1] on `credit-risk-v3`: Nulls &lt;b&gt;now&lt;/b&gt;. "
        "Announced in #ml-incidents; the incident channel is being created and you will be invited.")
