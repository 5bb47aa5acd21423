"""MLflow Model Registry through mlflow-skinny's ``MlflowClient``.

The client is synchronous (requests under the hood): every call runs in a worker thread, never
on the event loop. Only the registry's REST API is used: registered models, versions, aliases
and tags.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from domain.model_actions.registry import (
    RegistryModel,
    RegistryRefused,
    RegistryUnavailable,
    RegistryVersion,
)

PAGE = 200
REFUSALS = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "PERMISSION_DENIED"}


class MlflowRegistry:
    kind = "mlflow"

    def __init__(self, tracking_uri: str, timeout_seconds: float = 10.0) -> None:
        self.tracking_uri = tracking_uri
        self.timeout_seconds = timeout_seconds
        self._client: Any = None

    def _mlflow(self) -> Any:
        if self._client is None:
            import os

            # no usage telemetry from the bot to MLflow's servers (it would also stall start-up
            # where outbound traffic is blocked)
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            try:
                from mlflow import MlflowClient
            except ImportError as exc:  # the optional extra is not installed
                raise RegistryUnavailable(
                    "MLFLOW_TRACKING_URI is set but mlflow-skinny is not installed "
                    "(pip install 'incident-bot[mlflow]')") from exc
            from bot.logging_config import adopt_library_loggers
            adopt_library_loggers()  # mlflow gave "mlflow" and "alembic" handlers of its own
            # bounded: a registry that does not answer must not hold a thread for minutes
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(self.timeout_seconds)))
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except (RegistryUnavailable, RegistryRefused):
            raise
        except Exception as exc:  # MlflowException, requests' errors: refused, or away
            if getattr(exc, "error_code", "") in REFUSALS:
                raise RegistryRefused(f"MLflow refused: {str(exc)[:300]}") from exc
            raise RegistryUnavailable(f"MLflow at {self.tracking_uri}: {str(exc)[:300]}") from exc

    async def list_models(self) -> list[RegistryModel]:
        return list(await self._call(self._list_models))

    async def get_model(self, name: str) -> RegistryModel | None:
        model: RegistryModel | None = await self._call(self._get_model, name)
        return model

    async def set_alias(self, name: str, alias: str, version: str) -> bool:
        return bool(await self._call(self._set_alias, name, alias, version))

    # -- in the worker thread ------------------------------------------------------------------

    def _list_models(self) -> list[RegistryModel]:
        mlflow = self._mlflow()
        out: list[RegistryModel] = []
        token = None
        while True:
            page = mlflow.search_registered_models(max_results=PAGE, page_token=token)
            out.extend(self._model(mlflow, rm) for rm in page)
            token = getattr(page, "token", None)
            if not token:
                return out

    def _get_model(self, name: str) -> RegistryModel | None:
        from mlflow.exceptions import MlflowException

        mlflow = self._mlflow()
        try:
            rm = mlflow.get_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return self._model(mlflow, rm)

    def _model(self, mlflow: Any, rm: Any) -> RegistryModel:
        versions: list[RegistryVersion] = []
        token = None
        while True:
            page = mlflow.search_model_versions(f"name='{_quote(rm.name)}'", max_results=PAGE,
                                                page_token=token)
            versions.extend(RegistryVersion(
                version=str(v.version), created_at=_time(v.creation_timestamp), source=v.source,
                run_id=v.run_id or None, status=str(v.status) if v.status else None) for v in page)
            token = getattr(page, "token", None)
            if not token:
                break
        aliases = {str(k): str(v) for k, v in (getattr(rm, "aliases", None) or {}).items()}
        return RegistryModel(name=rm.name, tags=dict(rm.tags or {}), aliases=aliases, versions=versions)

    def _set_alias(self, name: str, alias: str, version: str) -> bool:
        from mlflow.exceptions import MlflowException

        mlflow = self._mlflow()
        try:
            if str(mlflow.get_model_version_by_alias(name, alias).version) == str(version):
                return False  # already there: moving it again would change nothing
        except MlflowException as exc:
            if getattr(exc, "error_code", "") not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
        mlflow.set_registered_model_alias(name, alias, str(version))
        return True


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _time(millis: Any) -> datetime:
    return datetime.fromtimestamp(int(millis or 0) / 1000, tz=UTC)
