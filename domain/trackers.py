"""Follow-ups leave Slack (issue 21): the one small port every issue tracker adapter fills. Pure.

An action item is exported as a ticket to its team's tracker (Jira, GitHub Issues or Linear,
configured per team in ``TRACKERS``); the ticket's key and link are stored with the item, and a
ticket closed in the tracker closes the item (the periodic check asks :meth:`Tracker.is_closed`).
The adapters (bot/trackers/) speak each API over HTTP; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TrackerKind = Literal["jira", "github", "linear"]
KIND_LABELS = {"jira": "Jira", "github": "GitHub", "linear": "Linear"}
DEFAULT_TEAM = "*"


class TrackerError(Exception):
    """The tracker refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class TicketRequest:
    """What a ticket says: the action item, its incident, its owner and due date."""

    title: str
    description: str
    due: date | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ticket:
    tracker: TrackerKind
    key: str  # OPS-24, org/repo#7, ENG-123
    url: str


class Tracker(Protocol):
    """One issue tracker: file a ticket; say whether one is done."""

    kind: TrackerKind

    async def create(self, request: TicketRequest) -> Ticket: ...

    async def is_closed(self, key: str) -> bool: ...


class TrackerConfig(BaseModel):
    """One team's tracker, from the ``TRACKERS`` setting (JSON, team -> config; ``*``: any team)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: TrackerKind
    url: str = Field(min_length=1, description="API base: https://acme.atlassian.net, "
                     "https://api.github.com, https://api.linear.app/graphql")
    token: str = Field(min_length=1)
    email: str | None = None  # Jira Cloud: basic auth email:token; without it, a bearer PAT
    project: str | None = None  # Jira project key
    issue_type: str = "Task"  # Jira
    api_version: Literal[2, 3] = 3  # Jira REST v2 (plain text) or v3 (Atlassian document format)
    repo: str | None = None  # GitHub owner/name
    team_id: str | None = None  # Linear team id
    labels: list[str] = Field(default_factory=lambda: ["incident-action-item"])

    @model_validator(mode="after")
    def _needs(self) -> TrackerConfig:
        needed = {"jira": "project", "github": "repo", "linear": "team_id"}[self.kind]
        if not getattr(self, needed):
            raise ValueError(f"a {KIND_LABELS[self.kind]} tracker needs '{needed}'")
        return self


@dataclass(frozen=True)
class TrackerRouting:
    """Which tracker each team's action items go to."""

    by_team: dict[str, TrackerConfig] = field(default_factory=dict)

    def for_team(self, team: str) -> TrackerConfig | None:
        return self.by_team.get(team) or self.by_team.get(DEFAULT_TEAM)


def parse_trackers(text: str | None) -> TrackerRouting:
    """``TRACKERS`` JSON -> routing; a :class:`ValueError` names the team and the problem."""
    if not text or not text.strip():
        return TrackerRouting()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TRACKERS is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError('TRACKERS must be a JSON object: {"team": {"kind": "jira", ...}}')
    out: dict[str, TrackerConfig] = {}
    for team, config in data.items():
        try:
            out[str(team)] = TrackerConfig.model_validate(config)
        except ValidationError as exc:
            problems = "; ".join(
                (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "")
                + str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
            raise ValueError(f"TRACKERS[{team!r}]: {problems}") from None
    return TrackerRouting(out)


def ticket_request(*, incident_number: int, incident_title: str, item_number: int, text: str,
                   owner: str, due: date | None, severity: str, reference: str,
                   labels: list[str]) -> TicketRequest:
    """The ticket for one action item: the item as its title, where it came from in the body."""
    description = (f"Action item #{item_number} from postmortem of INC-{incident_number} "
                   f"({incident_title}).\n\nOwner (Slack): {owner}\nSeverity: {severity.upper()}\n"
                   f"Reference given in Slack: {reference}\n\n"
                   "Closing this ticket closes the action item in the incident bot.")
    title = f"[INC-{incident_number}] {text}"
    return TicketRequest(title=title[:250], description=description, due=due,
                         labels=tuple(labels))


# -- webhooks: a tracker says a ticket is done --------------------------------------------

SIGNATURE_HEADERS = {"github": "X-Hub-Signature-256", "jira": "X-Hub-Signature", "linear": "Linear-Signature"}


def signature_valid(kind: str, secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """GitHub (``X-Hub-Signature-256``) and Jira Cloud (``X-Hub-Signature``) send
    ``sha256=<hex HMAC-SHA256 of the body>``; Linear (``Linear-Signature``) the bare hex."""
    name = SIGNATURE_HEADERS.get(kind)
    given = headers.get(name, "") if name else ""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    expected = digest if kind == "linear" else f"sha256={digest}"
    return bool(given) and hmac.compare_digest(given.strip(), expected)


def closed_ticket(kind: str, event: str, payload: Any) -> str | None:
    """The key of the ticket a webhook says is done (closed, completed, cancelled); None when
    the event is about anything else."""
    if not isinstance(payload, dict):
        return None
    if kind == "github":
        issue, repo = payload.get("issue") or {}, payload.get("repository") or {}
        if event == "issues" and payload.get("action") == "closed" and issue.get("number") is not None:
            return f"{repo.get('full_name')}#{issue['number']}"
    elif kind == "jira":
        issue = payload.get("issue") or {}
        category = (((issue.get("fields") or {}).get("status") or {}).get("statusCategory") or {})
        if payload.get("webhookEvent") == "jira:issue_updated" and category.get("key") == "done":
            return str(issue.get("key") or "") or None
    elif kind == "linear":
        data = payload.get("data") or {}
        state = (data.get("state") or {}).get("type")
        if payload.get("type") == "Issue" and state in ("completed", "canceled"):
            return str(data.get("identifier") or "") or None
    return None
