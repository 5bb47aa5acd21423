"""Issue 15, IaC drift (seed 003) in Slack: break-glass choices follow the RACI, Accept asks for a
security approver when a rule requires one and caps the expiry, secrets never reach Slack or the
database, report-level notices are shown, and the other report shapes are read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.cli.audit import rows
from bot.local.stack import LocalStack
from bot.slack_ui.iac import incomplete_text
from domain.iac.decisions import parse_report
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


async def test_every_report_shape_reaches_slack_without_its_secrets(gov: LocalStack) -> None:
    """Items 9, 10, 11, 13 through the webhook: driftctl deep-mode differences, HCP Terraform's
    redacted plan and the `terraform plan -json` stream each get their drift messages; the
    CloudFormation DB_PASSWORD is neither in Slack nor in drift_changes."""
    from tests.unit.domain.iac.test_iac_issue15 import (
        DRIFTCTL_DEEP,
        HCP_REDACTED,
        PLAN_STREAM,
        cfn_lambda_with_password,
    )

    assert (await post(gov, DRIFTCTL_DEEP, query="source=driftctl"))[1]["events"] == 1
    assert (await post(gov, HCP_REDACTED, query="source=hcp"))[1]["events"] == 1
    status, answer = await post(gov, None, raw=PLAN_STREAM, query="source=plan-stream")
    assert status == 200 and answer["events"] == 2
    assert (await post(gov, cfn_lambda_with_password(), query="source=cfn"))[1]["events"] == 1
    await gov.settle()
    texts = [m["text"] for m in drift_messages(gov)]
    for expected in ("modified aws_diff_resource.diff-id-1", "deleted tfcoremock_simple_resource.example",
                     "modified aws_s3_bucket.models", "deleted aws_instance.gpu", "ScoringFunction"):
        assert any(expected in t for t in texts), expected
    everything = json.dumps(gov.slack.messages("ml-incidents"))
    async with gov.container.engine.connect() as conn:
        stored = json.dumps([dict(r) for r in (await conn.execute(
            sa.select(drift_changes.c.declared_value, drift_changes.c.actual_value))).mappings()])
        states = json.dumps([dict(r) for r in (await conn.execute(
            sa.select(drift_events.c.declared_state, drift_events.c.actual_state,
                      drift_events.c.triage))).mappings()], default=str)
    for secret in ("hunter2-prod-db", "hunter3-prod-db", "tok-old-1234", "tok-new-5678"):
        assert secret not in everything and secret not in stored and secret not in states
    assert "(sensitive)" in stored and "`/Environment/Variables/DB_PASSWORD`" in everything


async def test_partial_reports_are_said_in_the_answer_and_slack(gov: LocalStack) -> None:
    """Item 12: a first page (NextToken) or driftctl alerts are notices in the webhook's answer,
    and one Slack message per change of what was missed."""
    from tests.unit.domain.iac.test_iac_issue15 import DRIFTCTL_DEEP, cfn_lambda_with_password

    paged = cfn_lambda_with_password()
    paged["NextToken"] = "page-2"
    status, answer = await post(gov, paged, query="source=cfn-nightly")
    assert status == 200 and any("NextToken" in n for n in answer["notices"])
    await post(gov, paged, query="source=cfn-nightly")  # the same gap again: said once
    await post(gov, DRIFTCTL_DEEP, query="source=driftctl")
    await gov.settle()
    expected = []
    for source, data, missed in (("cfn-nightly", paged, "NextToken"), ("driftctl", DRIFTCTL_DEEP, "aws_vpc")):
        report = parse_report(data, gov.container.clock.now(), source, None)
        assert any(missed in n for n in report.incomplete)
        expected.append(incomplete_text(source, report.source_format.value, list(report.incomplete)))
    posted = [m.get("text", "") for m in gov.slack.top_level("ml-incidents")]
    assert [t for t in posted if t in expected] == expected  # each once, in order


def test_the_cli_prints_a_partial_report_s_notices(tmp_path: Path) -> None:
    """Item 12, CLI: `incident-bot iac ingest` prints the report's notices."""
    from tests.unit.domain.iac.test_iac_issue15 import cfn_lambda_with_password

    paged = cfn_lambda_with_password()
    paged["NextToken"] = "page-2"
    report = tmp_path / "paged.json"
    report.write_text(json.dumps(paged))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "IAC_DEFAULT_MODEL": "fraud-detector"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "iac", "ingest", str(report)], cwd=root,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "events 1" in result.stdout and "notice: The output has a NextToken" in result.stdout


async def test_the_cli_delivers_what_it_ingested_and_leaves_no_claim(database_url: str,
                                                                       tmp_path: Path) -> None:
    """Item 8: `incident-bot iac ingest` used to exit with its outbox row claimed for 120 s and
    never posted it; every IaC message of every process then waited. With no server delivering
    anything here, the CLI itself posts the drift message, and leaves no claim behind."""
    import asyncio

    from bot.local.stack import BOT_TOKEN
    from storage.tables import outbox

    fixture, root = TERRAFORM_DRIFT, ROOT
    async with LocalStack(database_url) as stack:
        await stack.container.dispatcher.stop()  # the server delivers nothing: only the CLI can
        env = {**os.environ, "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
               "SLACK_API_URL": str(stack.settings.slack_api_url),
               "IAC_DEFAULT_MODEL": "fraud-detector"}
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "iac", "ingest", str(fixture), cwd=root, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(cli.communicate(), 120)
        assert cli.returncode == 0, err.decode()[-2000:]
        assert "new 1" in out.decode()
        posted = [m for m in stack.slack.top_level("ml-incidents") if "IaC drift" in m["text"]]
        assert len(posted) == 1
        async with stack.container.engine.connect() as conn:
            left = (await conn.execute(sa.select(outbox.c.id).where(
                outbox.c.status == "pending"))).all()
        assert left == []


ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DRIFT = Path("/work/shared/fixtures/iac/terraform_show_json_drift.json")
if not TERRAFORM_DRIFT.exists():
    TERRAFORM_DRIFT = ROOT.parent / "shared/fixtures/iac" / TERRAFORM_DRIFT.name
