"""A local PagerDuty (REST API v2 + Events API v2) that the real ``pagerduty`` client talks to.

Point ``PAGERDUTY_API_URL`` and ``PAGERDUTY_EVENTS_URL`` at :attr:`url`. It keeps incidents,
users, notes, escalation policies, on-call entries and responder requests in memory, records every
call in :attr:`calls`, checks the headers PagerDuty requires (``Authorization: Token token=...``,
the REST ``From`` header on writes, routing keys on events), deduplicates Events API triggers by
``dedup_key`` as PagerDuty does (one open incident per key) and signs webhook deliveries the way
PagerDuty does (:func:`sign`). :meth:`PagerDutyStandIn.webhook` is the V3 delivery PagerDuty sends
when one of its incidents changes (``data`` is the incident, ``incident_key`` included).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

JSON = dict[str, Any]


def sign(body: bytes, *secrets_: str) -> str:
    """The ``X-PagerDuty-Signature`` header: one ``v1=`` HMAC-SHA256 per active secret."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets_)


@dataclass
class PdCall:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    time: float = field(default_factory=time.time)  # when the request arrived
    status: int = 0  # what it was answered (0 until answered)


_CALL = web.RequestKey("pd_call", PdCall)


@dataclass
class PagerDutyStandIn:
    api_token: str = "pd-test-token"
    users: dict[str, JSON] = field(default_factory=dict)
    incidents: dict[str, JSON] = field(default_factory=dict)
    notes: dict[str, list[JSON]] = field(default_factory=dict)
    events: list[JSON] = field(default_factory=list)
    calls: list[PdCall] = field(default_factory=list)
    fail_remaining: int = 0  # the next N calls answer 503, as during a PagerDuty outage
    lose_remaining: int = 0  # the next N calls are performed, then answered 502 (the answer lost)
    escalation_policies: dict[str, JSON] = field(default_factory=dict)
    oncalls: list[JSON] = field(default_factory=list)
    open_alerts: dict[tuple[str, str], str] = field(default_factory=dict)  # (key, dedup) -> incident
    services: dict[str, JSON] = field(default_factory=dict)  # routing key -> its service's reference
    down: bool = False  # every call answers 503 until set_down(False)
    latency: float = 0.0  # seconds every call waits before it is answered
    url: str = ""
    ca_file: str = ""  # trust this (PAGERDUTY_CA_BUNDLE): the real client insists on https://
    _runner: web.AppRunner | None = None
    _tmp: Any = None

    def add_user(self, user_id: str, name: str, email: str) -> None:
        self.users[user_id] = {
            "id": user_id,
            "type": "user",
            "name": name,
            "email": email,
            "summary": name,
            "self": f"{self.url}/users/{user_id}",
        }

    def add_incident(self, incident_id: str, status: str = "triggered") -> None:
        self.incidents[incident_id] = {"id": incident_id, "type": "incident", "status": status,
                                       "incident_key": None, "incidents_responders": [],
                                       "responder_requests": []}

    def _reference(self, kind: str, obj: JSON) -> JSON:
        path = {"user": "users", "escalation_policy": "escalation_policies", "schedule": "schedules"}[kind]
        return {"id": obj["id"], "type": f"{kind}_reference", "summary": obj.get("summary") or obj["name"],
                "self": f"{self.url}/{path}/{obj['id']}", "html_url": f"https://standin.pagerduty.com/{path}/{obj['id']}"}

    def add_escalation_policy(self, policy_id: str, name: str) -> None:
        self.escalation_policies[policy_id] = {
            "id": policy_id, "type": "escalation_policy", "name": name, "summary": name,
            "self": f"{self.url}/escalation_policies/{policy_id}", "num_loops": 0,
            "escalation_rules": [], "services": [], "teams": []}

    def add_oncall(self, policy_id: str, level: int, user_id: str, schedule: str | None = None,
                   end: str | None = None) -> None:
        """Put ``user_id`` on call for the policy at ``level`` (a schedule's name, or directly)."""
        policy = self._reference("escalation_policy", self.escalation_policies[policy_id])
        entry: JSON = {"escalation_policy": policy,
                       "escalation_level": level, "user": user_id, "schedule": None,
                       "start": "2026-11-30T00:00:00Z" if schedule else None, "end": end}
        if schedule:
            entry["schedule"] = self._reference("schedule", {"id": "S" + secrets.token_hex(3).upper(),
                                                             "name": schedule})
        self.oncalls.append(entry)

    def add_service(self, routing_key: str, service_id: str, name: str) -> None:
        """A service with an Events API v2 integration (``routing_key``): the incidents its events
        open belong to it."""
        self.services[routing_key] = {
            "html_url": f"https://standin.pagerduty.com/service-directory/{service_id}",
            "id": service_id, "self": f"{self.url}/services/{service_id}", "summary": name,
            "type": "service_reference"}

    def webhook(self, event_type: str, incident_id: str, event_id: str, occurred_at: str,
                agent: str | None = None) -> JSON:
        """The Webhooks V3 body PagerDuty delivers for ``event_type`` on one of its incidents, as it
        stands now: ``data`` is the incident (with the ``incident_key`` an Events API trigger gave
        it); the agent is the user who acted, else the incident's service (an integration's event).
        Sign the serialised body with :func:`sign`."""
        incident = self.incidents[incident_id]
        service = incident.get("service")
        actor = self._reference("user", self.users[agent]) if agent else service
        data = {key: incident.get(key) for key in (
            "id", "type", "self", "html_url", "number", "status", "incident_key", "created_at",
            "title", "service", "assignees", "escalation_policy", "teams", "priority", "urgency",
            "conference_bridge", "resolve_reason")}
        return {"event": {"id": event_id, "event_type": event_type, "resource_type": "incident",
                          "occurred_at": occurred_at, "agent": actor, "client": None, "data": data}}

    def lose_next(self, n: int) -> None:
        """The next ``n`` calls are performed, then answered 502 as if the answer were lost."""
        self.lose_remaining = n

    def incident_for_dedup_key(self, dedup_key: str) -> JSON | None:
        return next((i for i in self.incidents.values() if i.get("incident_key") == dedup_key), None)

    async def start(self) -> str:
        app = web.Application(middlewares=[self._faults])
        app.router.add_put("/incidents/{id}", self._put_incident)
        app.router.add_get("/incidents/{id}", self._get_incident)
        app.router.add_post("/incidents/{id}/notes", self._post_note)
        app.router.add_get("/users/{id}", self._get_user)
        app.router.add_get("/users", self._list_users)
        app.router.add_get("/escalation_policies", self._list_escalation_policies)
        app.router.add_get("/oncalls", self._list_oncalls)
        app.router.add_post("/incidents/{id}/responder_requests", self._post_responder_request)
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"https://{host}:{port}"
        return self.url

    def _tls(self) -> ssl.SSLContext:
        """A throw-away CA and a certificate for 127.0.0.1 (trustme)."""
        import trustme

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._tmp = tempfile.TemporaryDirectory()
        self.ca_file = str(Path(self._tmp.name) / "pagerduty-standin-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        return context

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    def calls_to(self, method: str, path_prefix: str) -> list[PdCall]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        call = PdCall(request.method, request.path, body, dict(request.headers))
        self.calls.append(call)
        request[_CALL] = call
        return body

    def fail_next(self, n: int) -> None:
        self.fail_remaining = n

    def set_down(self, down: bool = True) -> None:
        """An outage: while ``down``, every call (REST and Events API) answers 503."""
        self.down = down

    def set_latency(self, seconds: float) -> None:
        """Answer every call only after ``seconds`` (0 turns it off)."""
        self.latency = seconds

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply :meth:`set_latency` and :meth:`set_down` to every route; note each answer's status."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.down:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = raw.decode(errors="replace")
            self.calls.append(PdCall(request.method, request.path, body, dict(request.headers), status=503))
            return web.json_response({"error": {"message": "Service Unavailable"}}, status=503)
        response = await handler(request)
        if self.lose_remaining > 0 and response.status < 400:
            self.lose_remaining -= 1  # performed, but the caller never learns it
            response = web.json_response({"error": {"message": "Bad Gateway"}}, status=502)
        call = request.get(_CALL)
        if call is not None:
            call.status = response.status
        return response

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self.fail_remaining > 0:
            self.fail_remaining -= 1
            return web.json_response({"error": {"message": "Service Unavailable"}}, status=503)
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            return web.json_response({"error": {"message": "Unauthorized", "code": 2006}}, status=401)
        return None

    async def _put_incident(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        if not request.headers.get("From"):
            return web.json_response(
                {
                    "error": {
                        "message": "Requester User Not Found",
                        "code": 2100,
                        "errors": ["A valid From header is required"],
                    }
                },
                status=400,
            )
        incident = self.incidents.setdefault(
            request.match_info["id"], {"id": request.match_info["id"], "type": "incident"}
        )
        status = ((body or {}).get("incident") or {}).get("status")
        if status not in ("acknowledged", "resolved"):
            return web.json_response(
                {"error": {"message": "Invalid Input Provided", "code": 2001}}, status=400
            )
        incident["status"] = status
        return web.json_response({"incident": incident})

    async def _get_incident(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
        return web.json_response({"incident": incident})

    async def _post_note(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        content = ((body or {}).get("note") or {}).get("content")
        if not content or not request.headers.get("From"):
            return web.json_response(
                {"error": {"message": "Invalid Input Provided", "code": 2001}}, status=400
            )
        note = {"id": "N" + secrets.token_hex(4).upper(), "content": content}
        self.notes.setdefault(request.match_info["id"], []).append(note)
        return web.json_response({"note": note}, status=201)

    async def _get_user(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        user = self.users.get(request.match_info["id"])
        if user is None:
            return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
        return web.json_response({"user": user})

    @staticmethod
    def _page(request: web.Request, items: list[JSON], key: str) -> web.Response:
        """Classic pagination (``limit``, ``offset``, ``more``), as the REST API v2 lists do."""
        limit = int(request.query.get("limit", 25))
        offset = int(request.query.get("offset", 0))
        page = items[offset:offset + limit]
        return web.json_response({key: page, "limit": limit, "offset": offset,
                                  "more": offset + limit < len(items), "total": None})

    async def _list_users(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        query = request.query.get("query", "").lower()
        found = [u for u in self.users.values()
                 if query in u["name"].lower() or query in u["email"].lower()]
        return self._page(request, found, "users")

    async def _list_escalation_policies(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        query = request.query.get("query", "").lower()
        found = [p for p in self.escalation_policies.values() if query in p["name"].lower()]
        return self._page(request, found, "escalation_policies")

    async def _list_oncalls(self, request: web.Request) -> web.Response:
        """``GET /oncalls``: ``escalation_policy_ids[]`` filters, ``include[]=users`` embeds the
        full user objects (with ``email``) instead of references."""
        await self._record(request)
        if (refused := self._authorised(request)) is not None:
            return refused
        wanted = set(request.query.getall("escalation_policy_ids[]", []))
        full_users = "users" in request.query.getall("include[]", [])
        found = []
        for entry in self.oncalls:
            if wanted and entry["escalation_policy"]["id"] not in wanted:
                continue
            user = self.users[entry["user"]]
            found.append({**entry, "user": dict(user) if full_users else self._reference("user", user)})
        return self._page(request, found, "oncalls")

    async def _post_responder_request(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        if (refused := self._authorised(request)) is not None:
            return refused
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
        targets = body.get("responder_request_targets") or []
        requester = self.users.get(str(body.get("requester_id")))
        if not request.headers.get("From") or requester is None or not targets or not all(
                (t.get("responder_request_target") or {}).get("type")
                in ("user_reference", "escalation_policy_reference") for t in targets):
            return web.json_response({"error": {"message": "Invalid Input Provided", "code": 2001,
                                                "errors": ["requester_id and responder_request_targets "
                                                           "are required"]}}, status=400)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        answered = []
        for target in targets:
            ref = target["responder_request_target"]
            users = [ref["id"]] if ref["type"] == "user_reference" else [
                o["user"] for o in self.oncalls if o["escalation_policy"]["id"] == ref["id"]
                and o["escalation_level"] == 1]
            responders = [{"state": "pending", "user": self._reference("user", self.users[u]),
                           "incident": {"id": incident["id"], "type": "incident_reference"},
                           "updated_at": now, "message": body.get("message"),
                           "requester": self._reference("user", requester), "requested_at": now}
                          for u in users if u in self.users]
            incident.setdefault("incidents_responders", []).extend(responders)
            answered.append({"responder_request_target": {
                "type": ref["type"].removesuffix("_reference"), "id": ref["id"], "summary": "",
                "incidents_responders": responders}})
        responder_request = {"incident": {"id": incident["id"], "type": "incident_reference"},
                             "requester": self._reference("user", requester), "requested_at": now,
                             "message": body.get("message"), "responder_request_targets": answered}
        incident.setdefault("responder_requests", []).append(responder_request)
        return web.json_response({"responder_request": responder_request})

    def _apply_event(self, body: JSON, dedup_key: str) -> None:
        """One open incident per routing key and dedup key: a repeated trigger is folded into it."""
        alert = (body["routing_key"], dedup_key)
        if body["event_action"] == "trigger" and alert not in self.open_alerts:
            incident_id = "Q" + secrets.token_hex(6).upper()
            self.incidents[incident_id] = {
                "id": incident_id, "type": "incident", "status": "triggered",
                "incident_key": dedup_key, "title": body["payload"]["summary"],
                "incidents_responders": [], "responder_requests": [],
                "self": f"{self.url}/incidents/{incident_id}",
                "html_url": f"https://standin.pagerduty.com/incidents/{incident_id}",
                "number": len(self.incidents) + 1,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "service": self.services.get(body["routing_key"]), "assignees": [],
                "escalation_policy": None, "teams": [], "priority": None, "urgency": "high",
                "conference_bridge": None, "resolve_reason": None}
            self.open_alerts[alert] = incident_id
        elif body["event_action"] in ("acknowledge", "resolve") and alert in self.open_alerts:
            incident = self.incidents[self.open_alerts[alert]]
            incident["status"] = "acknowledged" if body["event_action"] == "acknowledge" else "resolved"
            if body["event_action"] == "resolve":
                del self.open_alerts[alert]

    async def _enqueue(self, request: web.Request) -> web.Response:
        body = await self._record(request) or {}
        if not body.get("routing_key") or body.get("event_action") not in (
            "trigger",
            "acknowledge",
            "resolve",
        ):
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["routing_key and event_action are required"],
                },
                status=400,
            )
        if body["event_action"] == "trigger" and not (body.get("payload") or {}).get("summary"):
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["'payload.summary' is missing or blank"],
                },
                status=400,
            )
        dedup_key = body.get("dedup_key") or secrets.token_hex(16)
        self.events.append(body)
        self._apply_event(body, dedup_key)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
        )
