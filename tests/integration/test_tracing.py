"""OpenTelemetry tracing (issue 16 item 4): one Slack click is one trace (request, use case,
database commit), the deliveries it caused are traces of their own linked back to it, every
HTTP response names its trace in X-Trace-Id, and the log lines carry the same id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from bot.local.stack import LocalStack
from bot.logging_config import configure
from bot.policy_loader import load_policy_file
from bot.settings import Settings
from bot.slack_ui.incident import ACTION_ACK
from bot.tracing import Tracing, from_settings
from tests.e2e.conftest import webhook_settings
from tests.fakes import FakeClock
from tests.standins.pagerduty import PagerDutyStandIn

DECLARE = "declare P1 credit-risk-v3 Null predictions since 14:02"
FAST = load_policy_file(Path(__file__).resolve().parents[2] / "policies" / "fast-demo.yml")
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


def named(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    found = [s for s in spans if s.context.span_id == span.parent.span_id]
    return found[0] if found else None


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    names, current = [], parent_of(span, spans)
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


async def test_an_acknowledge_click_is_one_trace_and_its_deliveries_link_back_to_it(
        database_url: str) -> None:
    exporter = InMemorySpanExporter()
    async with LocalStack(database_url, tracing=Tracing.exporting_to(exporter, batch=False)) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        incidents = stack.slack.channel_id("ml-incidents")
        announcement = stack.slack.top_level("ml-incidents")[-1]
        exporter.clear()  # from here on: the click and what it causes
        status, _ = await stack.driver.block_action(ACTION_ACK, message_ts=announcement["ts"],
                                                    channel_id=incidents, user_id="U0RESPOND")
        assert status == 200
        await stack.settle()
        thread = stack.slack.thread(incidents, announcement["ts"])
        assert any("INC-1 acknowledged" in m.get("text", "") for m in thread)
    spans = list(exporter.get_finished_spans())

    [request] = named(spans, "POST /slack/events")
    assert request.kind is SpanKind.SERVER and request.parent is None
    assert request.attributes["http.response.status_code"] == 200
    click = request.context.trace_id
    [work] = named(spans, "work change_status")
    assert work.context.trace_id == click and work.parent.span_id == request.context.span_id
    commits = [s for s in named(spans, "db.commit") if s.context.trace_id == click]
    assert commits and all("work change_status" in ancestors(c, spans) for c in commits)

    deliveries = named(spans, "outbox.deliver")
    assert deliveries, "the click queued Slack messages"
    for delivery in deliveries:  # a trace of its own (it may run much later, elsewhere)...
        assert delivery.parent is None and delivery.context.trace_id != click
        assert delivery.attributes["outbox.result"] == "done"
        # ... linked to the span that queued it, in the click's trace
        [link] = delivery.links
        assert link.context.trace_id == click
        assert link.context.span_id in {s.context.span_id for s in spans
                                        if s.context.trace_id == click}
    posts = named(spans, "slack chat.postMessage")
    assert posts and all(p.kind is SpanKind.CLIENT for p in posts)
    assert all(parent_of(p, spans) in deliveries for p in posts)


async def test_a_page_to_pagerduty_is_a_delivery_linked_to_the_declaration(database_url: str) -> None:
    pd = PagerDutyStandIn()
    await pd.start()
    exporter = InMemorySpanExporter()
    try:
        async with LocalStack(database_url, tracing=Tracing.exporting_to(exporter, batch=False),
                              settings_overrides={
                                  **webhook_settings(pd, pd_secret="s", am_token="a", iac_token="i"),
                                  "pagerduty_routing_keys": {"risk-ml": "R0RISKML"}}) as stack:
            status, _ = await stack.driver.slash_command(DECLARE)
            assert status == 200
            await stack.settle()
        assert [e["routing_key"] for e in pd.events] == ["R0RISKML"]
    finally:
        await pd.stop()
    spans = list(exporter.get_finished_spans())
    [declaration] = named(spans, "POST /slack/events")
    [page] = [s for s in named(spans, "outbox.deliver") if s.attributes["peer.service"] == "pagerduty"]
    assert page.attributes["outbox.result"] == "done"
    assert [link.context.trace_id for link in page.links] == [declaration.context.trace_id]


async def test_a_tick_that_fires_is_a_trace_its_reminders_link_back_to(database_url: str) -> None:
    """SLO reminders are queued by the clock, not a request: their deliveries link to the tick."""
    exporter = InMemorySpanExporter()
    clock = FakeClock()
    async with LocalStack(database_url, clock=clock, policy=FAST, settings_overrides={
            "tick_seconds": 0}, tracing=Tracing.exporting_to(exporter, batch=False)) as stack:
        await stack.driver.slash_command(DECLARE)
        await stack.settle()
        ticker = stack.container.features.clocks
        await ticker.tick()  # plans the new incident: nothing due yet
        assert not named(list(exporter.get_finished_spans()), "clocks.tick")
        clock.advance(seconds=6)  # past FAST's 5 s acknowledgement target
        assert (await ticker.tick()).fired
        await stack.settle()
    spans = list(exporter.get_finished_spans())
    [tick] = named(spans, "clocks.tick")
    assert tick.parent is None and tick.attributes["clocks.actions"] >= 1
    assert any(s.name == "db.commit" and parent_of(s, spans) is tick for s in spans)
    linked = [d for d in named(spans, "outbox.deliver")
              if [link.context.trace_id for link in d.links] == [tick.context.trace_id]]
    assert linked and all(d.attributes["outbox.result"] == "done" for d in linked)


def trace_headers(answer: Any) -> str:
    trace_id = answer.headers.get("X-Trace-Id", "")
    assert len(trace_id) == 32 and int(trace_id, 16), answer.headers
    return str(trace_id)


@pytest.mark.parametrize("traced", [True, False], ids=["tracing-on", "tracing-off"])
async def test_every_response_names_its_trace(database_url: str, traced: bool) -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.exporting_to(exporter, batch=False) if traced else Tracing.off()
    async with LocalStack(database_url, tracing=tracing) as stack:
        session = await stack.driver._http()
        seen = []
        for method, path, status in (("POST", "/slack/events", 401),  # unsigned
                                     ("GET", "/health", 200), ("GET", "/metrics", 200),
                                     ("POST", "/webhooks/alertmanager", 401),  # no token
                                     ("POST", "/webhooks/pagerduty", 401),  # no signature
                                     ("GET", "/no-such-path", 404),
                                     ("GET", "/slack/events", 405)):
            async with session.request(method, stack.url + path, data=b"{}") as answer:
                assert answer.status == status, (path, await answer.text())
                seen.append(trace_headers(answer))
        assert len(set(seen)) == len(seen), "each request is a trace of its own"
        # a caller's W3C traceparent is continued, traced or not
        async with session.post(stack.url + "/webhooks/alertmanager", data=b"{}",
                                headers={"traceparent": TRACEPARENT}) as answer:
            assert trace_headers(answer) == CALLER_TRACE
    if traced:
        server = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert {format_trace_id(s.context.trace_id) for s in server} >= set(seen) - {
            seen[1], seen[2]}  # the probes answer with an id but make no span (scrape noise)
        assert not named(list(server), "GET /health") and not named(list(server), "GET /metrics")


@pytest.fixture
def json_logs() -> Iterator[None]:
    saved = structlog.get_config()
    configure("INFO", "json")
    yield
    structlog.configure(**saved)


async def test_log_lines_written_for_a_request_carry_its_trace_id(
        database_url: str, json_logs: None, capsys: pytest.CaptureFixture[str]) -> None:
    exporter = InMemorySpanExporter()
    async with LocalStack(database_url, tracing=Tracing.exporting_to(exporter, batch=False)) as stack:
        capsys.readouterr()
        body = json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": "nope"})
        session = await stack.driver._http()
        async with session.post(stack.driver.url, data=body, headers={
                "Content-Type": "application/json", **stack.driver.signed_headers(body)}) as answer:
            assert answer.status == 400
            trace_id = trace_headers(answer)
        captured = capsys.readouterr()
    lines = [json.loads(line) for line in (captured.out + captured.err).splitlines()
             if line.startswith("{")]
    [refused] = [line for line in lines if line["event"] == "slack.malformed_payload"]
    assert refused["trace_id"] == trace_id and refused["span_id"]


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: what an OpenTelemetry collector is to the bot."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_with_an_otlp_endpoint_spans_reach_the_collector(
        database_url: str, collector: ThreadingHTTPServer) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on; the spans still buffered are sent
    when the bot stops."""
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    async with LocalStack(database_url, settings_overrides={
            "otel_exporter_otlp_endpoint": endpoint, "otel_service_name": "incident-bot-test"}
            ) as stack:
        assert stack.container.tracing.enabled
        status, _ = await stack.driver.slash_command("help")
        assert status == 200
        await stack.settle()
    received = collector.received  # type: ignore[attr-defined]
    assert received and {path for path, _ in received} == {"/v1/traces"}
    names, services = set(), set()
    for _, body in received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes
                         if a.key == "service.name"}
            names |= {span.name for scope in resource_spans.scope_spans for span in scope.spans}
    assert services == {"incident-bot-test"}
    assert "POST /slack/events" in names


def test_tracing_is_off_without_an_endpoint_or_when_the_sdk_is_disabled() -> None:
    assert not from_settings(Settings(_env_file=None)).enabled
    assert not from_settings(Settings(_env_file=None, otel_exporter_otlp_endpoint="http://c:4318",
                                      otel_sdk_disabled=True)).enabled
    on = from_settings(Settings(_env_file=None, otel_exporter_otlp_endpoint="http://c:4318"))
    assert on.enabled
    on.shutdown()
