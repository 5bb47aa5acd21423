"""The incidents API at seed 002's paths: each request is the same use case a Slack command
runs, as the API caller; problem+json errors; idempotent POSTs; OpenAPI from the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from bot.local.stack import LocalStack
from tests.databases import sqlite_url
from tests.integration.api_support import Api, add_key, api_stack, gather, require_redis

pytestmark = pytest.mark.asyncio
DECLARE = {"title": "Null predictions since 14:02", "severity": "p3", "model": "credit-risk-v3",
           "description": "3% of rows", "labels": ["Data-Quality"]}


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[LocalStack]:
    await require_redis()
    async with api_stack(database_url, cors_origins="https://dash.example.com") as s:
        yield s


@pytest.fixture
async def api(stack: LocalStack) -> AsyncIterator[Api]:
    client = Api(stack)
    yield client
    await client.close()


@pytest.fixture
async def key(stack: LocalStack) -> str:
    return await add_key(stack, "airflow", ["incidents:write", "models:write"])


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[tuple[Api, str]]:
    """SQLite only: for what the database plays no part in (headers, parsing, the document)."""
    await require_redis()
    async with api_stack(sqlite_url(tmp_path), cors_origins="https://dash.example.com") as s:
        client = Api(s)
        try:
            yield client, await add_key(s, "airflow", ["incidents:write"])
        finally:
            await client.close()


async def declare(api: Api, key: str, **changes: Any) -> dict[str, Any]:
    status, body, headers = await api.call("POST", "/incidents", key, json={**DECLARE, **changes})
    assert status == 201, body
    assert headers["Location"] == f"/incidents/{body['id']}"
    return dict(body)


async def test_declare_returns_the_incident_response_and_audits_the_api_actor(
        api: Api, key: str, stack: LocalStack) -> None:
    body = await declare(api, key)
    assert body["number"] == 1 and body["key"] == "INC-1" and body["status"] == "open"
    assert body["severity"] == "p3" and body["model"] == "credit-risk-v3"
    assert body["trigger_source"] == "manual" and body["labels"] == ["data-quality"]
    assert body["created_by"] == "key:airflow"
    assert set(body) >= {"id", "title", "model_id", "description", "assigned_to", "runbook_url",
                         "created_at", "updated_at", "resolved_at", "closed_at"}
    async with stack.container.uow_factory() as uow:
        audit = await uow.audit.list(body["id"])
    assert [(a.action, a.actor) for a in audit][:1] == [("incident.created", "key:airflow")]


async def test_get_by_number_or_uuid_with_timeline(api: Api, key: str) -> None:
    made = await declare(api, key)
    for ref in ("1", made["id"], "INC-1"):
        status, body, _ = await api.call("GET", f"/incidents/{ref}", key)
        assert status == 200 and body["id"] == made["id"]
    assert body["timeline"][0]["event_type"] == "status_change"
    assert body["allowed_verbs"] == ["ack", "mitigate", "resolve"]
    status, body, _ = await api.call("GET", "/incidents/99", key)
    assert status == 404 and body["title"] == "Not Found"


async def test_patch_moves_status_by_verb_and_refuses_illegal_moves_naming_the_allowed(
        api: Api, key: str) -> None:
    await declare(api, key)
    status, body, _ = await api.call("PATCH", "/incidents/1", key,
                                     json={"status": "resolve", "reason": "rolled back"})
    assert status == 200 and body["incident"]["status"] == "resolved"
    assert body["incident"]["resolved_at"] is not None
    status, body, _ = await api.call("PATCH", "/incidents/1", key,
                                     json={"status": "mitigate", "severity": "p4"})
    assert status == 409 and body["allowed_verbs"] == ["reopen", "close"]
    assert "cannot move to mitigated" in body["detail"]
    _, incident, _ = await api.call("GET", "/incidents/1", key)
    assert incident["severity"] == "p3"  # nothing of a refused PATCH is applied


async def test_patch_severity_and_commander(api: Api, key: str) -> None:
    await declare(api, key)
    status, body, _ = await api.call("PATCH", "/incidents/1", key,
                                     json={"severity": "p4", "commander": "U0RESPOND"})
    assert status == 200, body
    assert body["incident"]["severity"] == "p4" and body["incident"]["assigned_to"] == "U0RESPOND"
    status, body, _ = await api.call("PATCH", "/incidents/1", key, json={"commander": "bob"})
    assert status == 422 and body["errors"][0]["loc"] == ["commander"]


async def test_notes_and_delete_refused(api: Api, key: str) -> None:
    await declare(api, key)
    status, body, _ = await api.call("POST", "/incidents/1/notes", key,
                                     json={"body": "feature store fixed"})
    assert status == 201 and body["message"] == "Noted on INC-1."
    _, detail, _ = await api.call("GET", "/incidents/1", key)
    assert [e["body"] for e in detail["timeline"]][-1] == "feature store fixed"
    status, body, headers = await api.call("DELETE", "/incidents/1", key)
    assert status == 405 and "GOV-001" in body["detail"] and "close" in body["detail"]
    assert "PATCH" in headers["Allow"]


async def test_list_filters_and_cursor_pages(api: Api, key: str) -> None:
    for i, (severity, model) in enumerate([("p3", "credit-risk-v3"), ("p4", "fraud-detector"),
                                           ("p3", "fraud-detector"), ("p4", "credit-risk-v3")]):
        await declare(api, key, title=f"incident {i}", severity=severity, model=model)
    await api.call("PATCH", "/incidents/2", key, json={"status": "resolve"})
    status, page, _ = await api.call("GET", "/incidents?limit=3", key)
    assert [i["number"] for i in page["items"]] == [4, 3, 2] and page["next_cursor"]
    _, rest, _ = await api.call("GET", f"/incidents?limit=3&cursor={page['next_cursor']}", key)
    assert [i["number"] for i in rest["items"]] == [1] and rest["next_cursor"] is None
    _, found, _ = await api.call("GET", "/incidents?severity=p4&status=open", key)
    assert [i["number"] for i in found["items"]] == [4]
    _, found, _ = await api.call("GET", "/incidents?model=fraud-detector", key)
    assert [i["number"] for i in found["items"]] == [3, 2]
    _, found, _ = await api.call("GET", "/incidents?since=2999-01-01T00:00:00Z", key)
    assert found["items"] == []
    status, body, _ = await api.call("GET", "/incidents?status=sleeping", key)
    assert status == 400 and body["title"] == "Bad query"


async def test_a_retried_declare_makes_one_incident_also_when_concurrent(
        api: Api, key: str) -> None:
    headers = {"Idempotency-Key": "deploy-4711"}
    results = await gather(*(api.call("POST", "/incidents", key, json=DECLARE, headers=headers)
                             for _ in range(3)))
    assert {r[0] for r in results} == {201}
    assert len({r[1]["id"] for r in results}) == 1
    status, body, replay_headers = await api.call("POST", "/incidents", key, json=DECLARE,
                                                  headers=headers)
    assert status == 201 and replay_headers.get("Idempotent-Replayed") == "true"
    _, page, _ = await api.call("GET", "/incidents", key)
    assert len(page["items"]) == 1
    status, body, _ = await api.call("POST", "/incidents", key, json={**DECLARE, "title": "other"},
                                     headers=headers)
    assert status == 422 and "different request" in body["detail"]


async def test_models_can_be_listed_and_registered(api: Api, key: str) -> None:
    status, body, _ = await api.call("POST", "/models", key, json={
        "name": "churn-v2", "version": "2.0.1", "stage": "staging", "team": "growth"})
    assert status == 201 and body["stage"] == "staging"
    status, body, _ = await api.call("GET", "/models", key)
    assert "churn-v2" in [m["name"] for m in body["items"]]
    status, body, _ = await api.call("POST", "/incidents", key, json={**DECLARE, "model": "nope"})
    assert status == 422 and "Unknown model nope" in body["detail"]


async def test_responses_carry_security_headers_and_cors_for_allowed_origins(
        lite: tuple[Api, str]) -> None:
    api, key = lite
    origin = {"Origin": "https://dash.example.com"}
    _, _, headers = await api.call("GET", "/incidents", key, headers=origin)
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    status, _, headers = await api.call("OPTIONS", "/incidents", headers={
        **origin, "Access-Control-Request-Method": "POST"})
    assert status == 204 and "POST" in headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in headers["Access-Control-Allow-Headers"]
    _, _, headers = await api.call("GET", "/incidents", key, headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in headers


async def test_a_bad_body_is_a_problem_document(lite: tuple[Api, str]) -> None:
    api, key = lite
    status, body, _ = await api.call("POST", "/incidents", key,
                                     json={**DECLARE, "model": "credit-risk-v3\u0000"})
    assert status == 422 and body["errors"][0]["loc"] == ["model"]  # never reaches SQL
    status, body, headers = await api.call("POST", "/incidents", key,
                                           json={**DECLARE, "severity": "p9", "extra": 1})
    assert status == 422 and headers["Content-Type"].startswith("application/problem+json")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("severity",), ("extra",)}


async def test_openapi_document_is_valid_openapi_3_1(lite: tuple[Api, str]) -> None:
    api, _ = lite
    status, spec, _ = await api.call("GET", "/openapi.json")
    assert status == 200 and spec["openapi"] == "3.1.0"
    validate(spec)
    assert {"/auth/token", "/auth/refresh", "/auth/logout", "/incidents", "/incidents/{incident}",
            "/incidents/{incident}/notes", "/models"} <= set(spec["paths"])
    assert "IncidentResponse" in spec["components"]["schemas"]


async def test_raci_gates_apply_to_api_callers(database_url: str) -> None:
    """GOV-001: only an Incident Commander or ML Platform SRE declares a SEV-1/2, over the API
    as in Slack; the refusal is a 403 naming the roles, and it is audited."""
    from domain.governance.roles import Activity, decide
    from tests.integration.api_support import add_user

    await require_redis()
    async with api_stack(database_url, governance_mode="enforce",
                         governance_roles={"incident_commander": ["U0LEAD"]}) as s:
        await add_user(s, "eve", "engineer pass", ["ml_engineer"])
        await add_user(s, "carol", "commander pass", ["incident_commander"])
        api = Api(s)
        try:
            eve = (await api.login("eve", "engineer pass"))["access_token"]
            status, body, _ = await api.call("POST", "/incidents", eve,
                                             json={**DECLARE, "severity": "p1"})
            refusal = decide(Activity.DECLARE_HIGH_SEVERITY, frozenset()).refusal_text()
            assert status == 403 and refusal in body["detail"]
            assert (await api.call("POST", "/incidents", eve, json=DECLARE))[0] == 201  # SEV-3
            carol = (await api.login("carol", "commander pass"))["access_token"]
            assert (await api.call("POST", "/incidents", carol,
                                   json={**DECLARE, "severity": "p1"}))[0] == 201
            bot_key = await add_key(s, "ci", ["incidents:write"])
            status, _, _ = await api.call("PATCH", "/incidents/1", bot_key,
                                          json={"severity": "p2"})
            assert status == 403
            async with s.container.uow_factory() as uow:
                denied = [a for a in await uow.audit.list() if a.action == "access.denied"]
            assert {a.actor for a in denied} == {"api:eve", "key:ci"}
        finally:
            await api.close()


async def test_a_submitted_drift_assessment_follows_the_drift_rules(
        api: Api, stack: LocalStack) -> None:
    """PSI over the critical threshold on a revenue-critical model opens a drift incident, as
    the bot's own drift job would; a second one feeds it; a calm one opens nothing."""
    key = await add_key(stack, "feature-store", ["drift:write"])
    window = {"reference_window_start": "2026-11-01T00:00:00Z",
              "reference_window_end": "2026-11-08T00:00:00Z",
              "evaluation_window_start": "2026-11-21T00:00:00Z",
              "evaluation_window_end": "2026-11-22T00:00:00Z"}
    drifted = {"model": "credit-risk-v3", "assessed_at": "2026-11-22T00:00:00Z",
               "psi_composite": 0.31, "ks_p_value": 0.001,
               "feature_scores": {"income": 0.42, "age": 0.05}, **window}
    status, body, _ = await api.call("POST", "/drift/assessments", key, json=drifted)
    assert status == 201, body
    assert body["drift_detected"] and body["incident"]["trigger_source"] == "automated_drift"
    first = body["incident"]["number"]
    status, body, _ = await api.call("POST", "/drift/assessments", key, json=drifted)
    assert status == 201 and body["incident"]["number"] == first  # fed, not a second one
    status, body, _ = await api.call("POST", "/drift/assessments", key, json={
        **drifted, "model": "fraud-detector", "psi_composite": 0.02, "ks_p_value": 0.6})
    assert status == 201 and body["incident"] is None and body["drift_detected"] is False
    status, _, _ = await api.call("POST", "/incidents", key, json=DECLARE)
    assert status == 403  # drift:write is not incidents:write


async def test_a_refused_idempotent_request_answers_the_same_refusal_when_retried(
        api: Api, key: str) -> None:
    headers = {"Idempotency-Key": "typo-1"}
    bad = {**DECLARE, "model": "no-such-model"}
    first = await api.call("POST", "/incidents", key, json=bad, headers=headers)
    again = await api.call("POST", "/incidents", key, json=bad, headers=headers)
    assert first[0] == again[0] == 422 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert again[2]["Content-Type"].startswith("application/problem+json")


async def test_a_declare_cut_off_before_its_answer_is_found_by_the_retry(
        api: Api, key: str, stack: LocalStack) -> None:
    """The process died after the declaration committed but before the answer was stored:
    the retry (once the claim is stale) answers that incident instead of declaring another."""
    import hashlib
    import json
    from datetime import timedelta

    from storage.api_repositories import record_idempotent_resource
    from tests.integration.api_support import store

    made = await declare(api, key)  # the incident the lost request committed
    raw = json.dumps(DECLARE).encode()
    digest = hashlib.sha256(b"POST /incidents\n" + raw).hexdigest()
    long_ago = stack.container.clock.now() - timedelta(minutes=5)
    assert await store(stack).claim_idempotency("key:airflow", "lost-1", digest, long_ago) is None
    async with stack.container.engine.begin() as conn:
        await record_idempotent_resource(conn, "key:airflow", "lost-1", made["id"])
    status, body, _ = await api.call("POST", "/incidents", key, raw=raw,
                                     headers={"Idempotency-Key": "lost-1",
                                              "Content-Type": "application/json"})
    assert status == 201 and body["id"] == made["id"]
    _, page, _ = await api.call("GET", "/incidents", key)
    assert len(page["items"]) == 1
