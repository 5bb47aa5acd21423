"""IaC drift use cases (issue 7): ingest a report, the humans' choices on a drift event (revert,
codify, accept an exception, escalate to one incident) and the exception clock.

The bot never changes the cloud. Every use case is one transaction; what must be said in Slack
is an outbox row (``IAC_*`` kinds, rendered and delivered by the Slack side).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, cast

from domain.iac.ingest import ingest
from domain.iac.model import IacInputError, IngestReport, TriagedDrift
from domain.iac.normalize import ParseOptions
from domain.iac.ports import IacUnitOfWork, StoredDrift
from domain.model import Actor, AuditEvent, DomainError, Incident, Severity
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService

IAC_MESSAGE = "iac_drift_message"  # outbox: post or update the drift event's Slack message
IAC_EXPIRED = "iac_exception_expired"  # outbox: say in the message's thread that it is open again
IAC_INCOMPLETE = "iac_report_incomplete"  # outbox: a report may not show all drift (issue 15)
INGEST = Actor("iac-ingest", "IaC drift ingest")
EXCEPTION_CLOCK = Actor("iac-exception-clock", "IaC exception clock")
SEVERITY_OF = {"critical": Severity.P1, "high": Severity.P2, "medium": Severity.P3, "low": Severity.P4}


def parse_report(data: Any, now: datetime, source: str, environment: str | None) -> IngestReport:
    """Parse and triage (pure); a report of the right format with fields of the wrong type or
    size is refused with the reason, before anything is stored."""
    try:
        report = ingest(data, now=now, options=ParseOptions(source_name=source, environment=environment))
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        raise IacInputError(f"the report has a field of the wrong shape: {exc!r}"[:300]) from exc
    for item in report.items:  # what the drift_events columns hold
        if len(item.event.resource_type) > 255 or len(item.event.environment) > 64:
            raise IacInputError(f"resource type or environment too long at "
                                f"{item.event.resource_address[:100]!r}")
    return report


def _audit(actor: Actor, now: datetime, action: str, resource_type: str, resource_id: str,
           details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(occurred_at=now, actor=actor.id, actor_name=actor.name, action=action,
                      resource_type=resource_type, resource_id=resource_id, details=details)


def _message(event_id: uuid.UUID) -> OutboxMessage:
    return OutboxMessage(IAC_MESSAGE, None, {"event_id": str(event_id)})


class IacTexts(Protocol):
    """Port: the words the IaC use cases store for Slack to show (``bot/slack_ui/iac.py``)."""

    def exception_reason(self, reason: str, security_approver: str | None) -> str: ...


class PlainIacTexts:
    """:class:`IacTexts` without chat markup (the approver by Slack user id)."""

    def exception_reason(self, reason: str, security_approver: str | None) -> str:
        return reason + (f" · security approver {security_approver}" if security_approver else "")


class IacDrift:
    """The IaC drift use cases over the incident service and the drift events repository."""

    def __init__(self, service: IncidentService, read_uow: Callable[[], IacUnitOfWork],
                 default_model: str | None, texts: IacTexts | None = None) -> None:
        self.service = service
        self.read_uow = read_uow
        self.default_model = default_model
        self.texts: IacTexts = texts or PlainIacTexts()

    async def run(self, work: Callable[[IacUnitOfWork], Any]) -> Any:
        """``service.run`` (one transaction, retried on a concurrent writer) with the IaC port."""
        return await self.service.run(lambda uow: work(cast(IacUnitOfWork, uow)))

    async def load(self, event_id: uuid.UUID) -> StoredDrift | None:
        async with self.read_uow() as uow:
            return await uow.iac_drift.get(event_id)

    async def ingest_data(self, data: Any, source: str, environment: str | None = None) -> dict[str, Any]:
        """Parse, triage and store a report; new or changed drift gets (re)announced in Slack.

        Returns the counts and the report's notices (for the CLI and the webhook's answer); a
        report that may not show all drift (errored, one page of many, unscanned resources) is
        also said in Slack when that changed since the source's last report."""
        now = self.service.clock.now()
        report = parse_report(data, now, source, environment)
        counts = {"events": len(report.items), "new": 0, "changed": 0, "unchanged": 0}
        incomplete = list(report.incomplete)

        async def work(uow: IacUnitOfWork) -> None:
            counts.update(new=0, changed=0, unchanged=0)  # a retried transaction starts over
            for item in report.items:
                counts[await self._store(uow, item, now)] += 1
            if incomplete and incomplete != await uow.iac_drift.last_incomplete(source):
                await uow.outbox.add(OutboxMessage(IAC_INCOMPLETE, None, {
                    "source": source, "format": report.source_format.value, "notices": incomplete}))
            await uow.audit.add(_audit(INGEST, now, "iac.report_ingested", "drift_report", source, {
                **counts, "format": report.source_format.value, "notices": list(report.notices),
                "incomplete": incomplete}))

        await self.run(work)
        return {**counts, "notices": list(report.notices)}

    @staticmethod
    async def _store(uow: IacUnitOfWork, item: TriagedDrift, now: datetime) -> str:
        existing = await uow.iac_drift.by_fingerprint(item.event.fingerprint)
        if existing is not None and existing.change_signature == item.event.change_signature:
            await uow.iac_drift.seen(existing.id, now)
            return "unchanged"
        event_id = await uow.iac_drift.store(item, now, existing)
        await uow.outbox.add(_message(event_id))
        return "new" if existing is None else "changed"

    async def expire_exceptions(self) -> int:
        """Accepted drift whose exception has run out is open again: the message gets its
        buttons back, its thread says why, and the audit trail records it. Returns how many."""
        now = self.service.clock.now()
        expired: list[uuid.UUID] = []

        async def work(uow: IacUnitOfWork) -> None:
            expired.clear()  # a retried transaction starts over
            for due in await uow.iac_drift.due_exceptions(now):
                if not await uow.iac_drift.reopen(due.event_id):
                    continue  # another replica got there first
                expired.append(due.event_id)
                await uow.outbox.add(_message(due.event_id))
                await uow.outbox.add(OutboxMessage(IAC_EXPIRED, None, {
                    "event_id": str(due.event_id), "reason": due.reason,
                    "expired": f"{due.expires_at:%Y-%m-%d}"}))
                await uow.audit.add(_audit(EXCEPTION_CLOCK, now, "iac.exception_expired", "drift_event",
                                           str(due.event_id), {"reason": due.reason,
                                                               "expired_at": due.expires_at.isoformat()}))

        await self.run(work)
        return len(expired)

    async def decide(self, event_id: uuid.UUID, actor: Actor, choice: str, **details: Any) -> None:
        """Audit a human's choice on a drift event (and record Accept's exception)."""
        now = self.service.clock.now()

        async def work(uow: IacUnitOfWork) -> None:
            if choice == "accept":
                reason = self.texts.exception_reason(details["reason"], details.get("security_approver"))
                await uow.iac_drift.accept(event_id, reason, details["expires_at"], now)
                await uow.outbox.add(_message(event_id))
            await uow.audit.add(_audit(actor, now, f"iac.{choice}", "drift_event", str(event_id), {
                k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in details.items()}))

        await self.run(work)

    async def escalate(self, event_id: uuid.UUID, actor: Actor) -> Incident:
        """Open one incident for the drift event, linked in the same transaction; a second
        click finds the first one."""
        stored = await self.load(event_id)
        if stored is None:
            raise DomainError("That drift event no longer exists.")
        if stored.incident_id:
            view = await self.service.view(IncidentRef(incident_id=stored.incident_id))
            raise DomainError(f"Already escalated as {view.incident.key}.")
        if not self.default_model:
            raise DomainError("No model to attach infrastructure incidents to: set IAC_DEFAULT_MODEL.")
        asked = stored.recommendation("escalate_review").get("incident_severity")
        severity = Severity(asked) if asked else SEVERITY_OF.get(stored.severity, Severity.P3)

        declaration = DeclareIncident(
            title=f"Infrastructure drift: {stored.drift_type} {stored.resource_address} "
                  f"({stored.environment})"[:500],
            severity=severity, model_name=self.default_model,
            labels=["iac-drift", stored.environment], description=stored.triage["triage"]["summary"],
            invite=[actor.id] if actor.is_slack_user else [])

        async def work(uow: UnitOfWork) -> Incident:
            incident = await self.service.declare_in(uow, declaration, actor)
            if not await cast(IacUnitOfWork, uow).iac_drift.escalated(event_id, incident.id):
                raise DomainError("Already escalated by someone else a moment ago.")
            await uow.outbox.add(_message(event_id))
            return incident

        return await self.service.run(work)
