"""``GET /status``: the status page for stakeholders without Slack, checked over HTTP on both
databases and rendered in a real headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.local.stack import LocalStack
from tests.browser import ARTIFACTS, CHROMIUM, need_chromium
from tests.databases import sqlite_url
from tests.integration.api_support import Api, add_key, api_stack, require_redis

pytestmark = pytest.mark.asyncio

# contrast ratio (WCAG 2.x) of every text element against its nearest opaque background
CONTRAST_JS = """() => {
  const lum = c => { const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = el => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
      if (c && !c.endsWith(', 0)') && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
  return [...document.querySelectorAll('h1,h2,p,th,td')].map(el => {
    const a = lum(getComputedStyle(el).color), b = lum(bg(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); });
}"""


async def populate(stack: LocalStack) -> None:
    key = await add_key(stack, "pipeline", ["incidents:write"])
    api = Api(stack)
    try:
        for title, severity, labels in (("Null predictions", "p2", []),
                                        ("Customer data leak suspected", "p3", ["private"]),
                                        ("Old drift", "p4", [])):
            status, _, _ = await api.call("POST", "/incidents", key, json={
                "title": title, "severity": severity, "model": "credit-risk-v3",
                "labels": labels})
            assert status == 201
        await api.call("PATCH", "/incidents/1", key, json={"commander": "U0RESPOND"})
        await api.call("PATCH", "/incidents/3", key, json={"status": "resolve"})
    finally:
        await api.close()
    await stack.driver.slash_command("update 1 Rollback under way", user_id="U0RESPOND")
    await stack.settle()


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    await require_redis()
    async with api_stack(database_url) as s:
        await populate(s)
        yield s


async def test_status_page_lists_active_incidents_and_the_last_30_days(stack: LocalStack) -> None:
    api = Api(stack)
    try:
        status, html, headers = await api.call("GET", "/status")  # no credentials needed
    finally:
        await api.close()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<meta http-equiv="refresh"' in html and "<script" not in html
    assert "script-src" not in headers["Content-Security-Policy"]
    active, recent = html.split('id="recent-h"')
    assert "INC-1: Null predictions" in active and "SEV-2" in active and "U0RESPOND" in active
    assert "Customer data leak" not in html and "INC-2: Private incident" in active
    assert "INC-3: Old drift" in recent and "INC-3" not in active
    assert "2 active incidents." in html



async def test_status_page_in_chromium_at_desktop_and_phone_width(tmp_path: Path) -> None:
    need_chromium()
    await require_redis()
    from playwright.async_api import async_playwright

    out = ARTIFACTS if os.environ.get("REPORT_ARTIFACTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    async with api_stack(sqlite_url(tmp_path)) as stack:
        await populate(stack)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                problems: list[str] = []
                for width, height in ((1280, 800), (375, 740)):
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    page.on("console", lambda m: problems.append(m.text)
                            if m.type in ("error", "warning") else None)
                    page.on("pageerror", lambda e: problems.append(str(e)))
                    response = await page.goto(stack.url + "/status")
                    assert response is not None and response.status == 200
                    assert await page.title() == "ML incident status"
                    headings = await page.eval_on_selector_all(
                        "h1, h2", "els => els.map(e => e.tagName + ':' + e.textContent)")
                    assert headings == ["H1:ML incident status", "H2:Active incidents",
                                        "H2:Last 30 days"]
                    assert await page.get_attribute("html", "lang") == "en"
                    # nothing wider than the screen: no sideways scrolling on a phone
                    assert await page.evaluate("document.documentElement.scrollWidth") <= width
                    ratios = await page.evaluate(CONTRAST_JS)
                    assert ratios and min(ratios) >= 4.5, min(ratios)
                    text = await page.inner_text("main")
                    assert "Null predictions" in text and "Private incident" in text
                    await page.screenshot(path=str(out / f"status-page-{width}.png"), full_page=True)
                    await page.close()
                assert problems == []
            finally:
                await browser.close()
