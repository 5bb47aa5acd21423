"""``/models``: the model registry over HTTP (the same use case as ``incident-bot models add``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.api.auth import Scope
from domain.model import MLModel
from handlers.api.http import ApiContext, caller, endpoint, json_answer, preflight, read_body
from handlers.api.idempotency import idempotent
from handlers.api.schemas import ModelCreate, ModelList, ModelResponse


def model_response(m: MLModel) -> ModelResponse:
    return ModelResponse(id=m.id, name=m.name, version=m.version, stage=m.stage, team=m.team,
                         feature_store_ref=m.feature_store_ref, model_card_url=m.model_card_url,
                         registered_at=m.registered_at, promoted_at=m.promoted_at,
                         labels=list(m.labels))


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    async def list_(request: web.Request) -> web.StreamResponse:
        await caller(ctx, request, Scope.MODELS_READ)
        models = await ctx.service.list_models()
        return json_answer(ModelList(items=[model_response(m) for m in models]))

    async def register(request: web.Request) -> web.StreamResponse:
        principal = await caller(ctx, request, Scope.MODELS_WRITE)
        raw = await request.read()
        body = await read_body(request, ModelCreate)

        async def run(_key: str | None) -> tuple[int, Any]:
            model, created = await ctx.service.register_model(
                body.name, body.version, body.stage, body.team, principal.actor,
                labels=body.labels, feature_store_ref=body.feature_store_ref,
                model_card_url=body.model_card_url)
            return (201 if created else 200), model_response(model).model_dump(mode="json")

        return await idempotent(ctx, request, principal.actor.id, raw, run)

    wrap = lambda h: endpoint(ctx, h)  # noqa: E731
    return [web.get("/models", wrap(list_)), web.post("/models", wrap(register)),
            web.options("/models", preflight(ctx, "GET, POST, OPTIONS"))]
