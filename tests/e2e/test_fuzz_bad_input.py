"""Never a 5xx for bad input (issue 14, item 4): a property-based fuzz with valid signatures and
tokens over every HTTP endpoint of ``incident-bot serve``.

Real Slack-, PagerDuty-, Alertmanager- and IaC-shaped bodies are taken apart by hypothesis (keys
deleted, values nulled, emptied, replaced by junk, wrapped in arrays, turned into strings, made
huge, given invalid UTF-8 or raw NUL bytes) and sent, correctly signed, to the real server
(:class:`LocalStack`). Every answer must be a 2xx or a 4xx with a reason, no log line may carry
a traceback or a listener failure, and every incident in the database must be whole.

One stack per test (hypothesis runs in a worker thread and posts through the stack's loop), a
bounded number of examples (``FUZZ_SCALE=10`` runs ten times as many), SQLite only
(``FUZZ_POSTGRES=1`` runs it on a fresh PostgreSQL database instead); the concrete
bugs it found have regression tests of their own, on both databases, in
``test_bad_input_regressions.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
from collections.abc import Callable, Coroutine, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import sqlalchemy as sa
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.local.stack import LocalStack
from bot.slack_ui import incident as rendering
from domain.services import IncidentRef
from storage.tables import audit_events, incident_timeline, incidents
from tests.databases import create_pg_database, drop_pg_database, sqlite_url
from tests.e2e import test_pagerduty_and_alertmanager as webhooks
from tests.e2e.conftest import webhook_settings
from tests.standins.pagerduty import PagerDutyStandIn, sign

FIXTURES = webhooks.FIXTURES
AM_TOKEN, IAC_TOKEN, PD_SECRET = webhooks.AM_TOKEN, "iac-token", webhooks.SECRET
pd = webhooks.pd  # the PagerDuty stand-in fixture

Result = tuple[int, Any]
# the server runs on the test's loop while hypothesis draws in its worker thread: its own use of
# `random` (delivery backoff jitter) shows up as "random used inside a strategy"; it is not
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

# markers swapped for raw bytes after encoding: invalid UTF-8 and a raw NUL byte
BAD_UTF8, RAW_NUL = "\ue000", "\ue001"

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**25, max_value=10**40),
    st.floats(), st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "nul\x00byte", "\ud800", "\u202e<!channel>", "x" * 70_000,
                     "9" * 5000, "P1", "U0RESPOND", "00000000-0000-0000-0000-000000000000",
                     f"a{BAD_UTF8}b", f"a{RAW_NUL}b"]),
)
JUNK = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=6,
)
OPS = ["delete", "junk", "null", "empty", "wrap", "stringify", "huge", "bad_utf8", "nul"]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _mutate(value: Any, op: str, junk: Any) -> Any:
    if op == "junk":
        return junk
    if op == "null":
        return None
    if op == "empty":
        return type(value)() if isinstance(value, (dict, list, str)) else ""
    if op == "wrap":
        return [value]
    if op == "stringify":
        return value + "\x00" if isinstance(value, str) else json.dumps(value)
    if op == "huge":
        return ("x" * 200_000) if isinstance(value, str) else 10**30
    if op == "bad_utf8":
        return f"{value}{BAD_UTF8}" if isinstance(value, str) else BAD_UTF8
    return f"{value}{RAW_NUL}" if isinstance(value, str) else RAW_NUL  # "nul"


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """``template`` with one to three of its parts broken; now and then replaced whole."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JUNK)
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(OPS))
        if op == "delete":
            del parent[key]
        else:
            parent[key] = _mutate(parent[key], op, draw(JUNK) if op == "junk" else None)
    return doc


def as_json(doc: Any) -> bytes:
    raw = json.dumps(doc).encode()
    return raw.replace(b"\\ue000", b"\xff\xfe").replace(b"\\ue001", b"\x00")


def as_form(fields: Any) -> bytes:
    if not isinstance(fields, dict):
        fields = {"payload": fields} if fields is not None else {}
    raw = urlencode({str(k): v if isinstance(v, str) else json.dumps(v)
                     for k, v in fields.items()}).encode()
    return raw.replace(b"%EE%80%80", b"%FF%FE").replace(b"%EE%80%81", b"%00")


def as_payload_form(payload: Any) -> bytes:
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    return raw.replace(b"%5Cue000", b"%FF%FE").replace(b"%5Cue001", b"%00")


# -- what counts as a failure ------------------------------------------------------------------

FAILURE_WORDS = ("Traceback", "listener_failed")


def failures(structlog_lines: list[MutableMapping[str, Any]], records: list[logging.LogRecord]) -> list[str]:
    """Errors, logged exceptions (``exc_info``, a rendered ``exception``) and tracebacks."""
    bad = [str(e)[-1500:] for e in structlog_lines
           if e.get("log_level") in ("error", "critical") or "exc_info" in e or "exception" in e
           or any(w in str(e) for w in FAILURE_WORDS)]
    # Bolt's own ERROR line for a refused workspace carries no traceback: that refusal is meant
    bad += [f"{r.name}: {r.getMessage()[:300]}" for r in records
            if r.exc_info or any(w in r.getMessage() for w in FAILURE_WORDS)]
    return bad


async def half_written(stack: LocalStack) -> list[str]:
    """Incidents without their creation timeline event or audit row."""
    async with stack.container.engine.connect() as conn:
        rows = (await conn.execute(sa.select(incidents.c.id, incidents.c.number))).all()
        problems = []
        for incident_id, number in rows:
            timeline = (await conn.execute(sa.select(sa.func.count()).select_from(incident_timeline)
                                           .where(incident_timeline.c.incident_id == incident_id))).scalar()
            audited = (await conn.execute(sa.select(sa.func.count()).select_from(audit_events)
                                          .where(audit_events.c.resource_id == str(incident_id)))).scalar()
            if not timeline or not audited:
                problems.append(f"INC-{number}: {timeline} timeline events, {audited} audit rows")
            await stack.container.service.view(IncidentRef(incident_id=incident_id), with_timeline=True)
    return problems


async def fuzz(stack: LocalStack, cases: st.SearchStrategy[Any],
               send: Callable[[Any], Coroutine[Any, Any, Result]], caplog: pytest.LogCaptureFixture,
               examples: int = 60) -> list[Result]:
    """Run hypothesis in a worker thread; each example is posted on the stack's own loop."""
    loop = asyncio.get_running_loop()
    answers: list[Result] = []

    @settings(FUZZ, max_examples=examples * int(os.environ.get("FUZZ_SCALE", "1")))
    @given(cases)
    def one(case: Any) -> None:
        status, body = asyncio.run_coroutine_threadsafe(send(case), loop).result(timeout=60)
        answers.append((status, body))
        assert status < 500, (status, body, str(case)[:2000])
        if status >= 400:
            assert body, ("a 4xx without a reason", status, str(case)[:2000])

    caplog.set_level(logging.WARNING)
    # format_exc_info: a logged exception is kept as its rendered traceback, to show what failed
    with structlog.testing.capture_logs(processors=[structlog.processors.format_exc_info]) as logs:
        await asyncio.to_thread(one)
        with contextlib.suppress(AssertionError):  # junk may leave a delivery retrying:
            await stack.settle(timeout=20)  # what matters is the log and the data
        await asyncio.sleep(0.2)
    bad = failures(logs, caplog.records)
    assert not bad, "\n\n".join(bad[:3])
    assert await half_written(stack) == []
    assert answers
    return answers


def outcome_table(name: str, answers: list[Result]) -> None:
    counts: dict[int, int] = {}
    for status, _ in answers:
        counts[status] = counts.get(status, 0) + 1
    print(f"\n{name}: {len(answers)} requests, statuses {dict(sorted(counts.items()))}")


@pytest.fixture
async def fuzz_url(tmp_path: Path) -> Any:
    if os.environ.get("FUZZ_POSTGRES") != "1":
        yield sqlite_url(tmp_path)
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


# -- Slack -------------------------------------------------------------------------------------

async def slack_templates(stack: LocalStack) -> list[tuple[str, Any]]:
    """(encoding, body) pairs shaped exactly as Slack sends them, aimed at real listeners."""
    driver = stack.driver
    assert (await driver.slash_command("declare P1 credit-risk-v3 Null predictions"))[0] == 200
    await stack.settle()
    view = await stack.container.service.view(IncidentRef(number=1))
    incident_id = str(view.incident.id)
    channel = view.link.channel_id if view.link else "C0NONE"
    incidents_channel = stack.slack.channel_id("ml-incidents")
    user = {"id": "U0RESPOND", "username": "bob", "name": "bob", "team_id": driver.team_id}
    team = {"id": driver.team_id, "domain": driver.team_domain}
    response_url = await driver._response_url(channel_id=incidents_channel, user_id="U0RESPOND")
    trigger = TRIGGER  # a fresh one per request (Slack's are single use), see fresh_triggers

    def click(action_id: str, value: str) -> dict[str, Any]:
        return {"type": "block_actions", "user": user, "api_app_id": driver.api_app_id,
                "token": driver.verification_token, "trigger_id": trigger, "team": team,
                "container": {"type": "message", "message_ts": "1.000", "channel_id": incidents_channel},
                "channel": {"id": incidents_channel, "name": "ml-incidents"},
                "message": {"type": "message", "ts": "1.000", "text": "", "blocks": []},
                "state": {"values": {}}, "response_url": response_url,
                "actions": [{"action_id": action_id, "block_id": "actions", "type": "button",
                             "value": value, "action_ts": "1.0"}]}

    def modal(callback_id: str, values: dict[str, Any], metadata: dict[str, Any],
              kind: str = "view_submission") -> dict[str, Any]:
        state = {block: {block: {"type": "plain_text_input", "value": value}}
                 for block, value in values.items()}
        return {"type": kind, "team": team, "user": user, "api_app_id": driver.api_app_id,
                "token": driver.verification_token, "trigger_id": trigger,
                "view": {"id": "V0FUZZ", "type": "modal", "callback_id": callback_id,
                         "private_metadata": json.dumps(metadata), "blocks": [],
                         "state": {"values": state}, "hash": "1.x", "title": {"type": "plain_text",
                                                                              "text": "x"}},
                "response_urls": []}

    def event(inner: dict[str, Any]) -> dict[str, Any]:
        return {"token": driver.verification_token, "team_id": driver.team_id,
                "api_app_id": driver.api_app_id, "event": inner, "type": "event_callback",
                "event_id": "Ev0FUZZ", "event_time": 1700000000,
                "authorizations": [{"team_id": driver.team_id, "user_id": "U0BOT", "is_bot": True}]}

    slash = {"token": driver.verification_token, "team_id": driver.team_id,
             "team_domain": driver.team_domain, "channel_id": channel, "channel_name": "inc",
             "user_id": "U0RESPOND", "user_name": "bob", "command": "/incident",
             "text": "note looking at the feature store", "api_app_id": driver.api_app_id,
             "response_url": response_url, "trigger_id": trigger}
    clicks = [click(a, incident_id) for a in (*(
        rendering.ACTION_ACK, rendering.ACTION_MITIGATE, rendering.ACTION_RESOLVE,
        rendering.ACTION_REOPEN, rendering.ACTION_NOTE, rendering.ACTION_HOME_DECLARE),
        "iac_revert", "iac_codify", "iac_accept", "iac_escalate",
        "incident_take_role", "incident_snooze_update_15m")]  # issue 19: role menu, reminder snooze
    message = {"type": "message", "channel": channel, "user": "U0RESPOND", "text": "a note",
               "ts": "1700000000.000100", "event_ts": "1700000000.000100", "channel_type": "channel"}
    return [
        ("form", slash),
        ("form", {**slash, "text": "declare P2 credit-risk-v3 scores drift"}),
        ("form", {**slash, "text": "declare"}),
        *[("payload", c) for c in clicks],
        ("payload", modal("declare_incident", {"title": "Scores all zero", "severity": "P2",
                                               "model": "credit-risk-v3", "description": "d",
                                               "labels": "a,b"}, {"channel_id": channel})),
        ("payload", modal("add_note", {"note": "a note"}, {"incident_id": incident_id})),
        ("payload", modal("iac_accept_exception", {"reason": "ok", "expires": "2030-01-01"},
                          {"event_id": incident_id})),
        ("payload", modal("declare_incident", {}, {}, kind="view_closed")),
        ("payload", {"type": "shortcut", "callback_id": "declare", "trigger_id": trigger,
                     "user": user, "team": team, "token": driver.verification_token}),
        *[("payload", {"type": "message_action", "callback_id": callback, "trigger_id": trigger,
                       "user": user, "team": team, "channel": {"id": channel},
                       "message": message, "response_url": response_url})
          for callback in ("add_to_timeline", "declare_from_message")],
        ("json", event(message)),
        ("json", event({**message, "thread_ts": "1.000"})),
        ("json", event({"type": "app_mention", "user": "U0RESPOND", "text": "<@U0BOT> hi",
                        "channel": channel, "ts": "1700000000.000200"})),
        ("json", event({"type": "app_home_opened", "user": "U0RESPOND", "tab": "home",
                        "channel": "D0HOME"})),
        # key notes, edits and deletions (issue 19 items 3, 4)
        ("json", event({"type": "reaction_added", "user": "U0DECLARER", "reaction": "pushpin",
                        "item_user": "U0RESPOND", "event_ts": "1700000000.000300",
                        "item": {"type": "message", "channel": channel, "ts": message["ts"]}})),
        ("json", event({"type": "pin_added", "user": "U0DECLARER", "channel_id": channel,
                        "event_ts": "1700000000.000400",
                        "item": {"type": "message", "channel": channel, "message": message}})),
        ("json", event({"type": "message", "subtype": "message_changed", "hidden": True,
                        "channel": channel, "ts": "1700000000.000500",
                        "message": {**message, "text": "an edited note",
                                    "edited": {"user": "U0RESPOND", "ts": "1700000000.000500"}},
                        "previous_message": message})),
        ("json", event({"type": "message", "subtype": "message_deleted", "hidden": True,
                        "channel": channel, "ts": "1700000000.000600",
                        "deleted_ts": message["ts"], "previous_message": message})),
        ("json", {"type": "url_verification", "token": driver.verification_token,
                  "challenge": "abc"}),
    ]


TRIGGER = "TRIGGER-PLACEHOLDER"


def fresh_triggers(doc: Any, stack: LocalStack) -> Any:
    """The template's trigger ids, each replaced by a new one the stand-in will accept once."""
    if doc == TRIGGER:
        return stack.driver._trigger_id("U0RESPOND")
    if isinstance(doc, dict):
        return {k: fresh_triggers(v, stack) for k, v in doc.items()}
    if isinstance(doc, list):
        return [fresh_triggers(v, stack) for v in doc]
    return doc


async def test_fuzzed_slack_payloads_with_valid_signatures_never_get_a_5xx(
        fuzz_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with LocalStack(fuzz_url) as stack:
        templates = await slack_templates(stack)
        encoders = {"form": (as_form, "application/x-www-form-urlencoded"),
                    "payload": (as_payload_form, "application/x-www-form-urlencoded"),
                    "json": (as_json, "application/json")}
        cases = st.sampled_from(templates).flatmap(
            lambda t: st.tuples(st.just(t[0]), mutated(t[1]), st.booleans()))

        async def send(case: tuple[str, Any, bool]) -> Result:
            encoding, doc, other_content_type = case
            doc = fresh_triggers(doc, stack)
            encode, content_type = encoders[encoding]
            if other_content_type and encoding != "json":  # the body and its label disagree
                encode = as_json
            return await stack.driver.post(encode(doc), content_type)

        answers = await fuzz(stack, cases, send, caplog, examples=200)
        outcome_table("/slack/events", answers)


# -- webhooks ----------------------------------------------------------------------------------

async def post_webhook(stack: LocalStack, path: str, raw: bytes, headers: dict[str, str]) -> Result:
    async with (
        aiohttp.ClientSession() as http,
        http.post(stack.url + path, data=raw,
                  headers={"Content-Type": "application/json", **headers}) as resp,
    ):
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


@pytest.fixture
async def webhook_stack(fuzz_url: str, pd: PagerDutyStandIn) -> Any:
    async with LocalStack(fuzz_url, settings_overrides=webhook_settings(
        pd, pd_secret=PD_SECRET, am_token=AM_TOKEN, iac_token=IAC_TOKEN)) as s:
        yield s


async def test_fuzzed_pagerduty_webhooks_never_get_a_5xx(
        webhook_stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    stack = webhook_stack
    triggered = webhooks.pd_event("triggered", "E0", "2021-06-04T13:35:29.781Z")
    raw = json.dumps(triggered).encode()
    assert (await post_webhook(stack, "/webhooks/pagerduty", raw,
                               {"X-PagerDuty-Signature": sign(raw, PD_SECRET)}))[0] == 201
    templates = [triggered]
    for name in ("acknowledged", "resolved"):
        templates.append(webhooks.pd_event(name, f"E-{name}", "2021-06-04T13:40:00Z"))
    for kind, extra in (("incident.annotated", {"content": "a note"}),
                        ("incident.escalated", {"assignees": [{"id": "PJ0LVEB", "summary": "Carol"}]}),
                        ("incident.priority_updated", {"priority": {"summary": "P1"},
                                                       "urgency": "high"})):
        body = copy.deepcopy(triggered)
        body["event"]["event_type"] = kind
        body["event"]["data"] = {"type": "incident", "id": "PFQZPSY", **extra} if kind != (
            "incident.annotated") else {"type": "incident_note", "incident": {"id": "PFQZPSY"}, **extra}
        templates.append(body)
    fresh = copy.deepcopy(triggered)  # a new PagerDuty incident: a declaration each time
    fresh["event"]["data"]["id"] = "PNEW"
    templates.append(fresh)

    async def send(doc: Any) -> Result:
        if isinstance(doc, dict) and isinstance(doc.get("event"), dict) and isinstance(
                doc["event"].get("data"), dict) and doc["event"]["data"].get("id") == "PNEW":
            doc["event"]["data"]["id"] = f"PNEW{id(doc)}"
        raw = as_json(doc)
        return await post_webhook(stack, "/webhooks/pagerduty", raw,
                                  {"X-PagerDuty-Signature": sign(raw, PD_SECRET)})

    answers = await fuzz(stack, st.sampled_from(templates).flatmap(mutated), send, caplog)
    outcome_table("/webhooks/pagerduty", answers)


async def test_fuzzed_alertmanager_webhooks_never_get_a_5xx(
        webhook_stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    stack = webhook_stack
    auth = {"Authorization": f"Bearer {AM_TOKEN}"}
    firing = webhooks.alert_group("firing")
    assert (await post_webhook(stack, "/webhooks/alertmanager", json.dumps(firing).encode(),
                               auth))[0] == 201
    fresh = copy.deepcopy(firing)
    fresh["groupKey"] = "NEW"

    async def send(doc: Any) -> Result:
        if isinstance(doc, dict) and doc.get("groupKey") == "NEW":
            doc["groupKey"] = f"NEW{id(doc)}"
        return await post_webhook(stack, "/webhooks/alertmanager", as_json(doc), auth)

    templates = [firing, webhooks.alert_group("resolved"), fresh]
    answers = await fuzz(stack, st.sampled_from(templates).flatmap(mutated), send, caplog)
    outcome_table("/webhooks/alertmanager", answers)


async def test_fuzzed_iac_reports_never_get_a_5xx(
        webhook_stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    stack = webhook_stack
    auth = {"Authorization": f"Bearer {IAC_TOKEN}"}
    names = ["terraform_show_json_drift.json", "driftctl_scan_output_v0.38plus.json",
             "cfn_describe_stack_resource_drifts__awsdocs_detect_drift_stack_sqs_modified.json"]
    templates = [json.loads((FIXTURES / "iac" / n).read_text()) for n in names]

    async def send(doc: Any) -> Result:
        return await post_webhook(stack, "/webhooks/iac?source=fuzz", as_json(doc), auth)

    answers = await fuzz(stack, st.sampled_from(templates).flatmap(mutated), send, caplog, examples=40)
    outcome_table("/webhooks/iac", answers)

