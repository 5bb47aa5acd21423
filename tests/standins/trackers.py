"""Local stand-ins for Jira, GitHub Issues and Linear, speaking each API's real shapes.

One aiohttp server on loopback answers the three APIs on their own paths:

* Jira REST ``POST /rest/api/{2,3}/issue`` and ``GET /rest/api/{2,3}/issue/{key}?fields=status``:
  basic auth ``email:token`` or a bearer PAT; ``fields.project.key``, a single-line ``summary``,
  ``issuetype.name``; ``description`` a string on v2 and an Atlassian document on v3 (v3 refuses
  a string as Jira Cloud does); labels without spaces; ``duedate`` as YYYY-MM-DD.
  201 ``{"id", "key", "self"}``; errors as ``{"errorMessages": [...], "errors": {...}}``.
* GitHub ``POST /repos/{owner}/{repo}/issues`` and ``GET .../issues/{number}``: ``Authorization:
  Bearer`` (or ``token``), a ``title``; 201 with ``number``, ``html_url``, ``state``; 401
  ``Bad credentials``, 422 ``Validation Failed``.
* Linear ``POST /graphql``: the API key in ``Authorization`` as is; the ``issueCreate`` mutation
  with ``input.teamId`` / ``title`` and the ``issue(id:)`` query; ``{"data": ...}`` or
  ``{"errors": [...]}``.

Tests close tickets with :meth:`TrackerStandIn.close` and read what was filed in :attr:`issues`.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JIRA_EMAIL, JIRA_TOKEN, JIRA_PROJECT = "bot@example.com", "jira-api-token", "OPS"
GITHUB_TOKEN, GITHUB_REPO = "ghp_standintoken", "acme/ml-platform"
LINEAR_KEY, LINEAR_TEAM, LINEAR_PREFIX = "lin_api_standin", "team-uuid-ml", "ML"


@dataclass
class FiledIssue:
    tracker: str
    key: str
    request: dict[str, Any]
    state: str = "open"  # open | done
    api_version: int | None = None


@dataclass
class TrackerStandIn:
    issues: list[FiledIssue] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/rest/api/{version:[23]}/issue", self._jira_create)
        app.router.add_get("/rest/api/{version:[23]}/issue/{key}", self._jira_get)
        app.router.add_post("/repos/{owner}/{repo}/issues", self._github_create)
        app.router.add_get("/repos/{owner}/{repo}/issues/{number}", self._github_get)
        app.router.add_post("/graphql", self._linear)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> TrackerStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def close(self, key: str) -> None:
        """Someone closed the ticket in the tracker."""
        self.issue(key).state = "done"

    def issue(self, key: str) -> FiledIssue:
        return next(i for i in self.issues if i.key == key)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        response: web.StreamResponse = await handler(request)
        return response

    # -- Jira ------------------------------------------------------------------------------

    @staticmethod
    def _jira_error(status: int, messages: list[str] | None = None,
                    errors: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"errorMessages": messages or [], "errors": errors or {}}, status=status)

    @staticmethod
    def _jira_authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            return base64.b64decode(header[6:]).decode() == f"{JIRA_EMAIL}:{JIRA_TOKEN}"
        return header == f"Bearer {JIRA_TOKEN}"

    async def _jira_create(self, request: web.Request) -> web.Response:
        if not self._jira_authorised(request):
            return web.Response(status=401, text="Client must be authenticated to access this resource.")
        version = int(request.match_info["version"])
        body = await request.json()
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return self._jira_error(400, ["No fields given"])
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") != JIRA_PROJECT:
            errors["project"] = "valid project is required"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or len(summary) > 255:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        if not (fields.get("issuetype") or {}).get("name"):
            errors["issuetype"] = "Specify an issue type"
        description = fields.get("description")
        if version == 3 and description is not None and not _is_adf(description):
            errors["description"] = ("Operation value must be an Atlassian Document "
                                     "(see the Atlassian Document Format)")
        if version == 2 and description is not None and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or " " in label:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "duedate" in fields and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(fields["duedate"])):
            errors["duedate"] = "Error parsing date string: " + str(fields["duedate"])
        if errors:
            return self._jira_error(400, errors=errors)
        issue_id = str(10000 + len(self.issues))
        key = f"{JIRA_PROJECT}-{sum(1 for i in self.issues if i.tracker == 'jira') + 1}"
        self.issues.append(FiledIssue("jira", key, body, api_version=version))
        return web.json_response({"id": issue_id, "key": key,
                                  "self": f"{self.url}/rest/api/{version}/issue/{issue_id}"}, status=201)

    async def _jira_get(self, request: web.Request) -> web.Response:
        if not self._jira_authorised(request):
            return web.Response(status=401, text="Client must be authenticated to access this resource.")
        key = request.match_info["key"]
        found = [i for i in self.issues if i.tracker == "jira" and i.key == key]
        if not found:
            return self._jira_error(404, ["Issue does not exist or you do not have permission to see it."])
        done = found[0].state == "done"
        category = {"key": "done", "name": "Done"} if done else {"key": "new", "name": "To Do"}
        return web.json_response({"id": "1", "key": key, "fields": {"status": {
            "name": "Done" if done else "To Do", "statusCategory": category}}})

    # -- GitHub ----------------------------------------------------------------------------

    @staticmethod
    def _github_authorised(request: web.Request) -> bool:
        return request.headers.get("Authorization") in (f"Bearer {GITHUB_TOKEN}", f"token {GITHUB_TOKEN}")

    async def _github_create(self, request: web.Request) -> web.Response:
        if not self._github_authorised(request):
            return web.json_response({"message": "Bad credentials",
                                      "documentation_url": "https://docs.github.com/rest"}, status=401)
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if repo != GITHUB_REPO:
            return web.json_response({"message": "Not Found"}, status=404)
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
            return web.json_response({"message": "Validation Failed", "errors": [
                {"resource": "Issue", "code": "missing_field", "field": "title"}]}, status=422)
        number = sum(1 for i in self.issues if i.tracker == "github") + 1
        self.issues.append(FiledIssue("github", f"{repo}#{number}", body))
        return web.json_response(self._github_issue(repo, number, body, "open"), status=201)

    @staticmethod
    def _github_issue(repo: str, number: int, body: dict[str, Any], state: str) -> dict[str, Any]:
        return {"id": 1000 + number, "number": number, "state": state, "title": body.get("title"),
                "body": body.get("body"), "labels": [{"name": n} for n in body.get("labels") or []],
                "url": f"https://api.github.com/repos/{repo}/issues/{number}",
                "html_url": f"https://github.com/{repo}/issues/{number}"}

    async def _github_get(self, request: web.Request) -> web.Response:
        if not self._github_authorised(request):
            return web.json_response({"message": "Bad credentials"}, status=401)
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        key = f"{repo}#{request.match_info['number']}"
        found = [i for i in self.issues if i.tracker == "github" and i.key == key]
        if not found:
            return web.json_response({"message": "Not Found"}, status=404)
        issue = found[0]
        return web.json_response(self._github_issue(repo, int(request.match_info["number"]), issue.request,
                                                    "closed" if issue.state == "done" else "open"))

    # -- Linear ----------------------------------------------------------------------------

    async def _linear(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != LINEAR_KEY:
            return web.json_response({"errors": [{"message": "Authentication required, not authenticated",
                                                  "extensions": {"code": "AUTHENTICATION_ERROR"}}]},
                                     status=400)
        body = await request.json()
        query = body.get("query", "") if isinstance(body, dict) else ""
        variables = body.get("variables") or {}
        if "issueCreate(input: $input)" in query:
            return self._linear_create(body, variables.get("input") or {})
        if re.search(r"\bissue\(id: \$id\)", query):
            return self._linear_state(str(variables.get("id", "")))
        return web.json_response({"errors": [{"message": "Unknown operation"}]}, status=400)

    def _linear_create(self, body: dict[str, Any], issue_input: dict[str, Any]) -> web.Response:
        if not issue_input.get("title"):
            return web.json_response({"errors": [{"message": "Argument Validation Error",
                                                  "extensions": {"code": "INVALID_INPUT"}}]}, status=400)
        if issue_input.get("teamId") != LINEAR_TEAM:
            return web.json_response({"data": None, "errors": [{"message": "Entity not found: Team",
                                                                "path": ["issueCreate"]}]})
        number = sum(1 for i in self.issues if i.tracker == "linear") + 1
        key = f"{LINEAR_PREFIX}-{number}"
        self.issues.append(FiledIssue("linear", key, body))
        return web.json_response({"data": {"issueCreate": {"success": True, "issue": {
            "id": str(uuid.uuid4()), "identifier": key,
            "url": f"https://linear.app/acme/issue/{key}/action-item"}}}})

    def _linear_state(self, key: str) -> web.Response:
        found = [i for i in self.issues if i.tracker == "linear" and i.key == key]
        if not found:
            return web.json_response({"data": None, "errors": [{"message": "Entity not found: Issue"}]})
        state = "completed" if found[0].state == "done" else "started"
        return web.json_response({"data": {"issue": {"identifier": key, "state": {"type": state}}}})


def _is_adf(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and isinstance(value.get("content"), list))
