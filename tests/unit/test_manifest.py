"""manifest.yml is a valid Slack app manifest whose bot scopes are exactly what the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("bot", "handlers", "scheduler", "domain", "storage")

# Slack Web API method (as slack_sdk names it) -> the bot scope it needs (None: no scope).
METHOD_SCOPES: dict[str, str | tuple[str, ...] | None] = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    # private incident channels (issue 19 item 8) need groups:write as well
    "conversations_create": ("channels:manage", "groups:write"),
    "conversations_archive": ("channels:manage", "groups:write"),
    "conversations_setTopic": ("channels:manage", "groups:write"),
    "conversations_setPurpose": "channels:manage",
    "conversations_invite": ("channels:manage", "groups:write"),
    "conversations_history": ("channels:history", "groups:history"),
    "conversations_replies": ("channels:history", "groups:history"),
    "conversations_list": ("channels:read", "groups:read"),
    "conversations_members": ("channels:read", "groups:read"),
    "pins_add": "pins:write",
    "users_info": "users:read",
    "users_lookupByEmail": "users:read.email",
    "usergroups_users_list": "usergroups:read",
    "usergroups_list": "usergroups:read",
    "files_upload_v2": "files:write",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
}
EVENT_SCOPES: dict[str, str | None] = {"channel_archive": "channels:read",
                                       "channel_unarchive": "channels:read",
                                       "group_archive": "groups:read",
                                       "group_unarchive": "groups:read",
                                       "message.channels": "channels:history",
                                       "message.groups": "groups:history", "app_home_opened": None,
                                       "member_joined_channel": "channels:read",
                                       "pin_added": "pins:read", "pin_removed": "pins:read",
                                       "reaction_added": "reactions:read",
                                       "reaction_removed": "reactions:read"}
# the local Slack world (the stand-in, its driver, the demo) calls Slack methods as Slack would
STANDIN_FILES = {"slack_standin.py", "slack_driver.py", "demo.py"}
STANDIN_DIR = ROOT / "bot" / "local"


def _scopes(scope: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return () if scope is None else (scope,) if isinstance(scope, str) else scope


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def methods_called() -> set[str]:
    called: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in STANDIN_FILES or STANDIN_DIR in path.parents:
                continue
            called |= set(re.findall(r"client\.([a-z]+_[A-Za-z0-9_]+)\(", path.read_text()))
    return called


def test_manifest_has_the_bot_user_command_interactivity_and_events() -> None:
    m = manifest()
    assert m["features"]["bot_user"]["display_name"]
    [command] = m["features"]["slash_commands"]
    assert command["command"] == "/incident" and command["url"].endswith("/slack/events")
    assert command["should_escape"] is True  # mentions arrive as <@U...> for `assign`
    settings = m["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert set(settings["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)


def test_every_called_slack_method_is_known_and_scopes_are_exact() -> None:
    called = methods_called()
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"add these Slack methods to METHOD_SCOPES: {sorted(unknown)}"
    needed = {s for m in called for s in _scopes(METHOD_SCOPES[m])}
    needed |= {EVENT_SCOPES[e] for e in manifest()["settings"]["event_subscriptions"]["bot_events"]} - {None}
    needed.add("commands")
    declared = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert declared == needed, (f"missing: {sorted(needed - declared)}, "
                                f"unused: {sorted(declared - needed)}")
