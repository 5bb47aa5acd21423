"""A bad setting stops the CLI with one line naming it, not a pydantic traceback (issue 14)."""

from __future__ import annotations

import pytest

from bot.cli.main import main


@pytest.mark.parametrize(("env", "expected"), [
    ({"LOG_RETENTION_DAYS": "30"}, "LOG_RETENTION_DAYS=30: Input should be greater than or equal to 90"),
    ({"PII_CATEGORIES": "email,ssn"}, "PII_CATEGORIES=email,ssn: Value error, unknown PII categories"),
])
def test_a_bad_setting_is_one_line(env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("incident-bot: invalid configuration: " + expected)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
