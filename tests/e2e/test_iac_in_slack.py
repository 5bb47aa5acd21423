"""IaC drift end to end: a drift plan posted to /webhooks/iac -> one Slack message with the
DriftGuard choices -> Escalate (double-clicked) -> one incident linked to the drift event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.local.stack import LocalStack
from bot.slack_ui.iac import IacAction, choice_text, expiry_text, render
from domain.iac.ports import StoredDrift
from domain.services import IncidentRef
from storage.iac_tables import drift_events

FIXTURES = Path("/work/shared/fixtures/iac")
if not FIXTURES.exists():
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "iac"
TOKEN = "iac-token"
RESPONDER = "U0RESPOND"


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(
        database_url, settings_overrides={"iac_token": TOKEN, "iac_default_model": "fraud-detector"}
    ) as s:
        yield s


async def post(stack: LocalStack, body: Any, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(stack.url + "/webhooks/iac?source=ci", data=json.dumps(body), headers=headers) as resp,
    ):
        return resp.status, await resp.json()


def drift_messages(stack: LocalStack) -> list[dict[str, Any]]:
    return [m for m in stack.slack.top_level("ml-incidents") if "IaC drift" in m.get("text", "")]


async def stored_drift(stack: LocalStack) -> StoredDrift:
    """The one drift event, as the IaC use cases read it."""
    async with stack.container.engine.connect() as conn:
        event_id = (await conn.execute(sa.select(drift_events.c.id))).scalar_one()
    stored = await stack.container.features.iac.load(event_id)
    assert stored is not None
    return stored


def without_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks without their ids (Slack gives a block without one an id of its own)."""
    return [{k: v for k, v in b.items() if k != "block_id"} for b in blocks]


async def test_ingest_one_message_escalate_one_incident(stack: LocalStack) -> None:
    plan = json.loads((FIXTURES / "terraform_show_json_drift.json").read_text())
    assert (await post(stack, plan, token=None))[0] == 401
    assert (await post(stack, plan, token="wrong"))[0] == 401
    status, body = await post(stack, {"hello": "world"})
    assert status == 422 and "accepted" in body["error"]

    assert await post(stack, plan) == (200, {"events": 1, "new": 1, "changed": 0, "unchanged": 0,
                                             "notices": []})
    assert (await post(stack, plan))[1]["unchanged"] == 1  # seen again: the same event
    await stack.settle()
    [message] = drift_messages(stack)
    stored = await stored_drift(stack)
    assert (stored.drift_type, stored.resource_address) == ("modified", "test_instance.should_refresh")
    assert [c["path"] for c in stored.triage["event"]["changes"]] == ["/ami"]
    text, blocks = render(stored)
    assert (message["text"], without_block_ids(message["blocks"])) == (text, without_block_ids(blocks))
    actions = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["iac_revert", "iac_codify", "iac_accept", "iac_escalate"]

    incidents_channel = stack.slack.channel_id("ml-incidents")
    await stack.driver.block_action(
        "iac_revert", message_ts=message["ts"], channel_id=incidents_channel, user_id=RESPONDER
    )
    await stack.slack.wait_until(lambda: stack.driver.responses, 5)
    revert = stored.recommendation("auto_revert")
    assert revert["command"] == "terraform apply -refresh=true -target=test_instance.should_refresh"
    assert stack.driver.responses[-1]["body"]["text"] == choice_text(IacAction.REVERT, revert)

    clicks = [
        stack.driver.block_action(
            "iac_escalate", message_ts=message["ts"], channel_id=incidents_channel, user_id=RESPONDER
        )
        for _ in range(2)
    ]
    await asyncio.gather(*clicks)
    await stack.settle()
    incidents = await stack.container.service.list_incidents()
    assert len(incidents) == 1
    incident = incidents[0].incident
    assert incident.title.startswith("Infrastructure drift: modified test_instance.should_refresh")
    async with stack.container.engine.connect() as conn:
        [row] = (await conn.execute(sa.select(drift_events))).mappings().all()
    assert row["incident_id"] == incident.id and row["status"] == "escalated"
    await stack.slack.wait_until(lambda: len(stack.driver.responses) >= 3, 5)
    texts = [r["body"]["text"] for r in stack.driver.responses[-2:]]
    assert any("Escalated as *INC-1*" in t for t in texts) and any("Already escalated" in t for t in texts)
    async with stack.container.uow_factory() as uow:
        audit = await uow.audit.list()
    by_action = {a.action: a for a in audit}
    assert by_action["iac.revert"].actor == RESPONDER and by_action["incident.created"].actor == RESPONDER
    view = await stack.container.service.view(IncidentRef(number=1))
    assert RESPONDER in stack.slack.members(view.link.channel_id)
    [updated] = drift_messages(stack)
    assert "escalated" in str(updated["blocks"]) and "iac_escalate" not in str(updated["blocks"])


async def test_accept_needs_a_reason_and_a_future_expiry(stack: LocalStack) -> None:
    plan = json.loads((FIXTURES / "tf_equivalence_drift_simple_plan.json").read_text())
    await post(stack, plan)
    await stack.settle()
    [message] = drift_messages(stack)
    await stack.driver.block_action(
        "iac_accept",
        message_ts=message["ts"],
        channel_id=stack.slack.channel_id("ml-incidents"),
        user_id=RESPONDER,
    )
    await stack.slack.wait_until(lambda: stack.slack.opened_views, 5)
    status, refused = await stack.driver.view_submission(
        "iac_accept_exception", {"reason": "", "expires": "2020-01-01"}, user_id=RESPONDER
    )
    assert refused["response_action"] == "errors" and set(refused["errors"]) == {"reason", "expires"}
    until = (date.today() + timedelta(days=30)).isoformat()  # within IAC_MAX_EXCEPTION_DAYS
    status, _ = await stack.driver.view_submission(
        "iac_accept_exception",
        {"reason": "Hotfix kept until the module upgrade", "expires": until},
        user_id=RESPONDER,
    )
    assert status == 200
    await stack.settle()
    [updated] = drift_messages(stack)
    accepted = await stored_drift(stack)
    assert accepted.status == "accepted"
    assert accepted.exception_reason == "Hotfix kept until the module upgrade"
    assert accepted.exception_expires_at and f"{accepted.exception_expires_at:%Y-%m-%d}" == until
    assert without_block_ids(updated["blocks"]) == without_block_ids(render(accepted)[1])


async def test_a_watched_directory_is_ingested_once_per_change(database_url: str, tmp_path: Path) -> None:
    watched = tmp_path / "reports"
    watched.mkdir()
    async with LocalStack(
        database_url,
        settings_overrides={
            "iac_watch_dir": str(watched),
            "iac_default_model": "fraud-detector",
            "tick_seconds": 0,
        },
    ) as stack:
        watcher = stack.container.features.iac_watcher
        (watched / "plan.json").write_text((FIXTURES / "terraform_show_json_drift.json").read_text())
        (watched / "broken.json").write_text("{not json")
        assert await watcher.scan() == 1  # the broken file is logged and skipped
        assert await watcher.scan() == 0  # nothing changed
        (watched / "cfn.json").write_text(
            (
                FIXTURES / "cfn_describe_stack_resource_drifts__awsdocs_detect_drift_stack_sqs_modified.json"
            ).read_text()
        )
        assert await watcher.scan() == 1
        await stack.settle()
        assert len(drift_messages(stack)) == 2


async def test_an_expired_exception_opens_the_drift_again(database_url: str) -> None:
    from tests.fakes import FakeClock

    clock = FakeClock()  # 2026-11-22 14:00 UTC
    async with LocalStack(database_url, clock=clock, settings_overrides={
            "iac_token": TOKEN, "iac_default_model": "fraud-detector"}) as stack:
        await post(stack, json.loads((FIXTURES / "tf_equivalence_drift_simple_plan.json").read_text()))
        await stack.settle()
        [message] = drift_messages(stack)
        await stack.driver.block_action("iac_accept", message_ts=message["ts"], user_id=RESPONDER,
                                        channel_id=stack.slack.channel_id("ml-incidents"))
        await stack.slack.wait_until(lambda: stack.slack.opened_views, 5)
        await stack.driver.view_submission(
            "iac_accept_exception", {"reason": "Hotfix kept for the demo", "expires": "2026-11-24"},
            user_id=RESPONDER)
        await stack.settle()
        iac = stack.container.features.iac
        assert await iac.expire_exceptions() == 0  # not yet
        clock.set(clock.now().replace(day=24, hour=0, minute=1))
        assert await iac.expire_exceptions() == 1
        assert await iac.expire_exceptions() == 0  # once
        await stack.settle()
        [updated] = drift_messages(stack)
        assert updated["ts"] == message["ts"] and "iac_accept" in str(updated["blocks"])  # buttons back
        [reply] = stack.slack.thread(stack.slack.channel_id("ml-incidents"), message["ts"])[1:]
        async with stack.container.engine.connect() as conn:
            status, event_id = (await conn.execute(sa.select(drift_events.c.status,
                                                             drift_events.c.id))).one()
        stored = await iac.load(event_id)
        assert stored is not None
        assert reply["text"] == expiry_text(stored, "2026-11-24", "Hotfix kept for the demo")
        assert status == "open"
        async with stack.container.uow_factory() as uow:
            actions = [a.action for a in await uow.audit.list()]
        assert actions.count("iac.accept") == 1 and actions.count("iac.exception_expired") == 1
        assert stack.container.scheduler.get_job("iac-exception-expiry") is not None


async def test_markup_in_a_drift_report_is_shown_not_interpreted(stack: LocalStack) -> None:
    """Attribute values come from whoever can change the infrastructure: a `<!channel>` in a
    drifted value must not ping the incidents channel, nor a link be disguised (issue 14)."""
    plan = json.loads((FIXTURES / "terraform_show_json_drift.json").read_text())
    plan["resource_drift"][0]["change"]["after"]["ami"] = "<!channel> <https://evil.example|ami>"
    assert (await post(stack, plan))[0] == 200
    await stack.settle()
    [message] = drift_messages(stack)
    shown = message["text"] + json.dumps(message["blocks"])
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in shown
