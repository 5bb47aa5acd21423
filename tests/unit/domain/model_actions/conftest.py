"""The model-action use cases' fixtures: the incident service on the fake unit of work that
also holds the model-action tables (tests/unit/domain/model_actions/fakes.py)."""

from __future__ import annotations

import pytest

from domain.policy import default_policy
from domain.services import IncidentService
from tests.fakes import FakeClock, FakeDatabase
from tests.unit.domain.model_actions.fakes import ModelActionsStore, uow_factory


@pytest.fixture
def store() -> ModelActionsStore:
    return ModelActionsStore()


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock, store: ModelActionsStore) -> IncidentService:
    return IncidentService(uow_factory(db, store, clock), clock, default_policy())
