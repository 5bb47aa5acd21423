"""Linear: the ``issueCreate`` GraphQL mutation; done when the issue's state type is
``completed`` or ``canceled``. Personal API keys go in ``Authorization`` as they are."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.trackers.http import request_json
from domain.trackers import Ticket, TicketRequest, TrackerConfig, TrackerError, TrackerKind

CREATE = ("mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) "
          "{ success issue { id identifier url } } }")
STATE = "query IssueState($id: String!) { issue(id: $id) { identifier state { type } } }"


class LinearIssues:
    kind: TrackerKind = "linear"

    def __init__(self, config: TrackerConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self.headers = {"Authorization": config.token, "Content-Type": "application/json"}

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = await request_json(self.session, "POST", self.config.url, label="Linear",
                                    headers=self.headers, body={"query": query, "variables": variables})
        if not isinstance(answer, dict):
            raise TrackerError("Linear answered with something not a GraphQL response")
        if answer.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in answer["errors"] if isinstance(e, dict))
            raise TrackerError(f"Linear refused: {messages[:300]}")
        return answer.get("data") or {}

    async def create(self, request: TicketRequest) -> Ticket:
        issue_input: dict[str, Any] = {"teamId": self.config.team_id, "title": request.title,
                                       "description": request.description}
        if request.due is not None:
            issue_input["dueDate"] = request.due.isoformat()
        data = await self._graphql(CREATE, {"input": issue_input})
        created = data.get("issueCreate") or {}
        issue = created.get("issue") or {}
        if not created.get("success") or not issue.get("identifier"):
            raise TrackerError(f"Linear created no issue: {str(data)[:200]}")
        return Ticket("linear", issue["identifier"], str(issue.get("url", "")))

    async def is_closed(self, key: str) -> bool:
        data = await self._graphql(STATE, {"id": key})
        state = ((data.get("issue") or {}).get("state") or {}).get("type")
        return state in ("completed", "canceled")
