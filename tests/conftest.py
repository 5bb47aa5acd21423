from __future__ import annotations

import os
from collections.abc import AsyncIterator
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
from tests.databases import create_pg_database, drop_pg_database, sqlite_url
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every test that takes this fixture runs on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    url = await create_pg_database()
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
