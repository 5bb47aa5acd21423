"""A seeded incident history for the report (issue 21): ~500 incidents over 90 days.

Generated deterministically (``random.Random(seed)``), in whole seconds, with everything the
report reads: acknowledge / mitigate / resolve times around the GOV-001 targets (so some are
met and some breached), incidents still open at the end, timers the SLO clocks fired
(escalations, no-commander, update reminders), postmortems on time, late and overdue, and
action items open, done and overdue. A few incidents fall outside the window on purpose.

:func:`generate` returns plain records; :func:`load` writes them through SQLAlchemy Core.
The tests compute the expected figures from the records themselves, independently of the
report's SQL.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.governance_gaps_tables import postmortem_analyses
from storage.postmortem_tables import action_items, postmortems
from storage.tables import incidents, models
from storage.timer_tables import incident_timers_fired

SINCE = datetime(2026, 8, 1, tzinfo=UTC)
DAYS = 90
UNTIL = SINCE + timedelta(days=DAYS)
AS_OF = UNTIL + timedelta(hours=6)

MODELS = (("credit-risk-v3", "risk-ml"), ("fraud-detector", "fraud"), ("churn-predictor", "growth"),
          ("ranker-v2", "search"), ("pricing-gbm", "risk-ml"))
SEVERITIES = ("p1", "p2", "p3", "p4")
SEVERITY_WEIGHTS = (1, 3, 4, 2)
TRIGGERS = ("manual", "automated_drift", "automated_performance", "pagerduty")
TRIGGER_WEIGHTS = (4, 3, 2, 1)
# GOV-001 ack / mitigate targets in seconds, to place times around them
ACK = {"p1": 300, "p2": 900, "p3": 3600, "p4": 14400}
MITIGATE = {"p1": 1800, "p2": 7200, "p3": 28800, "p4": 86400}
POSTMORTEM_WITHIN = {"p1": 48 * 3600, "p2": 7 * 86400}


@dataclass
class ActionRecord:
    status: str
    due: date


@dataclass
class PostmortemRecord:
    due_at: datetime
    draft_at: datetime | None
    analysis_at: datetime | None


@dataclass
class HistoryIncident:
    number: int
    severity: str
    model: str
    team: str
    trigger: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    fired: list[str] = field(default_factory=list)  # timer kinds, one entry per timer fired
    postmortem: PostmortemRecord | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def status(self) -> str:
        if self.resolved_at:
            return "resolved"
        if self.mitigated_at:
            return "mitigated"
        return "investigating" if self.acknowledged_at else "open"


def _after(rng: random.Random, start: datetime, target: int) -> datetime:
    """A time after ``start``: mostly within ``target``, a fifth up to three times it."""
    spread = target * 3 if rng.random() < 0.2 else target
    return start + timedelta(seconds=rng.randint(1, spread))


def _incident(rng: random.Random, number: int, created: datetime) -> HistoryIncident:
    sev = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
    model, team = rng.choice(MODELS)
    inc = HistoryIncident(number, sev, model, team, rng.choices(TRIGGERS, TRIGGER_WEIGHTS)[0], created)
    fate = rng.random()  # 4% open, 4% acknowledged, 6% mitigated, the rest resolved
    if fate >= 0.04:
        inc.acknowledged_at = _after(rng, created, ACK[sev])
    if fate >= 0.08:
        inc.mitigated_at = _after(rng, inc.acknowledged_at or created, MITIGATE[sev])
    if fate >= 0.14:
        inc.resolved_at = _after(rng, inc.mitigated_at or created, MITIGATE[sev] * 2)
    if sev != "p4" and (inc.mitigated_at is None or inc.mitigated_at - created > timedelta(
            seconds=MITIGATE[sev])):
        inc.fired.append("escalation")
    if sev in ("p1", "p2") and rng.random() < 0.15:
        inc.fired.append("no_commander")
    if sev in ("p1", "p2"):
        inc.fired += ["update_due"] * rng.choice((0, 0, 0, 1, 2))
    if rng.random() < 0.3:
        inc.fired.append("ack_breach")  # read by nothing in the report: must not count anywhere
    if sev in ("p1", "p2") and inc.resolved_at is not None:
        due = inc.resolved_at + timedelta(seconds=POSTMORTEM_WITHIN[sev])
        roll = rng.random()
        draft = analysis = None
        if roll < 0.85:  # drafted: on time, or up to two days late
            late = roll >= 0.65
            draft = due - timedelta(hours=rng.randint(1, 40)) if not late else due + timedelta(
                hours=rng.randint(1, 48))
            if rng.random() < 0.9:  # factors recorded too, sometimes after the draft
                analysis = draft + timedelta(hours=rng.choice((-2, 0, 3)))
        inc.postmortem = PostmortemRecord(due, draft, analysis)
        for _ in range(rng.randint(0, 3)):
            inc.actions.append(ActionRecord(rng.choice(("open", "done")),
                                            (inc.resolved_at + timedelta(days=rng.randint(1, 60))).date()))
    return inc


def generate(seed: int = 21, count: int = 500) -> list[HistoryIncident]:
    """``count`` incidents in the window, plus 6 before it and 4 after it (never reported)."""
    rng = random.Random(seed)
    out: list[HistoryIncident] = []
    number = 1
    for _ in range(6):
        out.append(_incident(rng, number, SINCE - timedelta(seconds=rng.randint(1, 30 * 86400))))
        number += 1
    starts = sorted(rng.randint(0, DAYS * 86400 - 1) for _ in range(count))
    for offset in starts:
        out.append(_incident(rng, number, SINCE + timedelta(seconds=offset)))
        number += 1
    for _ in range(4):
        out.append(_incident(rng, number, UNTIL + timedelta(seconds=rng.randint(0, 3600))))
        number += 1
    return out


def in_window(history: list[HistoryIncident]) -> list[HistoryIncident]:
    return [i for i in history if SINCE <= i.created_at < UNTIL]


async def load(engine: AsyncEngine, history: list[HistoryIncident]) -> None:
    """Write the history into a migrated database."""
    model_ids = {name: uuid.uuid5(uuid.NAMESPACE_URL, f"model:{name}") for name, _ in MODELS}
    registered = SINCE - timedelta(days=365)
    rows: dict[str, list[dict[str, object]]] = {"inc": [], "fired": [], "pm": [], "pa": [], "ai": []}
    for inc in history:
        rows["inc"].append({
            "id": inc.id, "number": inc.number, "title": f"Incident {inc.number}",
            "severity": inc.severity, "status": inc.status, "model_id": model_ids[inc.model],
            "trigger_source": inc.trigger, "labels": [], "created_at": inc.created_at,
            "updated_at": inc.resolved_at or inc.created_at, "acknowledged_at": inc.acknowledged_at,
            "mitigated_at": inc.mitigated_at, "resolved_at": inc.resolved_at,
            "created_by": "U0SEED", "version": 1})
        for n, kind in enumerate(inc.fired):
            rows["fired"].append({"incident_id": inc.id, "key": f"{kind}:{inc.severity}:{n}", "kind": kind,
                                  "due_at": inc.created_at, "fired_at": inc.created_at})
        if inc.postmortem is not None:
            pm = inc.postmortem
            rows["pm"].append({"incident_id": inc.id, "required": True, "due_at": pm.due_at,
                               "draft_posted_at": pm.draft_at, "draft_posted_by": "U0IC"})
            if pm.analysis_at is not None:
                rows["pa"].append({"incident_id": inc.id, "contributing_factors": "seeded",
                                   "recorded_by": "U0IC", "recorded_at": pm.analysis_at})
        for n, item in enumerate(inc.actions, start=1):
            rows["ai"].append({"id": uuid.uuid4(), "incident_id": inc.id, "number": n,
                               "text": f"action {n}", "owner": "U0OWNER", "due_date": item.due,
                               "severity": inc.severity, "ticket": f"OPS-{inc.number * 10 + n}",
                               "status": item.status, "created_by": "U0IC",
                               "created_at": inc.created_at})
    async with engine.begin() as conn:
        await conn.execute(sa.insert(models), [
            {"id": model_ids[name], "name": name, "version": "1.0.0", "stage": "production",
             "team": team, "registered_at": registered, "labels": []} for name, team in MODELS])
        for table, key in ((incidents, "inc"), (incident_timers_fired, "fired"), (postmortems, "pm"),
                           (postmortem_analyses, "pa"), (action_items, "ai")):
            if rows[key]:
                await conn.execute(sa.insert(table), rows[key])
