"""Parsing ``/incident`` texts: the grammar users type, and robustness on any text."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack_ui.incident import channel_name
from bot.slack_ui.mrkdwn import mentioned_user
from domain.commands import CORE_GRAMMAR, parse
from domain.model import InvalidSeverity, Severity


@pytest.mark.parametrize("text", ["p1", "P1", "sev1", "SEV-1", "sev-1", "Sev_1", "1"])
def test_severity_accepts_every_documented_spelling(text: str) -> None:
    assert Severity.parse(text) is Severity.P1


@pytest.mark.parametrize("text", ["p5", "P0", "sev9", "critical", "", "p1x"])
def test_unknown_severity_names_the_valid_values(text: str) -> None:
    with pytest.raises(InvalidSeverity) as err:
        Severity.parse(text)
    assert "P1, P2, P3, P4" in str(err.value)


def test_full_declare_is_parsed_at_once() -> None:
    p = parse("declare P1 credit-risk-v3 Null predictions since 14:02")
    assert (p.verb, p.severity, p.model, p.title) == (
        "declare", Severity.P1, "credit-risk-v3", "Null predictions since 14:02")
    assert p.missing == [] and p.error is None


@pytest.mark.parametrize("text,missing", [
    ("declare", ["severity", "model", "title"]),
    ("declare P2", ["model", "title"]),
    ("declare sev2 fraud-detector", ["title"]),
    ("declare fraud-detector scores all zero", ["severity"]),
])
def test_partial_declare_lists_what_the_modal_must_ask(text: str, missing: list[str]) -> None:
    assert parse(text).missing == missing


def test_declare_with_a_bad_severity_is_an_error() -> None:
    p = parse("declare P7 credit-risk-v3 broken")
    assert p.error and "P1, P2, P3, P4" in p.error


@pytest.mark.parametrize("text,verb,number,rest", [
    ("resolve 42 fixed by rollback", "resolve", 42, "fixed by rollback"),
    ("resolve INC-42 fixed", "resolve", 42, "fixed"),
    ("ack", "ack", None, ""),
    ("acknowledge #3", "ack", 3, ""),
    ("mitigate rolled back to v2", "mitigate", None, "rolled back to v2"),
    ("note 5 feature store latency is back", "note", 5, "feature store latency is back"),
    ("timeline 12", "timeline", 12, ""),
    ("close", "close", None, ""),
])
def test_verbs_take_an_optional_incident_number(text: str, verb: str, number: int | None,
                                                rest: str) -> None:
    p = parse(text)
    assert (p.verb, p.number, p.rest, p.error) == (verb, number, rest, None)


def test_assign_needs_a_slack_mention() -> None:
    slack = dataclasses.replace(CORE_GRAMMAR, user=mentioned_user)  # as handlers/verbs.py builds it
    assert parse("assign <@U0RESPOND|bob>", slack).user_id == "U0RESPOND"
    assert parse("assign 4 <@U0RESPOND>", slack).number == 4
    assert "Mention" in (parse("assign bob", slack).error or "")
    assert "Mention" in (parse("assign <@U0RESPOND>").error or "")  # no chat: no one is named


def test_severity_change_and_unknown_commands() -> None:
    assert parse("severity P2").severity is Severity.P2
    assert "P1, P2" in (parse("severity huge").error or "")
    assert "Unknown command `frobnicate`" in (parse("frobnicate now").error or "")
    assert parse("").verb == "help" and parse("help").verb == "help"


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_to_a_verb_or_a_readable_error(text: str) -> None:
    p = parse(text)
    assert p.verb
    assert p.error is None or (isinstance(p.error, str) and len(p.error) < 1000)


@pytest.mark.parametrize("number,title,expected", [
    (42, "Null predictions since 14:02", "inc-42-null-predictions-since-14-02"),
    (7, "  Ünïcode & emoji 🔥 drift!! ", "inc-7-unicode-emoji-drift"),
    (3, "!!!", "inc-3"),
])
def test_channel_names_follow_slack_rules(number: int, title: str, expected: str) -> None:
    assert channel_name(number, title) == expected


@given(st.integers(min_value=1, max_value=10**9), st.text(max_size=200),
       st.integers(min_value=0, max_value=49))
def test_channel_names_are_always_valid(number: int, title: str, suffix: int) -> None:
    name = channel_name(number, title, suffix)
    assert len(name) <= 80
    assert all(c.islower() or c.isdigit() or c in "-_" for c in name)
    assert name.startswith(f"inc-{number}")
