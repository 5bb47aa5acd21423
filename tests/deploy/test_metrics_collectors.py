"""/metrics carries the standard process, GC and platform collectors beside the bot's series."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics


def test_process_gc_and_platform_series_are_exported() -> None:
    body, content_type = Metrics().render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert content_type.startswith("text/plain")
    for name in ("process_resident_memory_bytes", "process_cpu_seconds", "process_open_fds",
                 "process_start_time_seconds", "python_gc_collections", "python_gc_objects_collected",
                 "python_info"):
        assert name in families, sorted(families)
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert {s.labels["generation"] for s in families["python_gc_collections"].samples} == {"0", "1", "2"}
    assert "incident_bot_outbox_depth" in families  # the bot's own series are still there


def test_two_metrics_objects_in_one_process_both_work() -> None:
    """Tests (and the CLI) build several apps in one process: registering the shared
    collectors twice must not raise."""
    first, second = Metrics(), Metrics()
    assert b"process_cpu_seconds_total" in first.render()[0]
    assert b"process_cpu_seconds_total" in second.render()[0]
