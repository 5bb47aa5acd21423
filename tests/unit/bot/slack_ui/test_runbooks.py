"""The Slack wording of the runbook checklist and replies (``bot/slack_ui/runbooks.py``), pinned
once here; the end-to-end tests build these texts with the renderer."""

from __future__ import annotations

from datetime import timedelta

from bot.slack_ui.runbooks import (
    checklist_message,
    checklist_reply,
    progress_line,
    progress_text,
    selected_reply,
)
from domain.checklists import Checklist, Followed, StepDone
from domain.runbooks import Runbook, Step
from tests.unit.bot.slack_ui.samples import T0, incident

RUNBOOK = Runbook("generic", "1.0.0", "Generic ML incident", "ml-platform",
                  (Step("1", "Check the feature store", 10), Step("2", "Roll back", 11)))


def checklist(done: dict[str, StepDone]) -> Checklist:
    return Checklist(incident(1), Followed("generic", "1.0.0", done=done), RUNBOOK,
                     "runbooks/generic.md", "C0INC")


def test_the_checklist_message() -> None:
    text, blocks = checklist_message(checklist({"1": StepDone("U0BOB", T0 + timedelta(minutes=5))}),
                                     RUNBOOK)
    assert text == ":clipboard: INC-1 runbook: Generic ML incident (1/2 done)"
    assert blocks[1]["elements"][0]["text"] == (
        "v1.0.0 · owner `ml-platform` · `runbooks/generic.md` · *1/2 steps done*")
    assert blocks[2]["text"]["text"] == (
        ":white_check_mark: ~1. Check the feature store~\n_done by <@U0BOB> at 14:05 UTC_")
    assert blocks[3]["text"]["text"] == ":white_square: 2. Roll back"


def test_progress_and_replies() -> None:
    assert progress_text(RUNBOOK, 0) == "Runbook *Generic ML incident* v1.0.0: 0/2 steps done"
    assert progress_line(checklist({})) == (
        ":clipboard: Runbook *Generic ML incident* v1.0.0: 0/2 steps done")
    assert checklist_reply("INC-1", checklist({}), []) == (
        ":clipboard: *INC-1*: Runbook *Generic ML incident* v1.0.0: 0/2 steps done "
        "(`runbooks/generic.md`)\n:white_square: 1. Check the feature store\n"
        ":white_square: 2. Roll back")
    assert checklist_reply("INC-1", None, ["b", "a"]) == (
        "INC-1 has no runbook. Pick one: `/incident runbook <name>` (a, b).")
    assert selected_reply(incident(1), RUNBOOK) == (
        ":clipboard: INC-1 now follows *Generic ML incident* v1.0.0; the checklist is posted in "
        "its channel.")
