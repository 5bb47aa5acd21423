"""The Slack wording of the model actions (``bot/slack_ui/model_actions.py``, the texts port of
``domain/model_actions/``), pinned once here; other tests build these texts with the renderer."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from bot.slack_ui.model_actions import (
    SlackModelActionTexts,
    deploy_hook_accepted,
    deploy_hook_refused,
    drift_control_lines,
    lines,
    rollback_requested_reply,
)
from domain.model import Actor
from domain.model_actions.changes import what_changed
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import EarlierIncidentFact, PipelineRun, all_changes
from domain.model_actions.registry import AliasMove
from domain.model_actions.rollback import Rollback, RollbackStatus

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Actor("U0ALICE", "alice")
ROLLBACK = Rollback(uuid.uuid4(), "fraud-detector", "champion", "2", "1", "bad <!channel> push",
                    "U0BOB", "bob", AT)
FACTS = ([AliasMove("fraud-detector", "champion", "2", "1", AT.replace(hour=11, minute=30), "ci <bot>")],
         [EarlierIncidentFact(7, "Scores *all* zero", "SEV-2", "closed", AT.replace(day=1, hour=1), None)])


def test_slack_texts_are_the_ones_slack_received_before_the_port() -> None:
    slack = SlackModelActionTexts()
    post = slack.rollback_requested_post(ALICE, ROLLBACK)
    assert post == (":rewind: <@U0ALICE> requests a rollback of `fraud-detector` `champion` v2 → v1: "
                    "bad &lt;!channel&gt; push")
    assert slack.rollback_requested_note(ALICE, ROLLBACK) == post.removeprefix(":rewind: ")
    approved = dataclasses.replace(ROLLBACK, status=RollbackStatus.APPROVED, break_glass=True)
    assert slack.rollback_decided_post(ALICE, approved) == (
        ":ballot_box_with_check: <@U0ALICE> approved the rollback of `fraud-detector` to v1 asked by "
        "<@U0BOB> (break-glass self-approval, GOV-001 5.3).")
    assert slack.rollback_failed(ROLLBACK, "HTTP 500 <html>") == (
        ":x: Rollback of `fraud-detector` to v1 failed: HTTP 500 &lt;html&gt;")
    run = PipelineRun("fraud-detector", "U0ALICE", AT, run_id="r<1>", run_url="https://ci/r1")
    assert slack.retrain_status(run, "succeeded") == (
        ":white_check_mark: Retraining of `fraud-detector` <https://ci/r1|run r&lt;1&gt;>: succeeded.")
    changes = what_changed(all_changes(slack, "fraud-detector", FACTS[0], [], [], FACTS[1], []), AT)
    assert lines(changes, AT) == [
        ":twisted_rightwards_arrows: *30 min before* · alias `champion` moved v1 → v2 by ci &lt;bot&gt;",
        ":rotating_light: *11 h before* · earlier incident INC-7 [SEV-2] Scores *all* zero (closed) "
        "— no root cause recorded"]


def test_the_rollback_request_reply_and_the_deploy_hooks_answers() -> None:
    assert rollback_requested_reply(ROLLBACK) == (
        ":rewind: Rollback to v1 requested; the Incident Commander approves it in the incident's "
        "thread.")
    assert deploy_hook_accepted(ROLLBACK, 202) == (
        ":rocket: Deploy hook accepted the rollback of `fraud-detector` to v1 (HTTP 202).")
    assert deploy_hook_refused("HTTP 403") == ":x: Deploy hook refused the rollback: HTTP 403"


def test_the_drift_controls_in_force_under_models() -> None:
    acceptance = DriftAcceptance("fraud-detector", "seasonal <b>", "U0ALICE", "alice", AT,
                                 AT.replace(day=8))
    snooze = DriftSnooze("credit-risk-v3", "known", "U0BOB", "bob", AT, AT.replace(hour=18))
    assert drift_control_lines([acceptance], [snooze]) == [
        "• `fraud-detector` drift accepted until 2026-03-08 12:00 UTC by alice (re-baselined): "
        "seasonal &lt;b&gt;",
        "• `credit-risk-v3` drift alerts snoozed until 2026-03-01 18:00 UTC by bob: known"]
