"""What the model actions say (issue 18), as a port: the use cases decide *when* something is
said on the incident's timeline and thread, :class:`ModelActionTexts` *how*.

The Slack wording (mentions, emoji, mrkdwn, escaping) is ``bot/slack_ui/model_actions.py``'s
``SlackModelActionTexts``, composed in ``bot/features/model_actions.py``;
:class:`PlainModelActionTexts` says the same facts in plain words for a use case built without a
renderer (scripts, tests).
"""

from __future__ import annotations

from typing import Protocol

from domain.model import Actor
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import AssessmentFact, EarlierIncidentFact, IacDriftFact, PipelineRun
from domain.model_actions.registry import AliasMove, RegistryVersion
from domain.model_actions.rollback import Rollback


class ModelActionTexts(Protocol):
    """Port: the words of each model action and of each "what changed?" item."""

    # -- "what changed?" items -----------------------------------------------------------------
    def alias_change(self, move: AliasMove) -> str: ...

    def version_change(self, model: str, version: RegistryVersion) -> str: ...

    def iac_change(self, fact: IacDriftFact) -> str: ...

    def incident_change(self, fact: EarlierIncidentFact) -> str: ...

    def assessment_change(self, fact: AssessmentFact) -> str: ...

    # -- rollback: each *_note goes on the timeline, each *_post into the incident's thread -----
    def rollback_requested_note(self, actor: Actor, rollback: Rollback) -> str: ...

    def rollback_requested_post(self, actor: Actor, rollback: Rollback) -> str: ...

    def rollback_decided_note(self, actor: Actor, rollback: Rollback) -> str: ...

    def rollback_decided_post(self, actor: Actor, rollback: Rollback) -> str: ...

    def rollback_done(self, rollback: Rollback, moved: bool, registry_kind: str) -> str: ...

    def rollback_failed(self, rollback: Rollback, error: str) -> str: ...

    # -- drift and retraining: one text, on the timeline and in the thread ---------------------
    def drift_accepted(self, actor: Actor, acceptance: DriftAcceptance, psi: float) -> str: ...

    def drift_snoozed(self, actor: Actor, snooze: DriftSnooze) -> str: ...

    def retrain_requested(self, actor: Actor, model: str) -> str: ...

    def retrain_status(self, run: PipelineRun, status: str) -> str: ...


class PlainModelActionTexts:
    """:class:`ModelActionTexts` without chat markup."""

    def alias_change(self, move: AliasMove) -> str:
        if move.version is None:
            what = f"alias {move.alias} removed from v{move.previous}"
        elif move.previous is None:
            what = f"alias {move.alias} set to v{move.version}"
        else:
            what = f"alias {move.alias} moved v{move.previous} -> v{move.version}"
        return what if move.moved_by.startswith("registry") else f"{what} by {move.moved_by}"

    def version_change(self, model: str, version: RegistryVersion) -> str:
        source = f" from {version.source[:120]}" if version.source else ""
        return f"new version v{version.version} of {model} registered{source}"

    def iac_change(self, fact: IacDriftFact) -> str:
        return (f"IaC drift ({fact.severity}, {fact.drift_type}) on {fact.resource_address[:150]} "
                f"in {fact.environment}")

    def incident_change(self, fact: EarlierIncidentFact) -> str:
        cause = f"root cause: {fact.root_cause[:300]}" if fact.root_cause else "no root cause recorded"
        return (f"earlier incident INC-{fact.number} [SEV-{fact.severity[-1:]}] {fact.title[:120]} "
                f"({fact.status}) - {cause}")

    def assessment_change(self, fact: AssessmentFact) -> str:
        verdict = "drift detected" if fact.drift_detected else "no drift"
        return f"drift assessment: PSI {fact.psi_composite:.2f}, {verdict}"

    def rollback_requested_note(self, actor: Actor, rollback: Rollback) -> str:
        return (f"{actor.name} requests a rollback of {rollback.model} {rollback.alias} "
                f"v{rollback.from_version or '?'} -> v{rollback.to_version}: {rollback.reason}")

    def rollback_requested_post(self, actor: Actor, rollback: Rollback) -> str:
        return self.rollback_requested_note(actor, rollback)

    def rollback_decided_note(self, actor: Actor, rollback: Rollback) -> str:
        glass = " (break-glass self-approval, GOV-001 5.3)" if rollback.break_glass else ""
        return (f"{actor.name} {rollback.status.value} the rollback of {rollback.model} to "
                f"v{rollback.to_version} asked by {rollback.requested_by_name}{glass}.")

    def rollback_decided_post(self, actor: Actor, rollback: Rollback) -> str:
        return self.rollback_decided_note(actor, rollback)

    def rollback_done(self, rollback: Rollback, moved: bool, registry_kind: str) -> str:
        return (f"Rolled back {rollback.model}: {rollback.alias} -> v{rollback.to_version} in the "
                f"{registry_kind} registry" + ("" if moved else " (it already pointed there)") + ".")

    def rollback_failed(self, rollback: Rollback, error: str) -> str:
        return f"Rollback of {rollback.model} to v{rollback.to_version} failed: {error[:300]}"

    def drift_accepted(self, actor: Actor, acceptance: DriftAcceptance, psi: float) -> str:
        return (f"{actor.name} accepted the drift of {acceptance.model} (PSI {psi:.2f}) until "
                f"{acceptance.expires_at:%Y-%m-%d %H:%M} UTC: the window that drifted is its "
                f"reference from now on. Reason: {acceptance.reason}")

    def drift_snoozed(self, actor: Actor, snooze: DriftSnooze) -> str:
        return (f"{actor.name} snoozed drift alerts of {snooze.model} until "
                f"{snooze.until:%Y-%m-%d %H:%M} UTC. Reason: {snooze.reason}")

    def retrain_requested(self, actor: Actor, model: str) -> str:
        return f"{actor.name} asked to retrain {model}."

    def retrain_status(self, run: PipelineRun, status: str) -> str:
        where = f" ({run.run_url})" if run.run_url else f" run {run.run_id}" if run.run_id else ""
        return f"Retraining of {run.model}{where}: {status}."
