"""GitHub Issues: ``POST /repos/{owner}/{repo}/issues``; closed when ``state`` is ``closed``."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.trackers.http import request_json
from domain.trackers import Ticket, TicketRequest, TrackerConfig, TrackerError, TrackerKind


class GitHubIssues:
    kind: TrackerKind = "github"

    def __init__(self, config: TrackerConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self.base = config.url.rstrip("/")
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                        "Authorization": f"Bearer {config.token}"}

    async def create(self, request: TicketRequest) -> Ticket:
        body: dict[str, Any] = {"title": request.title, "labels": list(request.labels),
                                "body": request.description + (
                                    f"\n\nDue: {request.due.isoformat()}" if request.due else "")}
        answer = await request_json(self.session, "POST", f"{self.base}/repos/{self.config.repo}/issues",
                                    label="GitHub", headers=self.headers, body=body)
        number = answer.get("number") if isinstance(answer, dict) else None
        if not isinstance(number, int):
            raise TrackerError(f"GitHub created no issue number: {str(answer)[:200]}")
        return Ticket("github", f"{self.config.repo}#{number}", str(answer.get("html_url", "")))

    async def is_closed(self, key: str) -> bool:
        repo, _, number = key.rpartition("#")
        answer = await request_json(self.session, "GET", f"{self.base}/repos/{repo}/issues/{number}",
                                    label="GitHub", headers=self.headers)
        return isinstance(answer, dict) and answer.get("state") == "closed"
