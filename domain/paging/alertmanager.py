"""Alertmanager alert groups as incidents: one group, one incident.

A firing group declares an incident (or notes its alerts on the one still active); a resolved
group notes it and asks, in the incident's channel, whether to resolve the incident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from domain.model import Actor, DomainError, Incident, InvalidSeverity, Severity, TriggerSource
from domain.paging.pagerduty import EventResult, Verdict
from domain.paging.ports import AlertGroup, AlreadyLinked, PagingUnitOfWork
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, DeclareIncident, IncidentRef, IncidentService

ALERTMANAGER = "alertmanager"
ALERT_SEVERITIES = {
    "critical": Severity.P2,
    "error": Severity.P2,
    "high": Severity.P2,
    "warning": Severity.P3,
    "medium": Severity.P3,
    "info": Severity.P4,
    "low": Severity.P4,
}


@dataclass(frozen=True)
class AlertNotification:
    """A shape-checked webhook v4 payload (handlers/webhooks/alertmanager.py)."""

    group_key: str
    status: str  # firing | resolved
    alerts: list[dict[str, Any]]
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    receiver: str = "webhook"
    external_url: str = ""


def source_ref(*parts: Any) -> str:
    """A timeline source_ref (unique, at most 255 characters) from parts of any length."""
    ref = ":".join(str(p) for p in parts)
    if len(ref) <= 255:
        return ref
    return f"{parts[0]}:sha256:{hashlib.sha256(ref.encode('utf-8', 'replace')).hexdigest()}"


def alert_severity(raw: str) -> Severity:
    try:
        return Severity.parse(raw)
    except InvalidSeverity:
        return ALERT_SEVERITIES.get(raw.lower(), Severity.P3)


def _alert_text(alert: dict[str, Any], default: str | None = None) -> Any:
    labels = alert.get("labels") or {}
    return (alert.get("annotations") or {}).get("description") or (
        labels.get("alertname", default) if default else labels.get("alertname"))


class AlertGroupEvents:
    """The Alertmanager use cases. ``resolve_prompt(incident)`` is the channel message (text
    and buttons, built by the Slack side) asking whether to resolve once the alerts have."""

    def __init__(self, service: IncidentService, read_uow: Callable[[], PagingUnitOfWork],
                 resolve_prompt: Callable[[Incident], dict[str, Any]]) -> None:
        self.service = service
        self.read_uow = read_uow
        self.resolve_prompt = resolve_prompt

    async def handle(self, note: AlertNotification) -> EventResult:
        """One transaction: a group this bot knows is noted (or resolved) on its incident; a new
        one, or one whose incident has ended, declares an incident linked to it."""
        actor = Actor(ALERTMANAGER, f"Alertmanager ({note.receiver})")

        async def work(uow: UnitOfWork) -> EventResult:
            paging = cast(PagingUnitOfWork, uow)
            group = await paging.alert_groups.get(note.group_key)
            result = await self._on_group(paging, note, actor, group)
            if result is not None:
                return result
            incident = await self._open(paging, note, actor, replace=group is not None)
            return EventResult(Verdict.CREATED, {"incident": incident.key})

        try:
            return await self.service.run(work)
        except AlreadyLinked:
            # an HA peer sent the same new group at the same moment and won the race:
            # its incident is the one, and nothing of this attempt was written
            return await self._duplicate(note.group_key)

    async def _on_group(self, uow: PagingUnitOfWork, note: AlertNotification, actor: Actor,
                        group: AlertGroup | None) -> EventResult | None:
        """What the group's current incident takes; None when a new incident is needed."""
        current = (await self.service.resolve_ref(uow, IncidentRef(incident_id=group.incident_id))
                   if group is not None else None)
        if note.status == "firing":
            if current is None or not current.status.is_active:
                return None
            for alert in note.alerts:
                await self.service.add_note_in(
                    uow, IncidentRef(incident_id=current.id), actor,
                    f"Alert firing: {_alert_text(alert, 'alert')}",
                    source_ref=source_ref(ALERTMANAGER, note.group_key, alert.get("fingerprint"),
                                          alert.get("startsAt")))
            return EventResult(Verdict.APPLIED, {"incident": current.key, "updated": True})
        if current is None:
            return EventResult(Verdict.IGNORED, {"ignored": "resolved group without an incident"})
        outcome = await self.service.add_note_in(
            uow, IncidentRef(incident_id=current.id), actor,
            "Alertmanager: every alert in the group is resolved",
            source_ref=source_ref(ALERTMANAGER, note.group_key, "resolved", current.id))
        if outcome.changed and current.status.is_active:
            await uow.alert_groups.mark_resolved(note.group_key)
            await uow.outbox.add(OutboxMessage(CHANNEL, current.id, self.resolve_prompt(current)))
        return EventResult(Verdict.APPLIED, {"incident": current.key, "resolved_alerts": True})

    async def _duplicate(self, group_key: str) -> EventResult:
        async with self.read_uow() as uow:
            group = await uow.alert_groups.get(group_key)
        if group is None:  # not that race after all: say so, and let Alertmanager retry
            return EventResult(Verdict.RETRY,
                               {"error": "the alert group could not be recorded; send it again"})
        incident = (await self.service.view(IncidentRef(incident_id=group.incident_id))).incident
        return EventResult(Verdict.DUPLICATE, {"incident": incident.key, "duplicate": True})

    async def _open(self, uow: PagingUnitOfWork, note: AlertNotification, actor: Actor,
                    replace: bool) -> Incident:
        """Declare the group's incident and link the group to it (raises :class:`AlreadyLinked`
        when a concurrent delivery linked a new group first)."""
        alerts = note.alerts
        labels = {**((alerts[0].get("labels") or {}) if alerts else {}), **note.common_labels}
        model = labels.get("model")
        if not model:
            raise DomainError(
                "the alert has no `model` label naming the affected model (add it in the alerting rule)")
        title = str(note.common_annotations.get("summary") or labels.get("alertname")
                    or "Alertmanager alert")
        lines = [f"Alertmanager group `{note.group_key}` ({len(alerts)} alert(s)); {note.external_url}"]
        lines += [f"• {_alert_text(a)}" for a in alerts[:10]]
        incident = await self.service.declare_in(uow, DeclareIncident(
            title=title, severity=alert_severity(str(labels.get("severity") or "")),
            model_name=str(model), description="\n".join(lines),
            trigger_source=TriggerSource.AUTOMATED_PERFORMANCE,
            labels=["alertmanager", str(labels.get("alertname", ""))]), actor)
        await uow.alert_groups.link(note.group_key, incident.id, self.service.clock.now(), replace)
        return incident
