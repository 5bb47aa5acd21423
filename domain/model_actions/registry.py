"""The model registry as the bot sees it, and what a sync learns from comparing snapshots.

MLflow keeps no history of aliases (``champion`` simply points elsewhere after a move), so the
bot keeps it: each sync compares the registry with what it stored last time, and every
difference becomes a dated change. A move the bot made itself (a rollback) is dated exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

CHAMPION = "champion"
CHALLENGER = "challenger"
TEAM_TAG = "team"
REVENUE_TAG = "revenue-critical"
TRUE_WORDS = {"true", "yes", "1", "y", "on"}


@dataclass(frozen=True)
class RegistryVersion:
    version: str
    created_at: datetime
    source: str | None = None
    run_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class RegistryModel:
    """One registered model as the registry holds it now."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> version
    versions: Sequence[RegistryVersion] = ()

    @property
    def team(self) -> str:
        return (self.tags.get(TEAM_TAG) or "unknown").strip()[:255] or "unknown"

    @property
    def labels(self) -> list[str]:
        """The models table's labels: ``revenue-critical`` when the tag says so (it raises
        drift severity, as the manual registry's label does)."""
        flag = str(self.tags.get(REVENUE_TAG, "")).strip().lower()
        return [REVENUE_TAG] if flag in TRUE_WORDS else []

    @property
    def serving_version(self) -> str | None:
        """What serves traffic: the champion alias, else the newest version."""
        if CHAMPION in self.aliases:
            return self.aliases[CHAMPION]
        if not self.versions:
            return None
        return max(self.versions, key=lambda v: _version_key(v.version)).version


class ModelRegistry(Protocol):
    """A model registry (MLflow, or the bot's own manual one)."""

    kind: str

    async def list_models(self) -> list[RegistryModel]: ...

    async def get_model(self, name: str) -> RegistryModel | None: ...

    async def set_alias(self, name: str, alias: str, version: str) -> bool:
        """Point ``alias`` at ``version``; False (and nothing done) when it already does."""
        ...


class RegistryUnavailable(Exception):
    """The registry could not be asked (down, timed out); the caller retries later."""


class RegistryRefused(Exception):
    """The registry answered no (no such model or version): retrying will not help."""


@dataclass(frozen=True)
class AliasMove:
    model: str
    alias: str
    version: str | None  # None: the alias was removed
    previous: str | None  # None: the alias is new
    moved_at: datetime
    moved_by: str = "registry-sync"


@dataclass(frozen=True)
class NewVersion:
    model: str
    version: str
    created_at: datetime


@dataclass(frozen=True)
class StoredModel:
    """What the bot recorded at the previous sync."""

    aliases: Mapping[str, str]
    versions: frozenset[str]


def changes_since(stored: StoredModel | None, current: RegistryModel,
                  observed_at: datetime) -> tuple[list[AliasMove], list[NewVersion]]:
    """The alias moves and new versions between the last sync and now.

    A move is dated when the sync saw it (MLflow does not date alias moves), a new version by
    the registry's own creation time. A model seen for the first time has no moves: its
    aliases are where they were before the bot knew it (recorded with ``previous=None``).
    """
    before_aliases = dict(stored.aliases) if stored else {}
    before_versions = stored.versions if stored else frozenset()
    moves = []
    for alias in sorted(set(before_aliases) | set(current.aliases)):
        old, new = before_aliases.get(alias), current.aliases.get(alias)
        if old != new:
            moves.append(AliasMove(current.name, alias, new, old, observed_at))
    new_versions = [NewVersion(current.name, v.version, v.created_at)
                    for v in current.versions if v.version not in before_versions]
    return moves, new_versions


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
