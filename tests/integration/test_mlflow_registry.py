"""The registry sync against a real MLflow server (issue 18): models, versions, aliases and tags
land in the bot's tables, the alias history dates every move, setting an alias where it already
points is a no-op, a registry that is away is said so; without MLflow the manual registry serves."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from bot.registry.manual import ManualRegistry
from bot.registry.mlflow_registry import MlflowRegistry
from domain.model import ModelStage
from domain.model_actions.registry import RegistryUnavailable
from domain.model_actions.rollback import default_target
from domain.model_actions.service import ModelActions, ModelActionsConfig
from domain.services import IncidentService
from storage.model_actions import manual_alias_differs, manual_snapshot, model_actions_repo
from tests.conftest import ALICE
from tests.fakes import FakeClock
from tests.mlflow_server import mlflow_server  # noqa: F401 - the session fixture


async def no_roles(_user: str) -> None:
    return None


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


async def new_model(uri: str, versions: int, tags: dict[str, str]) -> str:
    name = f"scoring-{uuid.uuid4().hex[:8]}"

    def make() -> None:
        c = client(uri)
        c.create_registered_model(name, tags=tags)
        for i in range(versions):
            c.create_model_version(name, source=f"s3://models/{name}/{i + 1}")
        c.set_registered_model_alias(name, "champion", "1")
        c.set_registered_model_alias(name, "challenger", str(versions))

    await asyncio.to_thread(make)
    return name


async def move(uri: str, name: str, alias: str, version: str) -> None:
    await asyncio.to_thread(lambda: client(uri).set_registered_model_alias(name, alias, version))


async def history(service: IncidentService, name: str) -> list[Any]:
    return await service.run(lambda uow: model_actions_repo(uow).alias_moves(name))


async def test_sync_brings_versions_aliases_tags_and_dates_each_alias_move(
        service: IncidentService, clock: FakeClock, mlflow_server: str) -> None:  # noqa: F811
    name = await new_model(mlflow_server, 3, {"team": "credit-ml", "revenue-critical": "true"})
    actions = ModelActions(service, model_actions_repo, MlflowRegistry(mlflow_server), no_roles,
                           ModelActionsConfig(registry_kind="mlflow"))
    first = clock.now()
    counts = await actions.sync()
    assert counts["new_versions"] >= 3 and counts["moves"] == 0  # first sight: nothing to date

    model = {m.name: m for m in await service.list_models()}[name]
    assert (model.version, model.team, model.labels, model.stage) == (
        "1", "credit-ml", ["revenue-critical"], ModelStage.PRODUCTION)
    repo_aliases = await service.run(lambda uow: model_actions_repo(uow).aliases(name))
    assert repo_aliases == {"champion": "1", "challenger": "3"}

    clock.advance(minutes=10)
    await move(mlflow_server, name, "champion", "2")
    await actions.sync()
    clock.advance(minutes=20)
    await move(mlflow_server, name, "champion", "3")
    await actions.sync()
    await actions.sync()  # nothing new: nothing recorded

    moves = [(m.alias, m.previous, m.version, m.moved_at - first) for m in await history(service, name)]
    assert moves == [("champion", "1", "2", timedelta(minutes=10)),
                     ("champion", "2", "3", timedelta(minutes=30))]
    assert {m.name: m for m in await service.list_models()}[name].version == "3"
    # the version to return to: the one that held champion before its latest move
    assert default_target(await history(service, name), "champion", "3", ["1", "2", "3"]) == "2"


async def test_setting_an_alias_where_it_already_points_is_a_no_op(mlflow_server: str) -> None:  # noqa: F811
    name = await new_model(mlflow_server, 2, {"team": "t"})
    registry = MlflowRegistry(mlflow_server)
    assert await registry.set_alias(name, "champion", "1") is False
    assert await registry.set_alias(name, "champion", "2") is True
    current = await registry.get_model(name)
    assert current is not None and current.aliases["champion"] == "2"
    assert await registry.get_model(f"{name}-missing") is None


async def test_a_registry_that_is_away_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # refused at once, not after backoff
    registry = MlflowRegistry("http://127.0.0.1:9", timeout_seconds=1)
    with pytest.raises(RegistryUnavailable, match="MLflow at http://127.0.0.1:9"):
        await registry.list_models()


async def test_without_mlflow_the_manual_registry_dates_a_new_version_as_a_deploy(
        service: IncidentService, clock: FakeClock, engine: Any) -> None:
    registry = ManualRegistry(lambda: manual_snapshot(engine),
                              lambda n, a, v: manual_alias_differs(engine, n, a, v))
    actions = ModelActions(service, model_actions_repo, registry, no_roles, ModelActionsConfig())
    await actions.sync()
    clock.advance(minutes=5)
    await service.register_model("fraud-detector", "2.1.0", ModelStage.PRODUCTION, "fraud", ALICE)
    counts = await actions.sync()
    assert counts == {"models": 2, "moves": 1, "new_versions": 1}
    moves = await history(service, "fraud-detector")
    assert [(m.previous, m.version) for m in moves] == [("2.0.0", "2.1.0")]
    assert await registry.set_alias("fraud-detector", "champion", "2.1.0") is False
    assert await registry.set_alias("fraud-detector", "champion", "2.0.0") is True


async def test_two_syncs_at_once_record_a_move_once(
        service: IncidentService, clock: FakeClock, mlflow_server: str) -> None:  # noqa: F811
    name = await new_model(mlflow_server, 2, {"team": "t"})
    actions = ModelActions(service, model_actions_repo, MlflowRegistry(mlflow_server), no_roles,
                           ModelActionsConfig(registry_kind="mlflow"))
    await actions.sync()
    await move(mlflow_server, name, "champion", "2")
    await asyncio.gather(actions.sync(), actions.sync())  # two replicas' schedules firing together
    assert [(m.previous, m.version) for m in await history(service, name)] == [("1", "2")]
