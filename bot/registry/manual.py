"""The manual registry: models typed by hand (``incident-bot models add``), no MLflow.

``champion`` is the ``models`` table's version (``models add NAME --version V`` is a deploy,
seen by the next sync as an alias move); the versions seen so far stay in ``registry_versions``,
so there is something to roll back to. It lets every model action work
without a registry server, and is what the demo uses when MLflow is not installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from domain.model_actions.registry import CHAMPION, TEAM_TAG, RegistryModel, RegistryVersion


class ManualRegistry:
    kind = "manual"

    def __init__(self, read: Callable[[], Awaitable[list[dict[str, Any]]]],
                 move: Callable[[str, str, str], Awaitable[bool]],
                 now: Callable[[], datetime] | None = None) -> None:
        self._read = read  # the stored models, versions and aliases (storage.model_actions)
        self._move = move
        self._now = now or (lambda: datetime.now(UTC))

    async def list_models(self) -> list[RegistryModel]:
        return [self._model(m) for m in await self._read()]

    async def get_model(self, name: str) -> RegistryModel | None:
        for m in await self._read():
            if m["name"].lower() == name.lower():
                return self._model(m)
        return None

    async def set_alias(self, name: str, alias: str, version: str) -> bool:
        return await self._move(name, alias, version)

    def _model(self, m: dict[str, Any]) -> RegistryModel:
        versions = {v.version: v for v in m["versions"]}
        if m["version"] not in versions:  # the models table's version is always one of them:
            # the first one dates from the model's registration, a later one from when it is seen
            seen = m["registered_at"] if not versions else self._now()
            versions[m["version"]] = RegistryVersion(m["version"], seen)
        aliases = {**m["aliases"], CHAMPION: m["version"]}  # the models table is the truth here
        tags = {TEAM_TAG: m["team"], **({"revenue-critical": "true"}
                                         if "revenue-critical" in m["labels"] else {})}
        return RegistryModel(m["name"], tags, aliases, list(versions.values()))
