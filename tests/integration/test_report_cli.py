"""`incident-bot report` over the seeded history, in every format, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.main import main
from bot.reports.html import CHARTS_MISSING, render_html
from domain.insights import report_as_dict, targets_from_policy
from domain.policy import default_policy
from storage.reports import build_report
from tests.insights_history import SINCE, UNTIL, generate, load

ARGS = ["report", "--since", "2026-08-01", "--until", UNTIL.date().isoformat()]


@pytest.fixture
async def seeded(engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path) -> AsyncEngine:
    await load(engine, generate())
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("POLICY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    return engine


async def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = await asyncio.to_thread(main, args)
    out, err = capsys.readouterr()
    return status, out, err


async def test_every_format_on_one_seeded_database(
        seeded: AsyncEngine, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # json: the report as computed; --until in the past, so the figures are as of --until
    status, out, err = await _cli([*ARGS, "--format", "json"], capsys)
    assert status == 0, err
    got = json.loads(out)
    report = await build_report(seeded, targets_from_policy(default_policy()), SINCE, UNTIL, UNTIL)
    assert got == json.loads(json.dumps(report_as_dict(report)))
    overall = got["groups"][0]
    assert (overall["dimension"], overall["count"]) == ("overall", 500)
    assert set(overall["sla"]) == {"ack", "mitigate", "resolve", "commander", "update"}

    # table (the default)
    status, out, _ = await _cli(ARGS, capsys)
    assert status == 0 and "policy GOV-001" in out and ": 500 incidents" in out
    for heading in ("Severity", "Model", "Team", "Trigger source", "Top models by incident minutes",
                    "Drift incidents vs manual", "SLA breaches"):
        assert heading in out

    # csv: one row per group
    status, out, _ = await _cli([*ARGS, "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and rows[0]["dimension"] == "overall" and rows[0]["count"] == "500"
    severities = {r["key"]: int(r["count"]) for r in rows if r["dimension"] == "severity"}
    assert sum(severities.values()) == 500 and set(severities) == {"p1", "p2", "p3", "p4"}

    # html: to a file, self-contained, three charts inline
    target = tmp_path / "report.html"
    status, out, err = await _cli([*ARGS, "--format", "html", "--output", str(target)], capsys)
    assert status == 0 and out == "" and "report written to" in err
    page = target.read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "http://" not in page and "https://" not in page

    # without matplotlib (a core install) the page says so and keeps every table
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    page = render_html(report)
    assert CHARTS_MISSING in html.unescape(page) and "<img" not in page
    assert 'id="by-severity"' in page


def test_until_before_since_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--since", "2026-10-01", "--until", "2026-09-01"]) == 2
    assert "--until must be after --since" in capsys.readouterr().err


def test_a_database_never_migrated_is_named_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--since", "2026-10-01"]) == 1
    assert "has no incident tables yet; run `incident-bot db upgrade`" in capsys.readouterr().err
