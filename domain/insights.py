"""Learning from incidents (issue 21): what the report's figures mean. Pure.

The figures are computed in SQL (storage/reports.py) on PostgreSQL and SQLite alike; this
module fixes their definitions, so both databases, the CLI, Slack and the digest agree:

- **MTTA / MTTM / MTTR**: seconds from the declaration (``created_at``) to
  ``acknowledged_at`` / ``mitigated_at`` / ``resolved_at`` (``Incident.time_to_*``), over the
  incidents that reached the milestone. Median and p90 are *nearest-rank* percentiles: the
  smallest value with at least p of the values at or below it (rank ``ceil(p * n)``), i.e.
  PostgreSQL's ``percentile_disc``. A nearest rank is always a real incident's figure, never
  an interpolation between two.
- **SLA compliance per target** (GOV-001 section 3, from the policy in force):
  ``ack`` / ``mitigate`` / ``resolve``: an incident counts once its milestone is reached or its
  deadline has passed at ``as_of``; it *met* the target when the milestone came within it.
  ``commander`` / ``update`` (cadence): an incident counts when it lived (until resolution, or
  until ``as_of``) at least as long as the target; it *met* it when the bot never had to fire
  the ``no_commander`` / ``update_due`` timer for it (the same judgment the SLO clocks made).
- **Escalations fired**: escalation timers the SLO clocks fired.
- **Postmortems on time**: required postmortems done (draft posted and contributing factors
  recorded) by their due time; *overdue*: not done and past due at ``as_of``.
- **Action items open / overdue**: items not done; overdue when their due date is before
  ``as_of``'s date.
- **Incident minutes**: declaration to resolution (or to ``as_of`` while unresolved).

Incidents are selected by declaration time, ``since <= created_at < until``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from domain.model import Severity, TriggerSource
from domain.policy import Policy

TARGET_KINDS = ("ack", "mitigate", "resolve", "commander", "update")
TARGET_LABELS = {"ack": "Acknowledge", "mitigate": "Mitigate", "resolve": "Resolve",
                 "commander": "Commander assigned", "update": "Update cadence"}
DIMENSIONS = ("overall", "severity", "model", "team", "trigger_source")
DIMENSION_LABELS = {"overall": "All incidents", "severity": "Severity", "model": "Model",
                    "team": "Team", "trigger_source": "Trigger source"}
OVERALL_KEY = "all"


@dataclass(frozen=True)
class Targets:
    """One severity's targets in whole seconds (None: no target), read from the policy."""

    severity: Severity
    ack: int | None = None
    mitigate: int | None = None
    resolve: int | None = None
    commander: int | None = None
    update: int | None = None

    def get(self, kind: str) -> int | None:
        value: int | None = getattr(self, kind)
        return value


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def targets_from_policy(policy: Policy) -> list[Targets]:
    """The SLA targets of every severity, as the report measures them."""
    out = []
    for severity in Severity:
        rule = policy.rule(severity)
        out.append(Targets(severity, _seconds(rule.ack), _seconds(rule.mitigate),
                           _seconds(rule.resolve), _seconds(rule.commander_within),
                           _seconds(rule.update_cadence)))
    return out


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (rank ``ceil(p * n)`` of the sorted values); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


@dataclass(frozen=True)
class Spread:
    """Median and p90 of one duration, in seconds, over ``n`` incidents (None when n is 0)."""

    n: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Compliance:
    """One target for one group: incidents it applied to, and how many met it."""

    kind: str
    evaluated: int
    met: int

    @property
    def breached(self) -> int:
        return self.evaluated - self.met

    @property
    def percent(self) -> float | None:
        """Share met, 0-100, to one decimal; None when the target applied to nothing."""
        return None if not self.evaluated else round(100.0 * self.met / self.evaluated, 1)


@dataclass(frozen=True)
class GroupFigures:
    """All figures for one group (``dimension`` = ``key``), e.g. severity = p1."""

    dimension: str
    key: str
    count: int
    mtta: Spread
    mttm: Spread
    mttr: Spread
    compliance: dict[str, Compliance]
    escalations: int
    postmortems_required: int
    postmortems_on_time: int
    postmortems_late: int
    postmortems_overdue: int
    actions_open: int
    actions_overdue: int
    incident_seconds: float

    @property
    def incident_minutes(self) -> float:
        """Declaration to resolution (or to ``as_of``), summed over the group, in minutes."""
        return round(self.incident_seconds / 60.0, 1)


@dataclass(frozen=True)
class Breach:
    """One incident that missed one target. ``took``: seconds to the milestone (None: not
    reached by ``as_of``; for commander/update, the number of times the timer fired)."""

    number: int
    severity: str
    model: str
    team: str
    kind: str
    target: int
    took: float | None

    @property
    def key(self) -> str:
        return f"INC-{self.number}"


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    as_of: datetime
    policy_name: str
    groups: list[GroupFigures]
    breaches: list[Breach] = field(default_factory=list)
    breaches_total: int = 0

    def dimension(self, name: str) -> list[GroupFigures]:
        return [g for g in self.groups if g.dimension == name]

    def group(self, dimension: str, key: str) -> GroupFigures | None:
        for g in self.groups:
            if g.dimension == dimension and g.key == key:
                return g
        return None

    @property
    def overall(self) -> GroupFigures | None:
        return self.group("overall", OVERALL_KEY)

    def top_models(self, n: int = 5) -> list[GroupFigures]:
        """Models by incident minutes, most first (ties by name)."""
        models = sorted(self.dimension("model"), key=lambda g: (-g.incident_seconds, g.key))
        return models[:n]

    def drift_vs_manual(self) -> tuple[GroupFigures | None, GroupFigures | None]:
        return (self.group("trigger_source", TriggerSource.AUTOMATED_DRIFT.value),
                self.group("trigger_source", TriggerSource.MANUAL.value))


@dataclass(frozen=True)
class OverduePostmortem:
    """A required postmortem not done by its due time; ``owner``: the incident commander."""

    number: int
    title: str
    owner: str | None
    due_at: datetime


@dataclass(frozen=True)
class OverdueAction:
    """An open action item past its due date, with its owner (a Slack user id)."""

    incident_number: int
    number: int
    text: str
    owner: str
    due: date
    ticket: str


@dataclass(frozen=True)
class Followups:
    postmortems: list[OverduePostmortem]
    actions: list[OverdueAction]


class ReportSource(Protocol):
    """Where reports come from (storage/reports.py computes them in SQL)."""

    async def report(self, since: datetime, until: datetime, as_of: datetime,
                     breach_limit: int = 200) -> Report: ...

    async def overdue_followups(self, as_of: datetime, limit: int = 20) -> Followups: ...


_WINDOW_RE = re.compile(r"(\d{1,4})\s*([dwh])?")


def parse_window(text: str, default: timedelta = timedelta(days=30)) -> timedelta:
    """``30d`` / ``4w`` / ``48h`` / ``30`` (days) for ``/incident stats``; empty: the default."""
    text = text.strip().lower()
    if not text:
        return default
    match = _WINDOW_RE.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"`{text}` is not a window; use e.g. 7d, 30d, 4w or 48h")
    amount = int(match.group(1))
    unit = match.group(2) or "d"
    delta = {"d": timedelta(days=amount), "w": timedelta(weeks=amount),
             "h": timedelta(hours=amount)}[unit]
    if delta > timedelta(days=3660):
        raise ValueError(f"`{text}` is longer than ten years")
    return delta


def human_duration(seconds: float | None) -> str:
    """``5400`` -> ``1h30m``; ``None`` -> ``-``. Short enough for a table cell."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    if total < 60:
        return f"{total}s"
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def percent_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def week_window(now: datetime) -> tuple[datetime, datetime, datetime]:
    """The digest's weeks: (previous week's start, this week's start, now), each 7 days long."""
    this_start = now - timedelta(days=7)
    return this_start - timedelta(days=7), this_start, now


def compliance_delta(current: Compliance | None, previous: Compliance | None) -> float | None:
    """Percentage points gained (+) or lost (-) since the previous period; None if either is empty."""
    if current is None or previous is None or current.percent is None or previous.percent is None:
        return None
    return round(current.percent - previous.percent, 1)


def report_as_dict(report: Report) -> dict[str, object]:
    """The report as plain JSON-able data (``--format json``)."""

    def spread(s: Spread) -> dict[str, object]:
        return {"n": s.n, "median_seconds": s.median, "p90_seconds": s.p90}

    groups = []
    for g in report.groups:
        groups.append({
            "dimension": g.dimension, "key": g.key, "count": g.count,
            "mtta": spread(g.mtta), "mttm": spread(g.mttm), "mttr": spread(g.mttr),
            "sla": {k: {"evaluated": c.evaluated, "met": c.met, "breached": c.breached,
                        "percent_met": c.percent} for k, c in g.compliance.items()},
            "escalations": g.escalations,
            "postmortems": {"required": g.postmortems_required, "on_time": g.postmortems_on_time,
                            "late": g.postmortems_late, "overdue": g.postmortems_overdue},
            "action_items": {"open": g.actions_open, "overdue": g.actions_overdue},
            "incident_minutes": g.incident_minutes, "incident_seconds": g.incident_seconds,
        })
    drift, manual = report.drift_vs_manual()
    return {
        "since": report.since.isoformat(), "until": report.until.isoformat(),
        "as_of": report.as_of.isoformat(), "policy": report.policy_name,
        "groups": groups,
        "top_models_by_incident_minutes": [
            {"model": g.key, "incident_minutes": g.incident_minutes, "count": g.count}
            for g in report.top_models(10)],
        "drift_vs_manual": {"drift": drift.count if drift else 0,
                            "manual": manual.count if manual else 0},
        "breaches_total": report.breaches_total,
        "breaches": [{"incident": b.key, "severity": b.severity, "model": b.model, "team": b.team,
                      "target": b.kind, "target_seconds": b.target, "took": b.took}
                     for b in report.breaches],
    }
