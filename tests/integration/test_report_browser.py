"""The HTML report, opened in a real headless Chromium (Debian's /usr/bin/chromium via playwright).

The screenshot is kept for a human to look at: under tests/artifacts/ (git-ignored) when
REPORT_ARTIFACTS is set, else in the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.reports.html import render_html
from domain.insights import targets_from_policy
from domain.policy import default_policy
from storage import migrate
from storage.db import create_engine
from storage.reports import build_report
from tests.browser import ARTIFACTS, CHROMIUM, need_chromium
from tests.databases import sqlite_url
from tests.insights_history import SINCE, UNTIL, generate, load


async def test_the_html_report_renders_in_chromium(tmp_path: Path) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    engine = create_engine(sqlite_url(tmp_path))
    await migrate.upgrade(engine)
    await load(engine, generate())
    report = await build_report(engine, targets_from_policy(default_policy()), SINCE, UNTIL, UNTIL)
    await engine.dispose()
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report), encoding="utf-8")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(page_file.as_uri())
            assert (await page.title()).startswith("Incident report 2026-08-01")
            # every chart is a PNG the browser decoded (a broken data: URI has no size)
            widths = await page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == 3 and all(w > 0 for w in widths)
            first_row = await page.inner_text("#by-overall tr:nth-child(2)")
            assert first_row.split("\t")[:2] == ["all", "500"]
            severities = await page.eval_on_selector_all(
                "#by-severity tr td:first-child", "cells => cells.map(c => c.textContent)")
            assert severities == ["p1", "p2", "p3", "p4"]
            assert await page.is_visible("#breaches")
            shot = tmp_path / "report.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    assert shot.stat().st_size > 10_000
    _keep(shot)


def _keep(shot: Path) -> None:
    if os.environ.get("REPORT_ARTIFACTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / shot.name)
