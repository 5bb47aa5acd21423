"""In-memory stand-ins for the ports of ``domain/model_actions``: the ``ModelActionsRepository``
(on the same fake transactions as ``tests/fakes.py``'s unit of work) and a ``ModelRegistry``.

``ModelActionsStore`` holds the committed rows of one test; every unit of work made by
:func:`uow_factory` works on its own copy of them and merges what it wrote on ``commit``, so a
use case that raises leaves nothing behind, as on SQLite and PostgreSQL. The repository keeps
the semantics of ``storage/model_actions.py`` the use cases rely on: the first sync of a model
dates no alias move, ``save_rollback`` writes only while the request is still in the expected
status (also against what others committed meanwhile), ``get_run`` finds a run by the bot's id
or by the pipeline's own run id, acceptances and snoozes are active in ``[start, end)``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from domain.governance.roles import Role
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import (
    AssessmentFact,
    EarlierIncidentFact,
    IacDriftFact,
    PipelineRun,
)
from domain.model_actions.registry import (
    AliasMove,
    ModelRegistry,
    NewVersion,
    RegistryModel,
    RegistryVersion,
    StoredModel,
)
from domain.model_actions.rollback import Rollback, RollbackStatus
from domain.model_actions.service import ModelActionsRepository
from domain.ports import UnitOfWork
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork

T = TypeVar("T")
Hook = Callable[[], Awaitable[None]]


@dataclass
class ModelActionsTables:
    """The rows of the model actions' tables (committed, or a transaction's working copy)."""

    synced: dict[str, dict[str, Any]] = field(default_factory=dict)  # registry_models
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> alias -> version
    versions: dict[str, list[RegistryVersion]] = field(default_factory=dict)
    history: list[AliasMove] = field(default_factory=list)  # alias_history
    rollbacks: dict[uuid.UUID, Rollback] = field(default_factory=dict)
    acceptances: list[DriftAcceptance] = field(default_factory=list)
    snoozes: list[DriftSnooze] = field(default_factory=list)
    runs: dict[uuid.UUID, PipelineRun] = field(default_factory=dict)
    # the facts "what changed?" reads from other features' tables, arranged by the tests
    iac: list[IacDriftFact] = field(default_factory=list)
    earlier: list[tuple[uuid.UUID, uuid.UUID, EarlierIncidentFact]] = field(default_factory=list)
    assessments: list[tuple[uuid.UUID, AssessmentFact]] = field(default_factory=list)


class ModelActionsStore:
    """The committed model-actions rows of one test, and what tests watch of them."""

    def __init__(self) -> None:
        self.tables = ModelActionsTables()
        self.locked: list[str] = []  # lock_model calls, in order
        self.calls: list[str] = []  # lock_model / stored_model, in order (the lock comes first)
        self.before_save_rollback: list[Hook] = []

    def rollback(self, rollback_id: uuid.UUID) -> Rollback:
        return copy.deepcopy(self.tables.rollbacks[rollback_id])

    def run(self, run_id: uuid.UUID) -> PipelineRun:
        return copy.deepcopy(self.tables.runs[run_id])

    # arranging a test's starting state
    def add_version(self, model: str, version: RegistryVersion) -> None:
        self.tables.versions.setdefault(model, []).append(version)

    def add_assessment(self, model_id: uuid.UUID, fact: AssessmentFact) -> None:
        self.tables.assessments.append((model_id, fact))


class _Transaction:
    def __init__(self, store: ModelActionsStore) -> None:
        self.store = store
        self.base = copy.deepcopy(store.tables)  # what this transaction started from
        self.tables = copy.deepcopy(store.tables)

    def merge(self) -> None:
        """Write what this transaction changed into the committed rows (no lost updates)."""
        target, base, work = self.store.tables, self.base, self.tables
        for name, rows in work.synced.items():
            target.synced[name] = rows
        for model, aliases in work.aliases.items():
            if aliases != base.aliases.get(model):
                target.aliases[model] = dict(aliases)
        for model, versions in work.versions.items():
            known = {v.version for v in target.versions.get(model, [])}
            target.versions.setdefault(model, []).extend(v for v in versions if v.version not in known)
        for rollback_id, rollback in work.rollbacks.items():
            if rollback != base.rollbacks.get(rollback_id):
                target.rollbacks[rollback_id] = rollback
        for run_id, run in work.runs.items():
            if run != base.runs.get(run_id):
                target.runs[run_id] = run
        target.history.extend(work.history[len(base.history):])
        target.acceptances.extend(work.acceptances[len(base.acceptances):])
        target.snoozes.extend(work.snoozes[len(base.snoozes):])


class FakeModelActionsRepository:
    """``ModelActionsRepository`` on one fake transaction."""

    def __init__(self, tx: _Transaction) -> None:
        self._tx = tx
        self._store = tx.store

    @property
    def _t(self) -> ModelActionsTables:
        return self._tx.tables

    # -- registry ------------------------------------------------------------------------
    async def lock_model(self, name: str) -> None:
        self._store.locked.append(name)
        self._store.calls.append(f"lock {name}")

    async def stored_model(self, name: str) -> StoredModel | None:
        self._store.calls.append(f"read {name}")
        if name not in self._t.synced:
            return None
        return StoredModel(dict(self._t.aliases.get(name, {})),
                           frozenset(v.version for v in self._t.versions.get(name, [])))

    async def record_snapshot(self, model: RegistryModel, source: str, moves: list[AliasMove],
                              new_versions: list[NewVersion], observed_at: datetime,
                              moved_by: str) -> None:
        self._t.synced[model.name] = {"source": source, "tags": dict(model.tags), "synced_at": observed_at}
        by_version = {v.version: v for v in model.versions}
        for new in new_versions:
            self._t.versions.setdefault(model.name, []).append(by_version[new.version])
        for move in moves:
            await self.record_alias_move(move, moved_by)

    async def record_alias_move(self, move: AliasMove, moved_by: str) -> None:
        aliases = self._t.aliases.setdefault(move.model, {})
        if move.version is None:
            aliases.pop(move.alias, None)
        else:
            aliases[move.alias] = move.version
        if move.previous is None and moved_by.endswith("(first sync)"):
            return  # where the alias pointed before the bot knew the model: no move to date
        self._t.history.append(AliasMove(move.model, move.alias, move.version, move.previous,
                                         move.moved_at, moved_by))

    async def aliases(self, name: str) -> dict[str, str]:
        return dict(self._t.aliases.get(name, {}))

    async def versions(self, name: str) -> list[RegistryVersion]:
        return sorted(self._t.versions.get(name, []), key=lambda v: v.created_at)

    async def alias_moves(self, name: str, since: datetime | None = None) -> list[AliasMove]:
        return sorted((m for m in self._t.history
                       if m.model == name and (since is None or m.moved_at >= since)),
                      key=lambda m: m.moved_at)

    # -- what changed: the facts -----------------------------------------------------------
    async def iac_drift(self, since: datetime, until: datetime) -> list[IacDriftFact]:
        return sorted((f for f in self._t.iac if since <= f.detected_at <= until),
                      key=lambda f: f.detected_at, reverse=True)[:20]

    async def earlier_incidents(self, model_id: uuid.UUID, before: datetime,
                                exclude: uuid.UUID) -> list[EarlierIncidentFact]:
        return sorted((f for m, i, f in self._t.earlier
                       if m == model_id and i != exclude and f.created_at < before),
                      key=lambda f: f.created_at, reverse=True)[:5]

    async def assessments(self, model_id: uuid.UUID, since: datetime,
                          until: datetime) -> list[AssessmentFact]:
        return sorted((f for m, f in self._t.assessments
                       if m == model_id and since <= f.assessed_at <= until),
                      key=lambda f: f.assessed_at, reverse=True)[:10]

    async def latest_assessment(self, model_id: uuid.UUID) -> AssessmentFact | None:
        mine = [f for m, f in self._t.assessments if m == model_id]
        return max(mine, key=lambda f: f.assessed_at) if mine else None

    # -- rollbacks ---------------------------------------------------------------------------
    async def add_rollback(self, rollback: Rollback) -> None:
        if rollback.id in self._t.rollbacks:
            raise ValueError("duplicate rollback id")  # the primary key
        self._t.rollbacks[rollback.id] = copy.deepcopy(rollback)

    async def get_rollback(self, rollback_id: uuid.UUID) -> Rollback | None:
        found = self._t.rollbacks.get(rollback_id)
        return copy.deepcopy(found) if found else None

    async def open_rollback(self, incident_id: uuid.UUID) -> Rollback | None:
        open_ = [r for r in self._t.rollbacks.values()
                 if r.incident_id == incident_id and r.status is RollbackStatus.REQUESTED]
        return copy.deepcopy(max(open_, key=lambda r: r.requested_at)) if open_ else None

    async def save_rollback(self, rollback: Rollback, expected: RollbackStatus) -> bool:
        """An UPDATE ... WHERE status = expected: it sees what others committed meanwhile."""
        hooks, self._store.before_save_rollback[:] = list(self._store.before_save_rollback), []
        for hook in hooks:
            await hook()
        mine = self._t.rollbacks.get(rollback.id)
        theirs = self._store.tables.rollbacks.get(rollback.id)
        if mine is None or mine.status is not expected or (
                theirs is not None and theirs.status is not expected):
            return False
        self._t.rollbacks[rollback.id] = copy.deepcopy(rollback)
        return True

    # -- drift acceptances and snoozes -------------------------------------------------------
    async def add_acceptance(self, acceptance: DriftAcceptance) -> None:
        self._t.acceptances.append(copy.deepcopy(acceptance))

    async def active_acceptance(self, model: str, now: datetime) -> DriftAcceptance | None:
        active = [a for a in self._t.acceptances if a.model == model and a.active(now)]
        return copy.deepcopy(max(active, key=lambda a: a.accepted_at)) if active else None

    async def add_snooze(self, snooze: DriftSnooze) -> None:
        self._t.snoozes.append(copy.deepcopy(snooze))

    async def active_snooze(self, model: str, now: datetime) -> DriftSnooze | None:
        active = [s for s in self._t.snoozes if s.model == model and s.active(now)]
        return copy.deepcopy(max(active, key=lambda s: s.until)) if active else None

    async def active_controls(self, now: datetime) -> tuple[list[DriftAcceptance], list[DriftSnooze]]:
        return ([copy.deepcopy(a) for a in self._t.acceptances if a.active(now)],
                [copy.deepcopy(s) for s in self._t.snoozes if s.active(now)])

    # -- pipeline runs -------------------------------------------------------------------------
    async def add_run(self, run: PipelineRun) -> None:
        self._t.runs[run.id] = copy.deepcopy(run)

    async def get_run(self, run_ref: str) -> PipelineRun | None:
        for run in self._t.runs.values():
            if run.run_id == run_ref or str(run.id) == run_ref:
                return copy.deepcopy(run)
        return None

    async def save_run(self, run: PipelineRun) -> None:
        if run.id in self._t.runs:  # an UPDATE of a missing row changes nothing
            self._t.runs[run.id] = copy.deepcopy(run)


class ModelActionsUnitOfWork(FakeUnitOfWork):
    """``tests/fakes.py``'s unit of work, with the model actions' rows in the same transaction."""

    def __init__(self, db: FakeDatabase, store: ModelActionsStore, clock: FakeClock | None = None) -> None:
        super().__init__(db, clock)
        self.store = store
        self.model_actions: FakeModelActionsRepository | None = None

    def _start(self) -> None:
        self.model_actions = FakeModelActionsRepository(_Transaction(self.store))

    async def __aenter__(self) -> ModelActionsUnitOfWork:
        await super().__aenter__()
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        self.model_actions = None  # whatever was not committed vanishes

    async def commit(self) -> None:
        assert self.model_actions is not None, "commit outside `async with`"
        self.model_actions._tx.merge()
        await super().commit()
        self._start()

    async def rollback(self) -> None:
        await super().rollback()
        self._start()


def uow_factory(db: FakeDatabase, store: ModelActionsStore,
                clock: FakeClock | None = None) -> Callable[[], UnitOfWork]:
    """What ``IncidentService`` takes: each unit of work also carries the model actions' rows."""
    return lambda: ModelActionsUnitOfWork(db, store, clock)


def repo_for(uow: UnitOfWork) -> ModelActionsRepository:
    """What ``ModelActions`` takes as ``repo_for``: the repository on the use case's transaction."""
    repo = cast(ModelActionsUnitOfWork, uow).model_actions
    assert repo is not None, "the repository is used outside its unit of work"
    return repo


class FakeRegistry:
    """A ``ModelRegistry`` whose models the test sets; ``set_alias`` moves them."""

    def __init__(self, kind: str = "mlflow", models: Sequence[RegistryModel] = ()) -> None:
        self.kind = kind
        self.models: dict[str, RegistryModel] = {m.name: m for m in models}

    def put(self, model: RegistryModel) -> None:
        self.models[model.name] = model

    async def list_models(self) -> list[RegistryModel]:
        return list(self.models.values())

    async def get_model(self, name: str) -> RegistryModel | None:
        return self.models.get(name)

    async def set_alias(self, name: str, alias: str, version: str) -> bool:
        model = self.models[name]
        if model.aliases.get(alias) == version:
            return False
        self.models[name] = RegistryModel(name, model.tags, {**model.aliases, alias: version},
                                          model.versions)
        return True


class Roles:
    """``RolesOf``: who holds which governance roles (``None``: role checks off)."""

    def __init__(self, held: dict[str, frozenset[Role]] | None) -> None:
        self.held = held

    async def __call__(self, user_id: str) -> frozenset[Role] | None:
        if self.held is None:
            return None
        return self.held.get(user_id, frozenset())


def _typing_check(store: ModelActionsStore, db: FakeDatabase) -> None:
    """Never called: mypy checks here that the fakes implement the domain's ports."""
    _repo: ModelActionsRepository = FakeModelActionsRepository(_Transaction(store))
    _registry: ModelRegistry = FakeRegistry()
    _uow: UnitOfWork = ModelActionsUnitOfWork(db, store)
