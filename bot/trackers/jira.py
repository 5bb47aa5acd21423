"""Jira: REST v2 (description as plain text) or v3 (Atlassian document format), create issue.

Jira Cloud authenticates with basic auth ``email:api-token``; Jira Data Center with a bearer
personal access token (no ``email`` configured). A ticket is closed when its status category
is ``done`` (whatever the workflow calls the status).
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from bot.trackers.http import request_json
from domain.trackers import Ticket, TicketRequest, TrackerConfig, TrackerError, TrackerKind


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian document: one paragraph per blank-line-separated block."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    content = []
    for paragraph in paragraphs:
        parts: list[dict[str, Any]] = []
        for index, line in enumerate(paragraph.split("\n")):
            if index:
                parts.append({"type": "hardBreak"})
            if line:
                parts.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": parts})
    return {"type": "doc", "version": 1, "content": content}


class JiraIssues:
    kind: TrackerKind = "jira"

    def __init__(self, config: TrackerConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self.base = config.url.rstrip("/")
        self.api = f"{self.base}/rest/api/{config.api_version}"

    def _headers(self) -> dict[str, str]:
        if self.config.email:  # Jira Cloud: basic auth with email and API token
            pair = base64.b64encode(f"{self.config.email}:{self.config.token}".encode()).decode()
            return {"Accept": "application/json", "Authorization": f"Basic {pair}"}
        return {"Accept": "application/json", "Authorization": f"Bearer {self.config.token}"}

    async def create(self, request: TicketRequest) -> Ticket:
        fields: dict[str, Any] = {
            "project": {"key": self.config.project},
            "summary": request.title,
            "issuetype": {"name": self.config.issue_type},
            "description": adf(request.description) if self.config.api_version == 3 else request.description,
            "labels": [label.replace(" ", "-") for label in request.labels],
        }
        if request.due is not None:
            fields["duedate"] = request.due.isoformat()
        answer = await request_json(self.session, "POST", f"{self.api}/issue", label="Jira",
                                    headers=self._headers(), body={"fields": fields})
        key = answer.get("key") if isinstance(answer, dict) else None
        if not key:
            raise TrackerError(f"Jira created no issue key: {str(answer)[:200]}")
        return Ticket("jira", key, f"{self.base}/browse/{key}")

    async def is_closed(self, key: str) -> bool:
        answer = await request_json(self.session, "GET", f"{self.api}/issue/{key}?fields=status",
                                    label="Jira", headers=self._headers())
        status = ((answer.get("fields") or {}).get("status") or {}) if isinstance(answer, dict) else {}
        return (status.get("statusCategory") or {}).get("key") == "done"
