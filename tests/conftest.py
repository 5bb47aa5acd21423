from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from bot.slack_ui.messages import SlackMessages
from domain.model import Actor, ModelStage
from domain.policy import default_policy
from domain.services import IncidentService
from storage import migrate
from storage.db import create_engine
from storage.uow import uow_factory, write_lock_for
from tests.databases import (
    create_pg_database,
    drop_pg_database,
    finish_drops,
    migrated_pg_database,
    migrated_sqlite_url,
    sqlite_url,
)
from tests.fakes import FakeClock

# Property tests draw the same examples on every run (a red CI is reproducible, never a roll of
# the dice); HYPOTHESIS_PROFILE=explore draws new ones, for hunting bugs locally.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ALICE = Actor("U0DECLARER", "alice")
BOB = Actor("U0RESPOND", "bob")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Fixtures that bring the test's database to the migrations' head before the test body runs:
# `engine` migrates it, the others start the bot on it (its start migrates). A test that takes one
# gets a database cloned from a migrated template instead of an empty one: the same state, without
# running every migration again per test. The others (migrations, `check` on an empty database,
# the bot's first start) still get an empty database.
MIGRATED_BEFORE_THE_TEST = frozenset({
    "engine", "stack", "gov", "gov_stack", "socket_stack", "drifting", "manual"})


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    finish_drops()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every test that takes this fixture runs on SQLite and on a real PostgreSQL."""
    migrated = not MIGRATED_BEFORE_THE_TEST.isdisjoint(request.fixturenames)
    if request.param == "sqlite":
        yield await migrated_sqlite_url(tmp_path) if migrated else sqlite_url(tmp_path)
        return
    url = await (migrated_pg_database() if migrated else create_pg_database())
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def make_uow(engine, clock):  # type: ignore[no-untyped-def]
    return uow_factory(engine, clock, write_lock_for(engine))


@pytest.fixture
async def service(make_uow, clock) -> IncidentService:  # type: ignore[no-untyped-def]
    svc = IncidentService(make_uow, clock, default_policy(), messages=SlackMessages())
    await svc.register_model("credit-risk-v3", "3.1.0", ModelStage.PRODUCTION, "risk-ml", ALICE,
                             labels=["revenue-critical"])
    await svc.register_model("fraud-detector", "2.0.0", ModelStage.PRODUCTION, "fraud", ALICE)
    return svc
