"""CHANNEL_NAME_TEMPLATE (issue 19 item 8): checked against Slack's channel-name rules at
start-up, rendered and normalised per incident, never losing the incident number."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.settings_problems import settings_problems
from bot.slack_ui.incident import channel_name
from domain.channel_names import (
    DEFAULT_TEMPLATE,
    MAX_CHANNEL_NAME,
    InvalidTemplate,
    NameFacts,
    parse_template,
)

AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)


def facts(number: int = 42, title: str = "Null predictions since 14:02",
          model: str = "credit-risk-v3", severity: str = "SEV-1") -> NameFacts:
    return NameFacts(number=number, title_words=title, model=model, severity=severity,
                     declared_at=AT)


def test_the_default_template_gives_todays_names() -> None:
    template = parse_template(DEFAULT_TEMPLATE)
    for title in ("Null predictions since 14:02", "Ünïcode   & spaces.. here", "!!!"):
        assert template.render(facts(title=title)) == channel_name(42, title)
    assert template.render(facts(), suffix=2) == channel_name(42, "Null predictions since 14:02", 2)


def test_every_placeholder_renders_normalised() -> None:
    template = parse_template("inc-{number}-{model}-{severity}-{date}-{slug}")
    assert template.render(facts(model="Credit.Risk V3")) == (
        "inc-42-credit-risk-v3-sev-1-2026-11-30-null-predictions-since-14-02")
    assert parse_template("{number}_{model}").render(facts()) == "42_credit-risk-v3"


def test_a_long_name_is_trimmed_to_80_keeping_the_number() -> None:
    template = parse_template("inc-{model}-{slug}-{number}")
    name = template.render(facts(number=123456789, model="m" * 70, title="t" * 200), suffix=49)
    assert len(name) <= MAX_CHANNEL_NAME
    assert name.endswith("-123456789-49") and name.startswith("inc-m")


@pytest.mark.parametrize(("text", "reason"), [
    ("inc {number}", "space"),
    ("inc.{number}", "'.'"),
    ("INC-{number}", "lowercase"),
    ("inc-{number}-{title}", "unknown placeholder {title}"),
    ("inc-{slug}", "needs {number}"),
    ("inc-{number", "not a template"),
    ("", "empty"),
    ("x" * 70 + "-{number}", "no room"),
    ("inc-{number:>5}", "unknown placeholder"),
])
def test_an_invalid_template_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidTemplate, match=reason.replace("{", r"\{").replace(".", r"\.")):
        parse_template(text)


def test_an_invalid_template_is_a_settings_problem_at_start_up() -> None:
    [problem] = settings_problems(channel_name_template="inc {number}")
    assert problem.startswith("CHANNEL_NAME_TEMPLATE=inc {number}:") and "space" in problem
    assert settings_problems(channel_name_template="inc-{number}-{model}-{slug}") == []
    [problem] = settings_problems(channel_name_template="inc-{number}-{team}")
    assert "unknown placeholder {team}" in problem
