"""The Slack wording of related and duplicate incidents (``bot/slack_ui/related.py``), pinned
once here; the end-to-end tests build these texts with the renderer."""

from __future__ import annotations

from bot.slack_ui.incident import same_as_block
from bot.slack_ui.related import (
    LINK_USAGE,
    RelatedTexts,
    duplicate_reply,
    linked_reply,
    related_line,
    related_summary,
)
from domain.model import Status
from domain.related import DuplicateOutcome, RelatedIncident
from tests.unit.bot.slack_ui.samples import BOB, incident


def test_link_usage() -> None:
    assert LINK_USAGE == ("Give the incident to link to: `/incident link 42` in an incident "
                          "channel, or `/incident link 7 42` anywhere.")


def test_linked_texts() -> None:
    one, two = incident(1), incident(2, status=Status.INVESTIGATING)
    assert linked_reply(two, one) == ":link: INC-2 and INC-1 are now linked; both timelines say so."
    assert RelatedTexts().linked(one, two, BOB) == (
        ":link: INC-1 linked to *INC-2* (investigating) by <@U0BOB>.")


def test_duplicate_reply_names_the_chain_and_the_invited() -> None:
    one, two, three = incident(1), incident(2), incident(3)
    assert duplicate_reply(DuplicateOutcome(two, one, [], None)) == (
        ":twisted_rightwards_arrows: INC-2 is resolved as a duplicate of INC-1.")
    assert duplicate_reply(DuplicateOutcome(three, one, ["U0CAROL", "U0DAVE"], two)) == (
        ":twisted_rightwards_arrows: INC-3 is resolved as a duplicate of INC-1. INC-2 is itself "
        "a duplicate of INC-1, so INC-3 points there. Invited to INC-1's channel: <@U0CAROL>, "
        "<@U0DAVE>.")


def test_duplicate_channel_posts() -> None:
    one, two = incident(1), incident(2, status=Status.RESOLVED)
    texts = RelatedTexts()
    assert texts.duplicate(two, one, BOB, None) == (
        ":twisted_rightwards_arrows: INC-2 is a duplicate of *INC-1* (open), marked by <@U0BOB>: "
        "it is resolved here and the work goes on in INC-1; you have been invited to its channel.")
    assert texts.duplicate(incident(3), one, BOB, two).startswith(
        ":twisted_rightwards_arrows: INC-3 is a duplicate of *INC-1* (open) (through INC-2, "
        "itself a duplicate of it), marked by <@U0BOB>")
    assert texts.duplicated_here(two, one, BOB, ["U0CAROL", "U0DAVE"]) == (
        ":twisted_rightwards_arrows: *INC-2* (resolved) was marked a duplicate of INC-1 by "
        "<@U0BOB>. Its responders join here: <@U0CAROL>, <@U0DAVE>.")
    assert texts.duplicated_here(two, one, BOB, []).endswith("Its responders join here: nobody new.")


def test_related_lines() -> None:
    line = related_line(RelatedIncident("related", 2, "Latency", Status.OPEN, "C0TWO"))
    assert line == "related to :red_circle: *INC-2* (open) <#C0TWO>"
    assert related_line(RelatedIncident("duplicate_of", 1, "x", Status.RESOLVED)) == (
        "duplicate of :large_green_circle: *INC-1* (resolved)")
    assert related_summary([]) is None
    assert related_summary([RelatedIncident("duplicated_by", 3, "x", Status.CLOSED)]) == (
        ":link: *Related:* duplicated by :white_check_mark: *INC-3* (closed)")


def test_same_as_button() -> None:
    block = same_as_block(incident(3), incident(1))
    assert block["text"]["text"] == ":link: INC-1 is also open on this model (open)."
    assert block["accessory"]["text"]["text"] == "This is the same as INC-1"
    assert block["accessory"]["confirm"]["text"]["text"] == (
        "INC-3 will be resolved as a duplicate of INC-1, and its responders invited there.")
