"""The shape check's text rule (bot/slack_payload.py): the quick check every ack runs must
refuse exactly what the naming walk refuses, at the nesting limit and with lone surrogates
anywhere (keys, values, lists), and the walk's words are what the user gets."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack_payload import MAX_DEPTH, _text_walk, payload_shape_problem, text_problem


def nested(depth: int, leaf: Any = "leaf") -> Any:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


def listed(depth: int, leaf: Any = "x") -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


CASES = [
    {"a": "fine", "b": ["é", "\U0001f600", 1, None, True, 2.5]},
    {"a": "\ud800"}, {"\udfff": "key"}, {"a": ["x", {"b": "\udc00"}]},
    nested(MAX_DEPTH - 1), nested(MAX_DEPTH), nested(MAX_DEPTH + 1), nested(MAX_DEPTH + 9),
    nested(MAX_DEPTH - 1, {}), nested(MAX_DEPTH, {}), nested(MAX_DEPTH, []), nested(MAX_DEPTH, 7),
    nested(MAX_DEPTH - 1, ["x"]), listed(MAX_DEPTH), listed(MAX_DEPTH + 1), listed(MAX_DEPTH, None),
    {"a": "\ud800", "b": nested(MAX_DEPTH + 5)}, {"b": nested(MAX_DEPTH + 5), "a": "\ud800"},
    nested(MAX_DEPTH + 1, "\ud800"), {}, [], "text", "\ud800",
]


@pytest.mark.parametrize("body", CASES)
def test_the_quick_check_refuses_what_the_walk_refuses(body: Any) -> None:
    assert text_problem(body) == _text_walk(body, "payload", 0)


def test_the_refusals_name_where_and_why() -> None:
    assert text_problem({"user": {"name": "\ud800"}}) == "payload.user.name is not valid text"
    deep = text_problem(nested(MAX_DEPTH + 1)) or ""
    assert deep.startswith("payload.a.a.a") and deep.endswith(" is nested too deeply")
    assert text_problem(nested(MAX_DEPTH)) is None


def test_a_response_url_with_any_kind_of_space_is_refused() -> None:
    base = {"type": "block_actions", "user": {"id": "U1"}, "trigger_id": "t",
            "actions": [{"action_id": "a"}]}
    assert payload_shape_problem({**base, "response_url": "https://hooks.slack.com/x"}) is None
    for space in (" ", "\t", "\u00a0", "\u2028", "\x1f"):
        assert payload_shape_problem({**base, "response_url": f"https://h/{space}x"}) == (
            "response_url must be an http(s) URL")
