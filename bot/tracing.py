"""OpenTelemetry tracing (seed 002): built once in the composition root and passed down.

``OTEL_EXPORTER_OTLP_ENDPOINT`` set: an SDK tracer provider whose spans go, in batches, to that
OTLP/HTTP endpoint (``/v1/traces`` is appended, as the OTel environment spec says). Unset, or
``OTEL_SDK_DISABLED=true``: the API's no-op tracer, which records nothing and costs a function
call per span. The provider is never installed as OpenTelemetry's process-global one: each
part that makes spans is handed :attr:`Tracing.tracer`, so a test can build a bot whose spans go
to an in-memory exporter beside another bot's.

Reading the current span (log lines, the outbox row's ``traceparent``) goes through
OpenTelemetry's context, a contextvar like structlog's, so it follows each request and task.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from bot.settings import Settings

INSTRUMENTATION = "incident_bot"
W3C = TraceContextTextMapPropagator()


@dataclass
class Tracing:
    """The tracer the bot's parts make spans with, and the provider to flush at shutdown."""

    tracer: Tracer = field(default_factory=trace.NoOpTracer)
    provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        """Export what is still buffered, then stop the exporter (at the process's stop)."""
        if self.provider is not None:
            self.provider.shutdown()

    @classmethod
    def off(cls) -> Tracing:
        return cls()

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = True,
                     service_name: str = "incident-bot") -> Tracing:
        """A provider that sends every span to ``exporter`` (batched, or at once for tests)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (deployment.environment, ...)
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                    else SimpleSpanProcessor(exporter))
        return cls(tracer=provider.get_tracer(INSTRUMENTATION), provider=provider)


def from_settings(settings: Settings) -> Tracing:
    """OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the SDK is not disabled."""
    if settings.otel_sdk_disabled or not settings.otel_exporter_otlp_endpoint:
        return Tracing.off()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return Tracing.exporting_to(OTLPSpanExporter(endpoint=endpoint),
                                service_name=settings.otel_service_name)


def trace_id_of(span: Any) -> str | None:
    """The 32-hex-digit trace id of ``span``, or None for the no-op tracer's spans."""
    context = span.get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def incoming_trace_id(headers: Any) -> str | None:
    """The trace id a caller sent in its W3C ``traceparent`` header, if any and valid."""
    if "traceparent" not in headers:
        return None
    context = trace.get_current_span(W3C.extract({"traceparent": headers["traceparent"]}))
    return trace_id_of(context)


def new_trace_id() -> str:
    """With tracing off a response still carries an X-Trace-Id (to quote in a bug report)."""
    return uuid.uuid4().hex


def link_to(traceparent: str | None) -> list[Link]:
    """A span link to the span a ``traceparent`` names (the request that queued an outbox row)."""
    if not traceparent:
        return []
    context: SpanContext = trace.get_current_span(
        W3C.extract({"traceparent": traceparent})).get_span_context()
    return [Link(context)] if context.is_valid else []


def add_trace_context(_logger: Any, _method: str,
                      event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace and span ids on every log line, so a log
    line of a delivery or a tick is found from its trace and the other way round."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event
