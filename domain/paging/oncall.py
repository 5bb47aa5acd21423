"""Who is on call (issue 19, item 7): PagerDuty's current on-call per escalation policy, per team,
with the people as chat users where their e-mail matches.

Reads only: PagerDuty and the chat directory are behind :class:`PagerDutyDirectory` and
:class:`People` (bot/delivery/paging_directory.py). The rules here are which escalation policy a
team is (``PAGERDUTY_TEAMS``, else the policy whose name is the team's), the order shown (level 1
first) and which teams may be paged at all (the error lists them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.model import DomainError


@dataclass(frozen=True)
class PdUser:
    id: str
    name: str
    email: str | None = None


@dataclass(frozen=True)
class EscalationPolicy:
    id: str
    name: str


@dataclass(frozen=True)
class OnCallShift:
    """One entry of PagerDuty's ``GET /oncalls``: who answers a policy at a level, until when."""

    policy: EscalationPolicy
    level: int
    user: PdUser
    schedule: str | None = None  # the schedule's name; None when the level names the user
    end: datetime | None = None  # None: on call until further notice


class PagerDutyUnavailable(DomainError):
    """PagerDuty could not be asked (not configured, refused, unreachable): the message says
    what is wrong and which setting to look at."""


class UnknownTeam(DomainError):
    """A team no setting and no escalation policy names (the message lists the valid ones)."""


class PagerDutyDirectory(Protocol):
    """Port: PagerDuty's reads (REST API v2)."""

    async def escalation_policies(self) -> list[EscalationPolicy]: ...

    async def on_call(self, policy_ids: Sequence[str]) -> list[OnCallShift]:
        """``GET /oncalls`` for these policies, users included (with their e-mail)."""

    async def user_by_email(self, email: str) -> PdUser | None: ...


class People(Protocol):
    """Port: the chat workspace's directory, by e-mail and back."""

    async def by_email(self, email: str) -> str | None:
        """The chat user id with this e-mail, or None when nobody has it."""

    async def email_of(self, user_id: str) -> str | None: ...


@dataclass(frozen=True)
class PagingConfig:
    """Which escalation policy and which Events API v2 routing key each team pages."""

    teams: dict[str, str] = field(default_factory=dict)  # team -> escalation policy id
    routing_keys: dict[str, str] = field(default_factory=dict)  # team (or "default") -> key
    api_configured: bool = False  # PAGERDUTY_API_TOKEN is set

    def known_teams(self) -> list[str]:
        """The teams the settings name (``default`` is a fallback key, not a team)."""
        return sorted({*self.teams, *(t for t in self.routing_keys if t != "default")})


@dataclass(frozen=True)
class TeamOnCall:
    team: str
    policy: EscalationPolicy
    shifts: tuple[OnCallShift, ...]  # level 1 first
    chat_users: dict[str, str] = field(default_factory=dict)  # PagerDuty user id -> chat user id


def slug(text: str) -> str:
    """``"ML Platform"`` and ``"ml_platform"`` are both ``ml-platform``: how a team is matched."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def policy_for_team(team: str, policies: Sequence[EscalationPolicy]) -> EscalationPolicy | None:
    """The policy named as the team (``ML Platform``), or named after it (``ML Platform - EP``);
    an exact name wins over a prefix."""
    wanted = slug(team)
    if not wanted:
        return None
    exact = [p for p in policies if slug(p.name) == wanted]
    prefixed = [p for p in policies if slug(p.name).startswith(wanted + "-")]
    found = exact or prefixed
    return found[0] if found else None


def ordered(shifts: Sequence[OnCallShift]) -> tuple[OnCallShift, ...]:
    """Level 1 first, then the others; one line per person and level (PagerDuty lists a user
    once per schedule that puts them there)."""
    seen: set[tuple[int, str]] = set()
    out = []
    for shift in sorted(shifts, key=lambda s: (s.level, s.user.name.lower(), s.user.id)):
        if (shift.level, shift.user.id) not in seen:
            seen.add((shift.level, shift.user.id))
            out.append(shift)
    return tuple(out)


def unknown_team(team: str, known: Sequence[str]) -> UnknownTeam:
    teams = ", ".join(f"`{t}`" for t in known) or "none are configured (set PAGERDUTY_TEAMS)"
    return UnknownTeam(f"Unknown team `{team[:60]}`. Teams: {teams}.")


class OnCall:
    """``/incident oncall [team]``: who is on call now, per team's escalation policy."""

    def __init__(self, directory: PagerDutyDirectory, people: People, config: PagingConfig) -> None:
        self.directory = directory
        self.people = people
        self.config = config

    def _require_api(self) -> None:
        if not self.config.api_configured:
            raise PagerDutyUnavailable(
                "PagerDuty is not configured: set PAGERDUTY_API_TOKEN (a read-only REST API key "
                "does) and map teams to escalation policies in PAGERDUTY_TEAMS.")

    async def teams(self, team: str | None) -> list[tuple[str, EscalationPolicy]]:
        """The team (or every team) and its escalation policy."""
        self._require_api()
        policies = await self.directory.escalation_policies()
        by_id = {p.id: p for p in policies}
        if team is None:
            if not self.config.teams:  # no mapping: each policy is a team of its own name
                return [(p.name, p) for p in sorted(policies, key=lambda p: p.name.lower())]
            return [(t, by_id.get(pid, EscalationPolicy(pid, pid)))
                    for t, pid in sorted(self.config.teams.items())]
        mapped = {slug(t): (t, pid) for t, pid in self.config.teams.items()}
        if slug(team) in mapped:
            name, pid = mapped[slug(team)]
            return [(name, by_id.get(pid, EscalationPolicy(pid, pid)))]
        policy = policy_for_team(team, policies)
        if policy is None:
            raise unknown_team(team, self.config.known_teams() or sorted(p.name for p in policies))
        return [(team, policy)]

    async def who(self, team: str | None = None) -> list[TeamOnCall]:
        pairs = await self.teams(team)
        shifts = await self.directory.on_call([p.id for _, p in pairs]) if pairs else []
        emails = {s.user.id: s.user.email for s in shifts if s.user.email}
        chat_users: dict[str, str] = {}
        for pd_id, email in emails.items():
            found = await self.people.by_email(email)
            if found:
                chat_users[pd_id] = found
        return [TeamOnCall(name, policy, ordered([s for s in shifts if s.policy.id == policy.id]),
                           {k: v for k, v in chat_users.items()
                            if any(s.user.id == k and s.policy.id == policy.id for s in shifts)})
                for name, policy in pairs]
