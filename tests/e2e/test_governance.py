"""Governance through the real Bolt app: role refusals, scrubbed notes, postmortem file, /metrics."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli.audit import rows
from bot.local.stack import LocalStack
from bot.slack_ui.postmortems import draft_posted
from tests.e2e.conftest import command_reply

IC, MLE = "U0COMMANDER", "U0MLENGINEER"
ROLES = {"incident_commander": [IC], "ml_engineer": [MLE]}


@pytest.fixture
async def gov(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, settings_overrides={"governance_roles": ROLES}) as s:
        yield s


async def test_roles_refuse_and_audit_then_allow(gov: LocalStack) -> None:
    refused = await command_reply(gov, "declare P1 credit-risk-v3 Null predictions", MLE)
    assert "Incident Commander" in refused and "ML Platform SRE" in refused
    assert gov.driver.responses[-1]["body"]["response_type"] == "ephemeral"
    assert gov.slack.top_level("ml-incidents") == []
    await gov.slack.wait_until(lambda: not gov.container.features.governance["pending"], 5)
    audit = [r for r in await rows(gov.container.engine) if r["action"] != "model.registered"]
    assert [r["action"] for r in audit] == ["access.denied"] and audit[0]["actor"] == MLE
    assert audit[0]["details"]["activity"] == "declare_sev1_sev2"
    ok = await command_reply(gov, "declare P3 credit-risk-v3 Slow scoring", MLE)  # low severity: anyone
    assert "Declared *INC-1*" in ok
    ok = await command_reply(gov, "declare P1 credit-risk-v3 Null predictions", IC)
    assert "Declared *INC-2*" in ok
    for verb in ("resolve 2 fixed", "close 2"):
        await command_reply(gov, verb, IC)
    await command_reply(gov, "resolve 1 done", MLE)  # resolving is not RACI-restricted
    refused = await command_reply(gov, "close 1", MLE)
    assert "may close incident" in refused


async def test_notes_are_scrubbed_and_postmortem_is_posted(gov: LocalStack) -> None:
    await command_reply(gov, "declare P1 credit-risk-v3 Nulls for jane@example.com", IC)
    await command_reply(gov, "note 1 caller +1 (415) 555-0132 from 10.1.2.3 saw it", IC)
    await command_reply(gov, "ack 1", IC)
    reply = await command_reply(gov, "postmortem 1", IC)
    assert reply.startswith(draft_posted("INC-1", has_factors=True))
    await gov.slack.wait_until(lambda: gov.slack.files, 5)
    md = gov.slack.files[-1]["content"].decode()
    assert "# Postmortem: incident #1 — Nulls for [email]" in md
    assert "caller [phone] from [ip] saw it" in md and "555-0132" not in md
    assert "| time to acknowledge |" in md and "## Action items" in md


async def test_metrics_endpoint_parses(gov: LocalStack) -> None:
    await command_reply(gov, "declare P1 credit-risk-v3 Null predictions", IC)
    async with aiohttp.ClientSession() as http, http.get(f"{gov.url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"mlplatform_incidents", "mlplatform_incidents_open", "incident_bot_outbox_depth",
            "mlplatform_api_request_duration_seconds"} <= set(families)
    created = [s for s in families["mlplatform_incidents"].samples if s.name == "mlplatform_incidents_total"]
    assert any(s.labels.get("severity") == "p1" and s.value == 1 for s in created)


async def test_metrics_count_open_incidents_and_time_every_slack_call(gov: LocalStack) -> None:
    gov.slack.fail_next(1, 503, method="chat.postMessage")  # the announcement is retried once
    await command_reply(gov, "declare P1 credit-risk-v3 Null predictions", IC)
    await gov.settle()

    async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with aiohttp.ClientSession() as http, http.get(f"{gov.url}/metrics") as resp:
            text = await resp.text()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    samples = await scrape()
    assert samples[("mlplatform_incidents_open", (("severity", "p1"),))] == 1
    assert samples[("mlplatform_incidents_open", (("severity", "p3"),))] == 0
    assert samples[("incident_bot_slack_api_errors_total",
                    (("error", "service_unavailable"), ("method", "chat.postMessage")))] == 1
    posts = samples[("incident_bot_slack_api_duration_seconds_count", (("method", "chat.postMessage"),))]
    assert posts >= 2  # the failed try and the delivered announcement, at least
    assert samples[("incident_bot_slack_api_duration_seconds_count",
                    (("method", "conversations.create"),))] == 1
    await command_reply(gov, "resolve 1 rolled back", IC)
    await gov.settle()
    assert (await scrape())[("mlplatform_incidents_open", (("severity", "p1"),))] == 0
