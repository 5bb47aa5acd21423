"""The ``/incident`` verb table: one registration gives a verb its parsing, help and dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack_ui.mrkdwn import mentioned_user
from domain.commands import CORE_GRAMMAR, parse
from handlers.slack_commands import CORE_VERBS
from handlers.verbs import DuplicateVerb, VerbTable


async def _noop(*_args: Any) -> None:
    return None


def core_table() -> VerbTable:
    table = VerbTable()
    for verb in CORE_VERBS:
        table.include(verb)
    return table


def test_the_core_registrations_are_the_parsers_default_grammar() -> None:
    grammar = core_table().grammar()
    assert (grammar.verbs, grammar.aliases) == (CORE_GRAMMAR.verbs, CORE_GRAMMAR.aliases)
    assert grammar.user is mentioned_user  # Slack's mentions read as user ids, at the edge


def test_a_feature_verb_is_parsed_helped_and_found_after_one_add() -> None:
    table = core_table()
    assert parse("stats 30", table.grammar()).error  # unknown before
    table.add("stats", _noop, help="`/incident stats [days]`: counts", aliases=("st",), scoped=False)
    parsed = parse("st 30", table.grammar())
    assert (parsed.verb, parsed.number, parsed.error) == ("stats", 30, None)
    assert "• `/incident stats [days]`: counts" in table.help_text()
    assert table.get("st") is table.get("stats") and not table.get("stats").scoped  # type: ignore[union-attr]


def test_the_help_lists_core_lines_then_features_in_registration_order() -> None:
    table = core_table()
    table.add("update", _noop, help="`/incident update <text>`: post")
    text = table.help_text()
    assert text.startswith("*`/incident` commands*")
    assert text.index("declare at once") < text.index("change status") < text.index("post")


@pytest.mark.parametrize("name", ["ack", "acknowledge"])
def test_a_name_taken_twice_is_refused(name: str) -> None:
    with pytest.raises(DuplicateVerb):
        core_table().add(name, _noop)
