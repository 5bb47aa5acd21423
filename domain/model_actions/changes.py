""""What changed?" before an incident: one list, newest first, times relative to the incident.

The items come from several places (the registry's alias history and versions, IaC drift
events, the model's earlier incidents, drift assessments); here they are only filtered to the
window and ordered; their words are ``ModelActionTexts``' (``domain/model_actions/texts.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_WINDOW = timedelta(hours=24)
MAX_ITEMS = 25


class ChangeKind(StrEnum):
    ALIAS_MOVE = "alias_move"
    NEW_VERSION = "new_version"
    IAC_DRIFT = "iac_drift"
    EARLIER_INCIDENT = "earlier_incident"
    DRIFT_ASSESSMENT = "drift_assessment"


@dataclass(frozen=True)
class Change:
    occurred_at: datetime
    kind: ChangeKind
    text: str  # already worded (and escaped) by whoever made it


def relative(when: datetime, reference: datetime) -> str:
    """``30 min before``, ``2 h 5 min before``, ``3 d before``, ``at declaration``, ``4 min after``."""
    seconds = (reference - when).total_seconds()
    if abs(seconds) < 60:
        return "at declaration"
    side = "before" if seconds > 0 else "after"
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        span = f"{minutes} min"
    elif minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        span = f"{hours} h {rest} min" if rest else f"{hours} h"
    else:
        span = f"{minutes // (24 * 60)} d"
    return f"{span} {side}"


def what_changed(items: Iterable[Change], incident_at: datetime,
                 window: timedelta = DEFAULT_WINDOW,
                 keep_older: Iterable[ChangeKind] = (ChangeKind.EARLIER_INCIDENT,),
                 limit: int = MAX_ITEMS) -> list[Change]:
    """What happened in ``window`` before the incident (and up to its declaration), newest
    first. Earlier incidents are kept whatever their age: their root causes are the point."""
    older_ok = set(keep_older)
    start = incident_at - window
    kept = [c for c in items
            if c.occurred_at <= incident_at + timedelta(minutes=1)
            and (c.occurred_at >= start or c.kind in older_ok)]
    kept.sort(key=lambda c: c.occurred_at, reverse=True)
    return kept[:limit]

