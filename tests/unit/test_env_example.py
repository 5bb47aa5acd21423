""".env.example lists every setting the bot reads, and its examples are valid (issue 16).

A setting added to :class:`bot.settings.Settings` without a line in .env.example fails here, so
the file a newcomer copies to .env never falls behind the code.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings
from bot.settings_problems import env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
LINE = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")


def entries() -> list[tuple[bool, str, str]]:
    """(commented out, NAME, value) for each ``NAME=value`` line."""
    found = []
    for line in EXAMPLE.read_text().splitlines():
        match = LINE.match(line)
        if match:
            found.append((match.group(1) is not None, match.group(2), match.group(3)))
    return found


def test_every_setting_is_listed_once_and_nothing_else() -> None:
    listed = [name for _, name, _ in entries()]
    settings = {env_name(field) for field in Settings.model_fields}
    missing = sorted(settings - set(listed))
    assert not missing, f"add these settings to .env.example: {missing}"
    assert sorted(set(listed) - settings) == [], "unknown settings in .env.example"
    assert len(listed) == len(set(listed)), "a setting is listed twice"


def test_the_file_as_copied_is_valid(tmp_path: Path) -> None:
    _, problems = load_settings(_env_file=EXAMPLE)
    assert problems == []


def test_every_example_value_is_valid(tmp_path: Path) -> None:
    """Uncommenting any example gives a valid setting (the JSON ones included)."""
    filled = tmp_path / "filled.env"
    filled.write_text("".join(f"{name}={value}\n" for _, name, value in entries() if value))
    settings, problems = load_settings(_env_file=filled)
    assert problems == []
    assert settings.governance_roles["incident_commander"] == ["U012ABCDEF", "S0123ONCALL"]
