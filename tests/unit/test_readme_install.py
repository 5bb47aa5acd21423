"""The README's "Install in production" can be followed literally: every `incident-bot` command
in it parses, every setting it names exists, the paths it says to expose are the bot's routes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from bot.cli.main import build_parser
from bot.settings import Settings
from bot.settings_problems import env_name

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Install in production\n")
    return readme[start:readme.index("\n## ", start + 1)]


def commands() -> list[list[str]]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", section(), re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            words = shlex.split(line)
            if "incident-bot" in words[:1]:
                found.append(words[1:])
            elif words[:2] == ["kubectl", "-n"] and "--" in words:
                found.append(words[words.index("--") + 2:])
    return found


def test_every_command_in_the_section_parses() -> None:
    parsed = [build_parser().parse_args(args) for args in commands()]
    assert {args.command for args in parsed} >= {"models", "check", "serve"}
    assert any(getattr(args, "socket_mode", False) for args in parsed)


def test_every_setting_named_exists_and_the_steps_are_there() -> None:
    text = section()
    settings = {env_name(field) for field in Settings.model_fields}
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", text)) - {"PASSWORD"}
    assert named <= settings, named - settings
    for must in ("connections:write", "reinstall the app after scope changes", "cp .env.example .env",
                 "/slack/events", "/webhooks/", "/metrics", "ADMIN_PORT", "docker build",
                 "kubectl apply -k deploy/kubernetes", "incident-bot check", "cloudflared tunnel"):
        assert must in text, must
    assert (ROOT / "deploy" / "kubernetes" / "kustomization.yaml").exists()
    assert (ROOT / "Dockerfile").exists() and (ROOT / ".env.example").exists()
