"""Fixtures the unit tests share: the clock comes from tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, FakeDatabase, database_with_models


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    """A fake database with credit-risk-v3 (production, team risk) registered."""
    return database_with_models(clock)
