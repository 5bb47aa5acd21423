"""The report's figures over a seeded 90-day history, exactly, on SQLite and PostgreSQL (issue 21).

The expected figures are computed here from the fixture's plain records, by a second,
deliberately simple implementation of the definitions in domain/insights.py (GOV-001 targets
written out by hand), never by the SQL under test.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.insights import DIMENSIONS, TARGET_KINDS, Report, targets_from_policy
from domain.policy import default_policy
from storage.reports import build_report
from tests.insights_history import AS_OF, SINCE, UNTIL, HistoryIncident, generate, in_window, load

# GOV-001 section 3 and the default policy, in seconds: (ack, mitigate, resolve, commander, update)
GOV001 = {"p1": (300, 1800, 4 * 3600, 300, 900), "p2": (900, 7200, 86400, 300, 3600),
          "p3": (3600, 8 * 3600, 72 * 3600, None, None), "p4": (4 * 3600, None, 14 * 86400, None, None)}

HISTORY = generate()


def _secs(later: Any, earlier: Any) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def _rank(values: list[float], num: int, den: int) -> float | None:
    """Nearest rank: the value at 1-based position ceil(n * num / den) of the sorted values."""
    if not values:
        return None
    position = -(-len(values) * num // den)  # integer ceiling
    return sorted(values)[position - 1]


def _expected_group(incs: list[HistoryIncident]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(incs)}
    for name, attr in (("mtta", "acknowledged_at"), ("mttm", "mitigated_at"), ("mttr", "resolved_at")):
        values = [(getattr(i, attr) - i.created_at).total_seconds() for i in incs if getattr(i, attr)]
        out[name] = (len(values), _rank(values, 1, 2), _rank(values, 9, 10))
    sla: dict[str, tuple[int, int]] = {}
    for k, kind in enumerate(TARGET_KINDS):
        evaluated = met = 0
        for i in incs:
            target = GOV001[i.severity][k]
            if target is None:
                continue
            age = (AS_OF - i.created_at).total_seconds()
            if kind in ("ack", "mitigate", "resolve"):
                took = _secs((i.acknowledged_at, i.mitigated_at, i.resolved_at)[k], i.created_at)
                if took is not None or age >= target:
                    evaluated += 1
                    met += took is not None and took <= target
            else:
                lived = _secs(i.resolved_at, i.created_at) or age
                if lived >= target:
                    evaluated += 1
                    met += ("no_commander" if kind == "commander" else "update_due") not in i.fired
        sla[kind] = (evaluated, met)
    out["sla"] = sla
    out["escalations"] = sum(i.fired.count("escalation") for i in incs)
    pms = [i.postmortem for i in incs if i.postmortem]
    done = [(p, max(p.draft_at, p.analysis_at)) for p in pms if p.draft_at and p.analysis_at]
    out["postmortems"] = (len(pms), sum(d <= p.due_at for p, d in done), sum(d > p.due_at for p, d in done),
                          sum(1 for p in pms if not (p.draft_at and p.analysis_at) and p.due_at < AS_OF))
    items = [a for i in incs for a in i.actions if a.status != "done"]
    out["actions"] = (len(items), sum(a.due < AS_OF.date() for a in items))
    out["seconds"] = sum(((i.resolved_at or AS_OF) - i.created_at).total_seconds() for i in incs)
    return out


def _expected() -> dict[tuple[str, str], dict[str, Any]]:
    window = in_window(HISTORY)
    groups: dict[tuple[str, str], list[HistoryIncident]] = defaultdict(list)
    for i in window:
        groups[("overall", "all")].append(i)
        groups[("severity", i.severity)].append(i)
        groups[("model", i.model)].append(i)
        groups[("team", i.team)].append(i)
        groups[("trigger_source", i.trigger)].append(i)
    return {key: _expected_group(incs) for key, incs in groups.items()}


def _actual(report: Report) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for g in report.groups:
        out[(g.dimension, g.key)] = {
            "count": g.count,
            "mtta": (g.mtta.n, g.mtta.median, g.mtta.p90), "mttm": (g.mttm.n, g.mttm.median, g.mttm.p90),
            "mttr": (g.mttr.n, g.mttr.median, g.mttr.p90),
            "sla": {k: (c.evaluated, c.met) for k, c in g.compliance.items()},
            "escalations": g.escalations,
            "postmortems": (g.postmortems_required, g.postmortems_on_time, g.postmortems_late,
                            g.postmortems_overdue),
            "actions": (g.actions_open, g.actions_overdue),
            "seconds": g.incident_seconds,
        }
    return out


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncEngine:
    await load(engine, HISTORY)
    return engine


def test_the_history_is_what_the_issue_asks_for() -> None:
    """About 500 incidents over 90 days, with every case the report distinguishes present."""
    window = in_window(HISTORY)
    assert len(window) == 500 and len(HISTORY) == 510
    assert {i.severity for i in window} == {"p1", "p2", "p3", "p4"}
    assert any(i.acknowledged_at is None for i in window)  # still open at the end
    assert any(i.postmortem and i.postmortem.draft_at is None for i in window)
    assert any(a.status == "open" and a.due < AS_OF.date() for i in window for a in i.actions)


async def test_report_figures_match_the_history_exactly(seeded: AsyncEngine) -> None:
    """One seeded database per backend, every figure of every group, then the breach list,
    the top models, drift against manual, and an empty window."""
    targets = targets_from_policy(default_policy())
    report = await build_report(seeded, targets, SINCE, UNTIL, AS_OF, breach_limit=10_000)
    expected, actual = _expected(), _actual(report)
    assert set(actual) == set(expected)
    for key in sorted(expected):
        assert actual[key] == expected[key], key
    assert [d for d in DIMENSIONS if report.dimension(d)] == list(DIMENSIONS)

    # breaches: newest first, with what they took (timers: how often they fired)
    breaches = _expected_breaches()
    assert [(b.number, b.kind, b.target, b.took) for b in report.breaches] == breaches
    assert report.breaches_total == len(breaches)
    first = await build_report(seeded, targets, SINCE, UNTIL, AS_OF, breach_limit=5)
    assert [(b.number, b.kind) for b in first.breaches] == [(n, k) for n, k, _t, _took in breaches[:5]]

    # top models by incident minutes; drift against manual
    seconds: dict[str, float] = defaultdict(float)
    for i in in_window(HISTORY):
        seconds[i.model] += ((i.resolved_at or AS_OF) - i.created_at).total_seconds()
    assert [g.key for g in report.top_models(5)] == sorted(seconds, key=lambda m: (-seconds[m], m))
    drift, manual = report.drift_vs_manual()
    assert drift is not None and manual is not None
    assert drift.count == sum(i.trigger == "automated_drift" for i in in_window(HISTORY))
    assert manual.count == sum(i.trigger == "manual" for i in in_window(HISTORY))

    # a window with nothing in it reports nothing rather than zeros
    start = SINCE - timedelta(days=400)
    empty = await build_report(seeded, targets, start, start + timedelta(days=1), AS_OF)
    assert empty.groups == [] and empty.breaches == [] and empty.overall is None


def _expected_breaches() -> list[tuple[int, str, int, float | None]]:
    expected: list[tuple[int, str, int, float | None]] = []
    for i in sorted(in_window(HISTORY), key=lambda i: (i.created_at, i.number), reverse=True):
        row = GOV001[i.severity]
        age = (AS_OF - i.created_at).total_seconds()
        for k, kind in enumerate(TARGET_KINDS):
            target = row[k]
            if target is None:
                continue
            if k < 3:
                took = _secs((i.acknowledged_at, i.mitigated_at, i.resolved_at)[k], i.created_at)
                if (took is None and age >= target) or (took is not None and took > target):
                    expected.append((i.number, kind, target, took))
            else:
                timer = "no_commander" if kind == "commander" else "update_due"
                lived = _secs(i.resolved_at, i.created_at) or age
                if lived >= target and timer in i.fired:
                    expected.append((i.number, kind, target, float(i.fired.count(timer))))
    return expected


def test_the_policy_targets_are_read_as_gov001_says() -> None:
    got = {t.severity.value: tuple(t.get(k) for k in TARGET_KINDS)
           for t in targets_from_policy(default_policy())}
    assert got == GOV001
