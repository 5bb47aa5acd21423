"""Issue 15, IaC drift (seed 003) in Slack: break-glass choices follow the RACI, Accept asks for a
security approver when a rule requires one and caps the expiry, secrets never reach Slack or the
database, report-level notices are shown, and the other report shapes are read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.cli_audit import rows
from bot.local_stack import LocalStack
from storage.iac_tables import drift_changes, drift_events

TOKEN = "iac-token"
IC, SRE, MLE = "U0COMMANDER", "U0SRE", "U0MLENGINEER"
ROLES = {"incident_commander": [IC], "ml_platform_sre": [SRE], "ml_engineer": [MLE]}


def ssh_open_plan() -> dict[str, Any]:
    """SYNTHETIC: a prod security group opened on port 22 to 0.0.0.0/0 by hand."""
    rule = {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
    opened = {**rule, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"]}
    return {"format_version": "1.2", "terraform_version": "1.9.0", "resource_drift": [{
        "address": "aws_security_group.feature_store_prod", "mode": "managed",
        "type": "aws_security_group", "name": "feature_store_prod",
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": ["update"],
                   "before": {"name": "feature-store-prod", "ingress": [rule], "tags": {"env": "prod"}},
                   "after": {"name": "feature-store-prod", "ingress": [opened], "tags": {"env": "prod"}}}}]}


@pytest.fixture
async def gov(database_url: str) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, settings_overrides={
            "iac_token": TOKEN, "iac_default_model": "fraud-detector", "governance_roles": ROLES,
            "iac_max_exception_days": 30}) as s:
        for user, name in ((IC, "carol"), (SRE, "sam"), (MLE, "mel")):
            s.slack.add_user(user, name)
        yield s


async def post(stack: LocalStack, body: Any, raw: str | None = None,
               query: str = "source=ci") -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{stack.url}/webhooks/iac?{query}", data=raw if raw is not None else json.dumps(body),
                  headers={"Authorization": f"Bearer {TOKEN}"}) as resp,
    ):
        return resp.status, await resp.json()


def drift_messages(stack: LocalStack) -> list[dict[str, Any]]:
    return [m for m in stack.slack.top_level("ml-incidents") if "IaC drift" in m.get("text", "")]


async def click(stack: LocalStack, action: str, message: dict[str, Any], user: str) -> str:
    before = len(stack.driver.responses)
    await stack.driver.block_action(action, message_ts=message["ts"], user_id=user,
                                    channel_id=stack.slack.channel_id("ml-incidents"))
    await stack.slack.wait_until(lambda: len(stack.driver.responses) > before, 5)
    return str(stack.driver.responses[-1]["body"]["text"])


async def test_break_glass_choices_follow_the_raci_and_accept_names_an_approver(gov: LocalStack) -> None:
    """Item 5: Revert / Accept / Escalate by an ML Engineer are refused and audited; an SRE's
    Accept form asks for a security approver (a rule fired), refuses themselves as approver and
    an expiry beyond IAC_MAX_EXCEPTION_DAYS, then records the exception with the approver."""
    assert (await post(gov, ssh_open_plan()))[0] == 200
    await gov.settle()
    [message] = drift_messages(gov)
    for action in ("iac_revert", "iac_accept", "iac_escalate"):
        refused = await click(gov, action, message, MLE)
        assert refused.startswith(":warning: Only Incident Commander or ML Platform SRE or "
                                  "Platform Governance may accept, revert or escalate")
    assert gov.slack.opened_views == [] and await gov.container.service.list_incidents() == []
    denied = [r for r in await rows(gov.container.engine) if r["action"] == "access.denied"]
    assert [d["details"]["activity"] for d in denied] == ["break_glass_change"] * 3

    await gov.driver.block_action("iac_accept", message_ts=message["ts"], user_id=SRE,
                                  channel_id=gov.slack.channel_id("ml-incidents"))
    await gov.slack.wait_until(lambda: gov.slack.opened_views, 5)
    form = gov.slack.opened_views[-1]
    assert "approver" in [b["block_id"] for b in form["blocks"]]
    too_late = (date.today() + timedelta(days=45)).isoformat()
    _, refused_form = await gov.driver.view_submission(
        "iac_accept_exception", {"reason": "Vendor debugging session", "expires": too_late,
                                 "approver": SRE}, user_id=SRE)
    assert refused_form["response_action"] == "errors"
    assert set(refused_form["errors"]) == {"expires", "approver"}
    assert "30 days" in refused_form["errors"]["expires"]
    _, refused_form = await gov.driver.view_submission(
        "iac_accept_exception", {"reason": "Vendor debugging session",
                                 "expires": (date.today() + timedelta(days=7)).isoformat()},
        user_id=SRE)
    assert set(refused_form["errors"]) == {"approver"}
    status, _ = await gov.driver.view_submission(
        "iac_accept_exception", {"reason": "Vendor debugging session",
                                 "expires": (date.today() + timedelta(days=7)).isoformat(),
                                 "approver": IC}, user_id=SRE)
    assert status == 200
    await gov.settle()
    [updated] = drift_messages(gov)
    assert f"security approver <@{IC}>" in str(updated["blocks"])
    [accepted] = [r for r in await rows(gov.container.engine) if r["action"] == "iac.accept"]
    assert accepted["actor"] == SRE and accepted["details"]["security_approver"] == IC
