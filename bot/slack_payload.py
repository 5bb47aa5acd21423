"""Is a signed Slack payload shaped as Slack sends it? What Bolt's context builder, its matchers
or our listeners would trip on is refused with a 400 reason instead of being half-handled.

Slack sends objects where these expect objects, short strings for ids, and valid Unicode.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 40
TOP_LEVEL_IDS = ("type", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id",
                 "trigger_id", "thread_ts", "command", "callback_id", "function_execution_id",
                 "bot_access_token", "event_id", "token", "challenge", "user_name", "channel_name",
                 "team_domain")
OBJECT_IDS = ("id", "team_id", "enterprise_id", "user_id", "channel_id", "name", "username",
              "type", "callback_id", "user", "channel", "team", "ts", "thread_ts", "subtype",
              "bot_id", "tab", "app_installed_team_id", "message_ts", "execution_id")
USER_PAYLOADS = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action")


def payload_shape_problem(body: Any) -> str | None:
    """The first thing wrong with a signed payload's shape, as a 400 reason; else None."""
    if not isinstance(body, dict):
        return "a Slack payload is a JSON object"
    for check in (text_problem, top_level_problem, nested_problem, view_problem, kind_problem):
        problem = check(body)
        if problem:
            return problem
    return None


def text_problem(body: Any, where: str = "payload", depth: int = 0) -> str | None:
    """Lone surrogates can be neither stored nor sent on (free text keeps its NULs: the
    domain's text boundary strips those); nesting past MAX_DEPTH is refused too."""
    if _text_clean(body, depth):
        return None  # the usual case; the walk below is only to name the problem
    return _text_walk(body, where, depth)


def _text_clean(node: Any, depth: int) -> bool:
    """What ``_text_walk`` checks, without naming where: this runs on every ack, so no path
    string is built per item and no call is made per string (a third of the calls the
    bot's ack path made on top of a bare Bolt app's, benchmarks/ack_cost.py)."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(node, str):
        return node.isascii() or _encodes(node)
    if isinstance(node, dict):
        children: Any = (*node, *node.values())
    elif isinstance(node, list):
        children = node
    else:
        return True
    deeper = depth + 1
    for child in children:
        if isinstance(child, str):
            if deeper > MAX_DEPTH or not (child.isascii() or _encodes(child)):
                return False
        elif isinstance(child, dict | list):
            if not _text_clean(child, deeper):
                return False
        elif deeper > MAX_DEPTH:
            return False
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_walk(body: Any, where: str, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"{where} is nested too deeply"
    if isinstance(body, str):
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} is not valid text"
        return None
    if isinstance(body, dict):
        for key, item in body.items():
            problem = (_text_walk(key, where, depth + 1)
                       or _text_walk(item, f"{where}.{key}"[:80], depth + 1))
            if problem:
                return problem
    elif isinstance(body, list):
        for item in body:
            problem = _text_walk(item, f"{where}[]", depth + 1)
            if problem:
                return problem
    return None


def id_problem(value: Any, where: str) -> str | None:
    if value is not None and not (isinstance(value, str) and len(value) <= 255
                                  and "\x00" not in value):
        return f"{where} must be a short string"
    return None


def object_problem(value: Any, where: str, *, may_be_id: bool = False) -> str | None:
    """An object (or, where Slack allows it, an id string) whose ids are strings."""
    if value is None:
        return None
    if isinstance(value, str) and may_be_id:
        return id_problem(value, where)
    if not isinstance(value, dict):
        return f"{where} must be an object"
    for key in OBJECT_IDS:
        found = value.get(key)
        if found is not None:  # most are absent: no call for those (every ack runs this)
            problem = id_problem(found, f"{where}.{key}")
            if problem:
                return problem
    return None


_SPACE = re.compile(r"\s")  # str patterns: exactly the characters str.isspace() accepts


def url_problem(url: Any, where: str) -> str | None:
    """Bolt answers through it (even to refuse a workspace): it must be one it can call."""
    if url in (None, ""):
        return None
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))
            and len(url) <= 2048 and not _SPACE.search(url)):
        return f"{where} must be an http(s) URL"
    return None


def top_level_problem(body: dict[str, Any]) -> str | None:
    """The payload's own ids, command text and response URL."""
    for key in TOP_LEVEL_IDS:
        problem = id_problem(body.get(key), key)
        if problem:
            return problem
    if "command" in body and not (isinstance(body.get("user_id"), str) and body["user_id"]):
        return "slash commands need a user_id"
    if not isinstance(body.get("text", ""), str):
        return "text must be a string"
    return url_problem(body.get("response_url"), "response_url")


def nested_problem(body: dict[str, Any]) -> str | None:
    """The objects Bolt reads ids from: team, user, channel, event, view, authorizations..."""
    for key in ("team", "user", "enterprise", "channel"):
        problem = object_problem(body.get(key), key, may_be_id=True)
        if problem:
            return problem
    if "event" in body and not isinstance(body["event"], dict):  # Bolt reads event.get(...)
        return "event must be an object"
    for key in ("container", "message", "previous_message", "item", "assistant_thread",
                "function_data", "view", "event"):
        problem = object_problem(body.get(key), key)
        if problem:
            return problem
    authorizations = body.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list) and all(
            object_problem(a, "authorization") is None for a in authorizations)):
        return "authorizations must be a list of objects"
    urls = body.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and all(
            isinstance(u, dict) and url_problem(u.get("response_url"), "") is None for u in urls)):
        return "response_urls must be a list of objects with http(s) URLs"
    return None


def view_problem(body: dict[str, Any]) -> str | None:
    """A modal's submission: the state values our view listeners read."""
    if body.get("type") not in ("view_submission", "view_closed"):
        return None
    view = body.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("type"), str):
        return "view payloads need a view object with a type"
    state = view.get("state", {})
    values = state.get("values", {}) if isinstance(state, dict) else None
    if not isinstance(values, dict) or not all(
            isinstance(block, dict) and all(isinstance(e, dict) for e in block.values())
            for block in values.values()):
        return "view.state.values must map block ids to objects of action states"
    for block in values.values():
        for element in block.values():
            problem = input_problem(element)
            if problem:
                return problem
    if not isinstance(view.get("private_metadata", ""), str):
        return "view.private_metadata must be a string"
    return None


def input_problem(element: dict[str, Any]) -> str | None:
    """One input's state in a submitted view."""
    option = element.get("selected_option")
    if option is not None and not (isinstance(option, dict) and isinstance(
            option.get("value", ""), str)):
        return "a selected option must be an object with a string value"
    for key in ("value", "selected_date", "selected_time", "selected_user",
                "selected_channel", "selected_conversation"):
        if not isinstance(element.get(key) or "", str):
            return f"an input's {key} must be a string"
    for key in ("selected_options", "selected_users", "selected_channels",
                "selected_conversations"):
        if not isinstance(element.get(key) or [], list):
            return f"an input's {key} must be a list"
    return None


def kind_problem(body: dict[str, Any]) -> str | None:
    """What each kind of interaction must carry: a user, actions, a callback id, an event."""
    kind = body.get("type")
    if kind in USER_PAYLOADS:
        if not isinstance(body.get("user"), dict):
            return f"{kind} payloads need a user object"
        if not isinstance(body["user"].get("id"), str):
            return f"{kind} payloads need a user id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and all(
                isinstance(a, dict) and isinstance(a.get("action_id"), str)
                and isinstance(a.get("block_id", ""), str) for a in actions)):
            return "block_actions payloads need a list of actions with action ids"
        if not isinstance(body.get("trigger_id"), str):
            return "block_actions payloads need a trigger_id"
        for action in actions:
            if not isinstance(action.get("value", ""), str) or not isinstance(
                    action.get("selected_option") or {}, dict):
                return "an action's value must be a string"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return f"{kind} payloads need a callback_id"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback payloads need an event object with a type"
        if not isinstance(event.get("text") or "", str):
            return "an event's text must be a string"
    return None
