"""Prometheus metrics on a registry owned by the app (no module-level global registry).

Besides the bot's own series the registry carries the standard collectors every Prometheus
client exposes by default (``process_*``: CPU, resident memory, open file descriptors, start
time; ``python_gc_*``; ``python_info``), which a registry of one's own does not get for free.
"""

from __future__ import annotations

import time

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # the default registry's collectors (stateless readers of /proc and the gc module), so
        # several Metrics in one process (tests) can share them
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        self.incidents_total = Counter(
            "mlplatform_incidents_total", "Total incidents created since service start",
            ["severity", "trigger_source"], registry=r)
        self.incidents_open = Gauge(
            "mlplatform_incidents_open", "Currently open incidents by severity", ["severity"],
            registry=r)
        self.drift_psi_composite = Gauge(
            "mlplatform_drift_psi_composite", "Latest composite PSI score per model",
            ["model_id", "model_name"], registry=r)
        self.drift_detections_total = Counter(
            "mlplatform_drift_detections_total", "Total drift assessments run",
            ["model_id", "drift_detected"], registry=r)
        self.api_request_duration = Histogram(
            "mlplatform_api_request_duration_seconds", "API latency distribution",
            ["method", "endpoint", "status_code"], registry=r)
        self.slack_api_duration = Histogram(
            "incident_bot_slack_api_duration_seconds", "Slack Web API call latency",
            ["method"], registry=r)
        self.slack_api_errors = Counter(
            "incident_bot_slack_api_errors_total", "Slack Web API errors", ["method", "error"],
            registry=r)
        self.outbox_deliveries = Counter(
            "incident_bot_outbox_deliveries_total", "Outbox delivery attempts by result",
            ["kind", "result"], registry=r)
        self.database_up = Gauge(
            "incident_bot_database_up",
            "1 when the last /metrics scrape reached the database, 0 when it did not",
            registry=r)
        self.outbox_depth = Gauge(
            "incident_bot_outbox_depth", "Pending outbox messages", registry=r)
        self.outbox_oldest_age = Gauge(
            "incident_bot_outbox_oldest_age_seconds", "Age of the oldest pending outbox message",
            registry=r)
        self.slo_breaches = Counter(
            "incident_bot_slo_breaches_total", "SLO breaches detected", ["severity", "kind"],
            registry=r)
        # The SLO clock's health: a tick that starts late, or not at all, delays every reminder,
        # escalation and breach notice (alert IncidentBotTickLag)
        self.tick_lag = Histogram(
            "incident_bot_tick_lag_seconds",
            "How late the SLO clock tick started against its schedule (previous start + TICK_SECONDS)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=r)
        self.tick_last_start = Gauge(
            "incident_bot_tick_last_start_timestamp_seconds",
            "Unix time the SLO clock tick last started (0: not yet)", registry=r)

    def observe_tick(self, lag: float | None) -> None:
        """A tick starts: ``lag`` seconds late (None for the first, which has no schedule yet)."""
        self.tick_last_start.set(time.time())
        if lag is not None:
            self.tick_lag.observe(lag)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
