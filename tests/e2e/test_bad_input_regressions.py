"""What the bad-input fuzz (``test_fuzz_bad_input.py``) and probe findings 18 and 19 found, one
test per behaviour, on SQLite and PostgreSQL: malformed input with a valid signature or token
gets a 2xx or a 4xx with a reason, never a 5xx, a traceback or a half-written incident."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
import structlog

from bot.local.stack import LocalStack
from bot.slack_ui import incident as rendering
from domain.model import Status
from domain.services import IncidentRef
from storage.tables import audit_events, incident_timeline
from tests.e2e import test_pagerduty_and_alertmanager as webhooks
from tests.e2e.conftest import webhook_settings
from tests.e2e.test_fuzz_bad_input import failures, half_written, post_webhook
from tests.standins.pagerduty import PagerDutyStandIn, sign

pd = webhooks.pd
AM_TOKEN, IAC_TOKEN, PD_SECRET = webhooks.AM_TOKEN, "iac-token", webhooks.SECRET
FORM = "application/x-www-form-urlencoded"
DECLARE = "declare P1 credit-risk-v3 Null predictions since 14:02"


@pytest.fixture
async def stack(database_url: str, pd: PagerDutyStandIn) -> AsyncIterator[LocalStack]:
    async with LocalStack(database_url, settings_overrides=webhook_settings(
        pd, pd_secret=PD_SECRET, am_token=AM_TOKEN, iac_token=IAC_TOKEN)) as s:
        yield s


@pytest.fixture
def clean_log(caplog: pytest.LogCaptureFixture) -> Iterator[list[MutableMapping[str, Any]]]:
    """Fails the test if anything logged an error, an exception or a traceback."""
    caplog.set_level(logging.WARNING)
    with structlog.testing.capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        yield logs
    bad = failures(logs, caplog.records)
    assert not bad, "\n\n".join(bad[:3])


async def declared(stack: LocalStack) -> tuple[str, str]:
    """INC-1, declared and announced: its id and its channel."""
    assert (await stack.driver.slash_command(DECLARE))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.link is not None and view.link.channel_id
    return str(view.incident.id), view.link.channel_id


def click(stack: LocalStack, action_id: str, value: str, **extra: Any) -> dict[str, Any]:
    driver = stack.driver
    return {"type": "block_actions", "team": {"id": driver.team_id},
            "user": {"id": "U0RESPOND", "name": "bob", "team_id": driver.team_id},
            "trigger_id": driver._trigger_id("U0RESPOND"), "api_app_id": driver.api_app_id,
            "channel": {"id": "C0INCIDENT"}, "container": {"type": "message"},
            "actions": [{"action_id": action_id, "block_id": "a", "type": "button", "value": value}],
            **extra}


def submission(stack: LocalStack, callback_id: str, values: Any) -> dict[str, Any]:
    driver = stack.driver
    return {"type": "view_submission", "team": {"id": driver.team_id},
            "user": {"id": "U0DECLARER", "name": "alice", "team_id": driver.team_id},
            "trigger_id": driver._trigger_id("U0DECLARER"),
            "view": {"id": "V1", "type": "modal", "callback_id": callback_id,
                     "private_metadata": "{}", "state": {"values": values}}}


async def post_payload(stack: LocalStack, payload: Any) -> tuple[int, Any]:
    return await stack.driver.post(urlencode({"payload": json.dumps(payload)}), FORM)


# -- Slack ---------------------------------------------------------------------------------------

async def test_signed_slack_payloads_of_the_wrong_shape_get_a_400_with_the_reason(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    incident_id, channel = await declared(stack)
    user = {"id": "U0RESPOND", "team_id": stack.driver.team_id}
    no_trigger = click(stack, rendering.ACTION_NOTE, incident_id)
    del no_trigger["trigger_id"]
    home_no_trigger = click(stack, rendering.ACTION_HOME_DECLARE, "")
    del home_no_trigger["trigger_id"]
    message = stack.driver.envelope({"type": "message", "channel": channel, "user": "U0RESPOND",
                                     "text": 12345, "ts": "1700000000.000100"})
    severity_list = submission(stack, "declare_incident", {
        "title": {"title": {"type": "plain_text_input", "value": "Scores zero"}},
        "severity": {"severity": {"type": "plain_text_input", "value": ["P2"]}},
        "model": {"model": {"type": "plain_text_input", "value": "credit-risk-v3"}}})
    slash_json = {"command": "/incident", "text": "declare P2 credit-risk-v3 scores drift",
                  "user_id": None, "team_id": stack.driver.team_id, "channel_id": channel,
                  "response_url": stack.driver.url, "trigger_id": "1.2.3"}
    cases: list[tuple[str, str | bytes, str, str]] = [
        ("actions: []", urlencode({"payload": json.dumps(click(stack, rendering.ACTION_ACK, "x")
                                                          | {"actions": []})}), FORM, "actions"),
        ("add-note click without trigger_id", urlencode({"payload": json.dumps(no_trigger)}), FORM,
         "trigger_id"),
        ("home declare click without trigger_id", urlencode({"payload": json.dumps(home_no_trigger)}),
         FORM, "trigger_id"),
        ("a message whose text is a number", json.dumps(message), "application/json", "text"),
        ("state.values a list", urlencode({"payload": json.dumps(
            submission(stack, "declare_incident", []))}), FORM, "state.values"),
        ("a state block that is a string", urlencode({"payload": json.dumps(
            submission(stack, "declare_incident", {"title": "x"}))}), FORM, "state.values"),
        ("an input value that is a list", urlencode({"payload": json.dumps(severity_list)}), FORM,
         "value"),
        ("team.id a list", urlencode({"payload": json.dumps(
            click(stack, rendering.ACTION_ACK, incident_id) | {"team": {"id": ["T0STANDIN"]}})}),
         FORM, "team.id"),
        ("response_url that is no URL", urlencode({**slash_json, "user_id": "U0RESPOND",
                                                   "response_url": "null"}), FORM, "response_url"),
        ("a slash command without its user", json.dumps(slash_json), FORM, "user_id"),
        ("a lone surrogate", urlencode({"payload": json.dumps(
            click(stack, rendering.ACTION_ACK, incident_id) | {"user": {**user, "name": "\ud800"}})}),
         FORM, "valid text"),
        ("a NUL byte in a user id", urlencode({"payload": json.dumps(
            click(stack, rendering.ACTION_ACK, incident_id) | {"user": {**user, "id": "U\x00"}})}),
         FORM, "user.id"),
    ]
    for name, body, content_type, reason in cases:
        status, answer = await stack.driver.post(body, content_type)
        assert status == 400, (name, status, answer)
        assert reason in answer["error"], (name, answer)
    await stack.settle()
    assert [v.incident.number for v in await stack.container.service.list_incidents()] == [1]
    assert (await stack.container.service.view(IncidentRef(number=1))).incident.status is Status.OPEN
    assert await half_written(stack) == []


async def test_a_signed_body_that_is_not_an_object_gets_a_400(stack: LocalStack) -> None:
    for body, content_type in (("[1, 2]", "application/json"), ('"text"', "application/json"),
                               ("payload=[1]", FORM), ('{"authorizations": 5}', "application/json"),
                               ('{"team_id": "T1", "event": null}', "application/json")):
        status, answer = await stack.driver.post(body, content_type)
        assert status == 400, (body, status, answer)


async def test_an_add_note_click_on_no_incident_is_answered_not_failed(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    status, _ = await post_payload(stack, click(stack, rendering.ACTION_NOTE, "x" * 5000,
                                                response_url=stack.driver.url + "/nowhere"))
    assert status == 200
    await stack.settle()
    assert stack.slack.opened_views == []


async def test_a_declare_form_slack_will_not_open_is_a_warning_and_a_reply(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    trigger = stack.slack.issue_trigger_id("U0DECLARER")
    assert (await stack.driver.slash_command("declare", trigger_id=trigger))[0] == 200
    await stack.slack.wait_until(lambda: stack.slack.opened_views, 5)
    # the same trigger again (Slack's are single use, and expire after 3 s)
    assert (await stack.driver.slash_command("declare", trigger_id=trigger))[0] == 200
    await stack.slack.wait_until(lambda: stack.driver.responses, 5)
    assert len(stack.slack.opened_views) == 1
    assert "would not open the form" in stack.driver.responses[-1]["body"]["text"]
    assert any(e["event"] == "slack.views_open_refused" for e in clean_log)


async def test_a_channel_message_with_a_null_ts_is_still_a_note(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    _, channel = await declared(stack)
    event = {"type": "message", "channel": channel, "user": "U0RESPOND", "text": "rolled back",
             "ts": None}
    assert (await stack.driver.event(event))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert any(e.body == "rolled back" for e in view.timeline)


async def test_a_declared_form_whose_confirmation_cannot_be_sent_still_declares(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    form = submission(stack, "declare_incident", {
        "title": {"title": {"type": "plain_text_input", "value": "Scores zero"}},
        "severity": {"severity": {"type": "plain_text_input", "value": "P2"}},
        "model": {"model": {"type": "plain_text_input", "value": "credit-risk-v3"}}})
    form["user"]["id"] = "U0NOBODY"  # no such user: the DM confirmation is refused
    assert (await post_payload(stack, form))[0] == 200
    await stack.settle()
    [view] = await stack.container.service.list_incidents()
    assert view.incident.title == "Scores zero"
    assert any(e["event"] == "declare.confirmation_undeliverable" for e in clean_log)


async def test_nul_bytes_in_a_title_and_a_note_and_controls_in_a_name_are_stored_without_them(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    """Probe finding 19: PostgreSQL refused the NUL, and the text was lost. (A NUL in a user
    name or id is refused at the edge: Slack never sends one.)"""
    assert (await stack.driver.slash_command("declare P1 credit-risk-v3 Null\x00 predictions",
                                             user_name="ali\x07ce"))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    assert view.incident.title == "Null predictions"
    assert view.link is not None and view.link.channel_id
    assert (await stack.driver.user_says(view.link.channel_id, "U0RESPOND", "looking\x00 now"))[0] == 200
    await stack.settle()
    async with stack.container.engine.connect() as conn:
        bodies = (await conn.execute(sa.select(incident_timeline.c.body))).scalars().all()
        names = (await conn.execute(sa.select(audit_events.c.actor_name))).scalars().all()
    assert "looking now" in bodies
    assert "alice" in names and not any("\x07" in n for n in names)


# -- Alertmanager --------------------------------------------------------------------------------

AM = {"Authorization": f"Bearer {AM_TOKEN}"}


async def alertmanager(stack: LocalStack, body: Any) -> tuple[int, Any]:
    return await post_webhook(stack, "/webhooks/alertmanager", json.dumps(body).encode(), AM)


async def test_alertmanager_ha_duplicates_make_one_incident_and_all_get_a_2xx(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    group = webhooks.alert_group("firing")
    answers = await asyncio.gather(*(alertmanager(stack, group) for _ in range(4)))
    assert all(200 <= status < 300 for status, _ in answers), answers
    assert sum(status == 201 for status, _ in answers) == 1
    assert {body["incident"] for _, body in answers} == {"INC-1"}
    await stack.settle()
    assert len(await webhooks.incidents(stack)) == 1
    assert await half_written(stack) == []


@pytest.mark.parametrize("field", ["annotations", "commonLabels", "commonAnnotations", "labels"])
async def test_alertmanager_maps_of_the_wrong_type_get_a_400(
        stack: LocalStack, field: str, clean_log: list[MutableMapping[str, Any]]) -> None:
    group = webhooks.alert_group("firing")
    if field in ("annotations", "labels"):
        group["alerts"][0][field] = ["summary", "x"]
    else:
        group[field] = ["model", "fraud-detector"]
    status, body = await alertmanager(stack, group)
    assert status == 400 and field in body["error"], body
    assert await webhooks.incidents(stack) == []


async def test_alertmanager_null_annotations_and_a_nul_in_the_receiver_open_the_incident(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    group = webhooks.alert_group("firing")
    group["alerts"][0]["annotations"] = None
    group["receiver"] = "ops\x00-pager"
    status, body = await alertmanager(stack, group)
    assert status == 201, body
    await stack.settle()
    [incident] = await webhooks.incidents(stack)
    assert incident.created_by == "alertmanager"


async def test_alertmanager_a_long_group_key_still_records_each_alert(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    """Its timeline source_ref (255 characters) once held the whole group key."""
    group = webhooks.alert_group("firing")
    group["groupKey"] = "{}/{alertname=~\"" + "x" * 600 + "\"}:{}"
    assert (await alertmanager(stack, group))[0] == 201
    again = copy.deepcopy(group)
    again["alerts"][0]["fingerprint"] = "ffff0000"
    assert (await alertmanager(stack, again))[0] == 200
    assert (await alertmanager(stack, again))[0] == 200  # the same alert again: one note
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert sum("Alert firing" in e.body for e in view.timeline) == 2


# -- PagerDuty -----------------------------------------------------------------------------------

async def pagerduty(stack: LocalStack, body: Any) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    return await post_webhook(stack, "/webhooks/pagerduty", raw,
                              {"X-PagerDuty-Signature": sign(raw, PD_SECRET)})


@pytest.mark.parametrize(("where", "value", "reason"), [
    ("assignees", ["x"], "assignees"),
    ("assignees", "PJ0LVEB", "assignees"),
    ("priority", ["P1"], "priority"),
    ("service", "PA2P440", "service"),
    ("title", {"text": "x"}, "title"),
    ("id", "P\x00FQZPSY", "id"),
    ("id", "P" * 100, "id"),
])
async def test_pagerduty_fields_of_the_wrong_type_get_a_400(
        stack: LocalStack, where: str, value: Any, reason: str,
        clean_log: list[MutableMapping[str, Any]]) -> None:
    triggered = webhooks.pd_event("triggered", "E1", "2021-06-04T13:35:29.781Z")
    triggered["event"]["data"][where] = value
    status, body = await pagerduty(stack, triggered)
    assert status == 400 and reason in body["error"], body
    assert await webhooks.incidents(stack) == []


async def test_pagerduty_an_escalation_to_an_assignee_without_a_name_is_noted(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    assert (await pagerduty(stack, webhooks.pd_event("triggered", "E1",
                                                     "2021-06-04T13:35:29.781Z")))[0] == 201
    escalated = webhooks.pd_event("triggered", "E2", "2021-06-04T13:40:00Z")
    escalated["event"]["event_type"] = "incident.escalated"
    escalated["event"]["data"] = {"type": "incident", "id": "PFQZPSY",
                                  "assignees": [{"id": "PJ0LVEB", "summary": None}]}
    assert (await pagerduty(stack, escalated))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
    assert any("escalated to ?" in e.body for e in view.timeline)


# -- IaC -----------------------------------------------------------------------------------------

async def iac(stack: LocalStack, body: Any) -> tuple[int, Any]:
    return await post_webhook(stack, "/webhooks/iac?source=ci", json.dumps(body).encode(),
                              {"Authorization": f"Bearer {IAC_TOKEN}"})


def cloudformation() -> dict[str, Any]:
    name = "cfn_describe_stack_resource_drifts__awsdocs_detect_drift_stack_sqs_modified.json"
    return json.loads((webhooks.FIXTURES / "iac" / name).read_text())


def drifts(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from report["StackResourceDrifts"]


async def test_iac_a_report_with_a_field_of_the_wrong_type_gets_a_422(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    report = cloudformation()
    for drift in drifts(report):
        drift["PropertyDifferences"] = 7
    status, body = await iac(stack, report)
    assert status == 422 and "wrong shape" in body["error"], body


async def test_iac_a_report_with_nul_bytes_gets_a_400(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    report = cloudformation()
    for drift in drifts(report):
        drift["LogicalResourceId"] += "\x00"
    status, body = await iac(stack, report)
    assert status == 400 and "NUL" in body["error"], body


async def test_iac_a_huge_resource_address_is_still_announced(
        stack: LocalStack, clean_log: list[MutableMapping[str, Any]]) -> None:
    """Its message text was unbounded: Slack refused it (msg_too_long) and it was lost."""
    report = cloudformation()
    for drift in drifts(report):
        drift["LogicalResourceId"] = "Queue" + "x" * 50_000
    status, body = await iac(stack, report)
    assert status == 200 and body["new"] >= 1, body
    await stack.settle()
    assert any("IaC drift" in m.get("text", "") for m in stack.slack.top_level("ml-incidents"))
