"""``/auth/token``, ``/auth/refresh``, ``/auth/logout`` (seed 002)."""

from __future__ import annotations

from aiohttp import web

from handlers.api.http import (
    ApiContext,
    ApiProblem,
    endpoint,
    json_answer,
    preflight,
    read_body,
)
from handlers.api.schemas import (
    LogoutRequest,
    LogoutResponse,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
)
from handlers.api.tokens import DenylistRequired, LoginThrottled, TokenPair


def _answer(pair: TokenPair) -> web.Response:
    return json_answer(TokenResponse(access_token=pair.access_token,
                                     refresh_token=pair.refresh_token,
                                     expires_in=pair.expires_in,
                                     refresh_expires_in=pair.refresh_expires_in))


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    async def token(request: web.Request) -> web.StreamResponse:
        """Password grant; JSON, or a form as OAuth2 clients send it."""
        if ctx.tokens.secret is None:
            raise ApiProblem(503, "Token login off", "JWT_SECRET is not set; use an API key.")
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            body = TokenRequest.model_validate({k: str(v) for k, v in form.items()})
        else:
            body = await read_body(request, TokenRequest)
        try:
            pair = await ctx.tokens.login(body.username, body.password, request.remote or "-")
        except LoginThrottled as exc:
            raise ApiProblem(429, "Too Many Requests", str(exc),
                             headers={"Retry-After": str(exc.retry_after)}) from exc
        return _answer(pair)

    async def refresh(request: web.Request) -> web.StreamResponse:
        if ctx.tokens.secret is None:
            raise ApiProblem(503, "Token login off", "JWT_SECRET is not set; use an API key.")
        body = await read_body(request, RefreshRequest)
        return _answer(await ctx.tokens.refresh(body.refresh_token))

    async def logout(request: web.Request) -> web.StreamResponse:
        principal = await ctx.tokens.authenticate(request.headers.get("Authorization"),
                                                  request.headers.get("X-API-Key"))
        body = await read_body(request, LogoutRequest)
        try:
            revoked = await ctx.tokens.logout(principal, body.refresh_token)
        except DenylistRequired as exc:
            raise ApiProblem(503, "Logout unavailable", str(exc)) from exc
        return json_answer(LogoutResponse(revoked=revoked))

    wrap = lambda h: endpoint(ctx, h)  # noqa: E731
    return [web.post("/auth/token", wrap(token)), web.post("/auth/refresh", wrap(refresh)),
            web.post("/auth/logout", wrap(logout)),
            *(web.options(p, preflight(ctx, "POST, OPTIONS"))
              for p in ("/auth/token", "/auth/refresh", "/auth/logout"))]
