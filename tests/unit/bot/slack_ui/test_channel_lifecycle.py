"""The Slack wording of the channel lifecycle (``bot/slack_ui/channel_lifecycle.py``): the
private announcement and the last message before archiving, pinned once here; the end-to-end
tests build these texts with the renderer."""

from __future__ import annotations

from datetime import timedelta

from bot.slack_ui.channel_lifecycle import last_words, postmortem_line, private_announcement
from domain.policy import default_policy
from tests.unit.bot.slack_ui.samples import T0, incident


def test_the_private_announcement_names_no_title() -> None:
    text, blocks = private_announcement(incident(1, title="Fraud ring"), None, default_policy(), T0)
    assert text == ":red_circle: INC-1 (private) [SEV-2] (open)"
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                    "text": "INC-1 (private) [SEV-2]"}}
    assert blocks[2]["elements"][0]["text"] == (
        ":lock: A private incident: its details are shown to the members of its channel.")
    assert "Fraud" not in str(blocks)


def test_the_last_message_before_archiving() -> None:
    closed = incident(4, closed_at=T0 + timedelta(days=1))
    assert last_words(closed, 30) == (
        ":file_cabinet: INC-4 was closed on 2026-12-01; its channel is archived 30 days after "
        "close. Its record stays: `/incident status 4`, `/incident timeline 4`.")
    assert postmortem_line("https://slack/files/F1") == (
        "\nPostmortem: <https://slack/files/F1|the postmortem draft>")
    assert postmortem_line(None) == "\nNo postmortem draft was posted in this channel."
