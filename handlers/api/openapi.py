"""``/openapi.json``: an OpenAPI 3.1 document generated from the pydantic models the handlers
validate and answer with, so the published contract cannot drift from the code."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from handlers.api import schemas as s
from handlers.api.http import ApiContext, endpoint

REF = "#/components/schemas/{model}"
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=model.__name__)}}}}


def _ok(model: type[BaseModel], status: str = "200", description: str = "OK") -> dict[str, Any]:
    return {status: {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=model.__name__)}}}}}


def _problems(*statuses: int) -> dict[str, Any]:
    content = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    names = {400: "Bad request", 401: "Not authenticated (missing, bad, expired, revoked token; "
             "denylist unreachable)", 403: "Missing scope or RACI role", 404: "Not found",
             405: "Method refused", 409: "Illegal state change", 422: "Invalid body",
             429: "Too many login attempts", 503: "Unavailable"}
    return {str(code): {"description": names[code], "content": content} for code in statuses}


IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "maxLength": 255},
               "description": "a retried POST with the same key answers the first one's result"}
INCIDENT = {"name": "incident", "in": "path", "required": True,
            "schema": {"type": "string"}, "description": "the incident's UUID or number"}


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
            "description": description}


def document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        s.TokenRequest, s.TokenResponse, s.RefreshRequest, s.LogoutRequest, s.LogoutResponse,
        s.IncidentCreate, s.IncidentResponse, s.IncidentDetail, s.IncidentPage, s.IncidentPatch,
        s.PatchResult, s.NoteCreate, s.NoteResponse, s.ModelCreate, s.ModelResponse,
        s.ModelList, s.DriftAssessmentCreate, s.DriftAssessmentResult, s.Problem]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    auth = {"security": BEARER}
    paths: dict[str, Any] = {
        "/auth/token": {"post": {"summary": "Log in (password grant)", "requestBody": _body(
            s.TokenRequest), "responses": {**_ok(s.TokenResponse), **_problems(401, 422, 429)}}},
        "/auth/refresh": {"post": {"summary": "Rotate a refresh token", "requestBody": _body(
            s.RefreshRequest), "responses": {**_ok(s.TokenResponse), **_problems(401, 422)}}},
        "/auth/logout": {"post": {"summary": "Revoke the access token (and refresh family)",
                                  **auth, "requestBody": _body(s.LogoutRequest),
                                  "responses": {**_ok(s.LogoutResponse), **_problems(401, 503)}}},
        "/incidents": {
            "post": {"summary": "Declare an incident", **auth, "parameters": [IDEMPOTENCY],
                     "requestBody": _body(s.IncidentCreate),
                     "responses": {**_ok(s.IncidentResponse, "201", "Declared"),
                                   **_problems(401, 403, 422)}},
            "get": {"summary": "List incidents, newest first", **auth, "parameters": [
                _query("status", "comma-separated statuses"),
                _query("severity", "comma-separated p1-p4"), _query("model", "model name"),
                _query("since", "ISO 8601 time with zone"), _query("limit", "1-200"),
                _query("cursor", "next_cursor of the previous page")],
                    "responses": {**_ok(s.IncidentPage), **_problems(400, 401, 403)}}},
        "/incidents/{incident}": {
            "parameters": [INCIDENT],
            "get": {"summary": "One incident with its timeline", **auth,
                    "responses": {**_ok(s.IncidentDetail), **_problems(401, 403, 404)}},
            "patch": {"summary": "Change status (by verb), severity, commander", **auth,
                      "requestBody": _body(s.IncidentPatch),
                      "responses": {**_ok(s.PatchResult), **_problems(401, 403, 404, 409, 422)}},
            "delete": {"summary": "Refused: incident records are kept (GOV-001)", **auth,
                       "responses": _problems(401, 403, 405)}},
        "/incidents/{incident}/notes": {
            "parameters": [INCIDENT],
            "post": {"summary": "Add a timeline note", **auth, "parameters": [IDEMPOTENCY],
                     "requestBody": _body(s.NoteCreate),
                     "responses": {**_ok(s.NoteResponse, "201", "Noted"),
                                   **_problems(401, 403, 404, 422)}}},
        "/models": {
            "get": {"summary": "The model registry", **auth,
                    "responses": {**_ok(s.ModelList), **_problems(401, 403)}},
            "post": {"summary": "Register or update a model", **auth, "parameters": [IDEMPOTENCY],
                     "requestBody": _body(s.ModelCreate),
                     "responses": {**_ok(s.ModelResponse, "201", "Registered"),
                                   **_ok(s.ModelResponse, "200", "Updated"),
                                   **_problems(401, 403, 422)}}},
        "/drift/assessments": {
            "post": {"summary": "Submit a drift assessment computed elsewhere", **auth,
                     "requestBody": _body(s.DriftAssessmentCreate),
                     "responses": {**_ok(s.DriftAssessmentResult, "201", "Recorded"),
                                   **_problems(401, 403, 422, 503)}}},
        "/status": {"get": {"summary": "Status page (HTML)", "responses": {"200": {
            "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "incident-bot platform API", "version": "1.0.0",
                 "description": "Incidents, models and auth of the ML incident response bot "
                                "(seed 002). Errors are application/problem+json."},
        "paths": paths,
        "components": {"schemas": top.get("$defs", {}), "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT or ibk_ API key"}}},
    }


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    spec = document()

    async def openapi(_request: web.Request) -> web.StreamResponse:
        return web.json_response(spec)

    return [web.get("/openapi.json", endpoint(ctx, openapi))]
