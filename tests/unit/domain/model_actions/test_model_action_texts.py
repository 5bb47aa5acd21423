"""The model actions' words are a port (issue 13): the use cases in ``domain/model_actions/`` say
when, ``bot/slack_ui/model_actions.py`` how in Slack (pinned in
``tests/unit/bot/slack_ui/test_model_actions.py``), and nothing Slack is left in the domain."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from domain.model import Actor
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import EarlierIncidentFact, all_changes
from domain.model_actions.registry import AliasMove
from domain.model_actions.rollback import Rollback
from domain.model_actions.texts import PlainModelActionTexts
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Actor("U0ALICE", "alice")
ROLLBACK = Rollback(uuid.uuid4(), "fraud-detector", "champion", "2", "1", "bad <!channel> push",
                    "U0BOB", "bob", AT)
FACTS = ([AliasMove("fraud-detector", "champion", "2", "1", AT.replace(hour=11, minute=30), "ci <bot>")],
         [EarlierIncidentFact(7, "Scores *all* zero", "SEV-2", "closed", AT.replace(day=1, hour=1), None)])


def _figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("figures", ROOT / "benchmarks" / "architecture_figures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted([*(ROOT / "domain" / "model_actions").glob("*.py"),
                                         ROOT / "domain" / "messages.py"]), ids=lambda p: p.name)
def test_no_slack_words_left_in_the_model_actions_or_the_service_messages(path: Path) -> None:
    written, _ = _figures().slack_words(path)
    assert written == []


def test_plain_texts_say_the_same_facts_without_markup() -> None:
    plain = PlainModelActionTexts()
    assert plain.rollback_requested_post(ALICE, ROLLBACK) == (
        "alice requests a rollback of fraud-detector champion v2 -> v1: bad <!channel> push")
    acceptance = DriftAcceptance("fraud-detector", "seasonal", "U0ALICE", "alice", AT, AT.replace(day=8))
    assert plain.drift_accepted(ALICE, acceptance, 0.31).startswith(
        "alice accepted the drift of fraud-detector (PSI 0.31) until 2026-03-08 12:00 UTC")
    snooze = DriftSnooze("fraud-detector", "known", "U0ALICE", "alice", AT, AT.replace(hour=18))
    assert plain.drift_snoozed(ALICE, snooze) == (
        "alice snoozed drift alerts of fraud-detector until 2026-03-01 18:00 UTC. Reason: known")
    changes = all_changes(plain, "fraud-detector", FACTS[0], [], [], FACTS[1], [])
    assert [c.text for c in changes] == [
        "alias champion moved v1 -> v2 by ci <bot>",
        "earlier incident INC-7 [SEV-2] Scores *all* zero (closed) - no root cause recorded"]
