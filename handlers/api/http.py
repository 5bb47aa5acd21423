"""What every API endpoint shares: the context it runs in, problem+json errors, security
headers (seed 002), CORS, body parsing and the caller's identity.

Routes go into ``container.routes`` (the web app mounts them), so instead of an app middleware
each handler is wrapped by :func:`endpoint`. ``X-Trace-Id`` is added by the tracing middleware.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from domain.api.auth import AuthError, Forbidden, Principal, Scope
from domain.api.ports import ApiAccounts, ApiQueries
from domain.drift import DriftAssessment
from domain.governance.roles import RoleRefused
from domain.model import DomainError, Incident
from domain.state_machine import IllegalTransition

log = structlog.get_logger("api")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-API-Key"


class ApiProblem(Exception):
    """An answer other than success, rendered as RFC 9457 problem+json."""

    def __init__(self, status: int, title: str, detail: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"type": "about:blank", "title": self.title, "status": self.status,
                "detail": self.detail, **self.extra}


@dataclass
class ApiContext:
    """What the handlers need, built once by bot/features/api.py."""

    container: Any
    tokens: Any  # handlers.api.tokens.TokenService
    store: ApiAccounts
    queries: ApiQueries
    cors_origins: frozenset[str] = frozenset()
    # the drift job's run for a submitted assessment: (model, assessment, at) ->
    # (assessment, incident or None); None when drift checks are not part of this build
    run_drift: Callable[[str, DriftAssessment, datetime],
                        Awaitable[tuple[DriftAssessment, Incident | None]]] | None = None

    @property
    def service(self) -> Any:
        return self.container.service

    @property
    def clock(self) -> Any:
        return self.container.clock


def _plain(text: str) -> str:
    """Domain messages are written for Slack (``*bold*``, `` `code` ``): plain for HTTP."""
    return text.replace("*", "").replace("`", "")


def problem_for(exc: BaseException) -> ApiProblem:
    from domain.services import IncidentNotFound, UnknownModel

    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, AuthError):
        return ApiProblem(401, "Unauthorized", str(exc))
    if isinstance(exc, Forbidden | RoleRefused):  # a role refusal is audited by the service
        return ApiProblem(403, "Forbidden", _plain(str(exc)))
    if isinstance(exc, IncidentNotFound):
        return ApiProblem(404, "Not Found", "No such incident.")
    if isinstance(exc, IllegalTransition):
        return ApiProblem(409, "Conflict", _plain(str(exc)))
    if isinstance(exc, UnknownModel):
        return ApiProblem(422, "Unknown model", _plain(str(exc)))
    if isinstance(exc, ValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return ApiProblem(422, "Invalid request body",
                          "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                                    for e in errors)[:1000], errors=errors)
    if isinstance(exc, DomainError):
        return ApiProblem(422, "Unprocessable", _plain(str(exc)))
    return ApiProblem(500, "Internal Server Error", "The request failed; see the server log.")


def decorate(response: web.StreamResponse, request: web.Request,
             cors_origins: Iterable[str]) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", JSON_CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    origin = request.headers.get("Origin")
    origins = set(cors_origins)
    if origin and (origin in origins or "*" in origins):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "X-Trace-Id, Location, Retry-After"
        response.headers["Vary"] = "Origin"
    return response


def problem_response(p: ApiProblem, headers: dict[str, str] | None = None) -> web.Response:
    if p.status == 401:
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description='
                                       f'"{p.detail[:200]}"'.replace("\n", " "), **(headers or {})}
    return web.json_response(p.body(), status=p.status, content_type="application/problem+json",
                             headers=headers)


def endpoint(ctx: ApiContext, handler: Handler) -> Handler:
    """Security headers and CORS on every answer; any error as problem+json."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # every failure becomes a problem document
            problem = problem_for(exc)
            if problem.status >= 500:
                log.exception("api.error", path=request.path, method=request.method)
            response = problem_response(problem, problem.headers)
        return decorate(response, request, ctx.cors_origins)

    return wrapped


def preflight(ctx: ApiContext, methods: str) -> Handler:
    async def options(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        origin = request.headers.get("Origin")
        if origin and (origin in ctx.cors_origins or "*" in ctx.cors_origins):
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return decorate(response, request, ctx.cors_origins)

    return options


async def read_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiProblem(400, "Bad Request", "The body is not JSON.") from exc
    return model.model_validate(data)


def json_answer(model: BaseModel | dict[str, Any], status: int = 200,
                headers: dict[str, str] | None = None) -> web.Response:
    body = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return web.json_response(body, status=status, headers=headers)


async def caller(ctx: ApiContext, request: web.Request, scope: Scope) -> Principal:
    """Authenticate the request (token or API key; denylist checked, failing closed) and
    require ``scope``. The use case then acts as ``principal.actor``, whose roles the RACI gate
    reads (domain/governance/roles.py), as it reads a Slack user's."""
    principal: Principal = await ctx.tokens.authenticate(
        request.headers.get("Authorization"), request.headers.get("X-API-Key"))
    principal.require(scope)
    return principal
