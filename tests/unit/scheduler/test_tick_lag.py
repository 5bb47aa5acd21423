"""The SLO clock tick reports how late it starts against its schedule (issue 16): the alert
IncidentBotTickLag reads it from /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from domain.policy import default_policy
from scheduler.clocks import ClockTicker
from storage.db import create_engine
from tests.fakes import FakeClock


def ticker_at(*instants: float, interval: float = 5.0) -> ClockTicker:
    times = iter(instants)
    engine = create_engine("sqlite+aiosqlite://")
    return ClockTicker(engine, lambda: None, FakeClock(), default_policy(),  # type: ignore[arg-type,return-value]
                       interval=interval, monotonic=lambda: next(times))


def test_lag_is_the_start_against_the_previous_start_plus_the_interval() -> None:
    ticker = ticker_at(100.0, 105.25, 112.0, 116.0)
    assert ticker.lag() is None  # the first tick has no schedule to be late for
    assert ticker.lag() == 0.25
    assert ticker.lag() == 1.75  # a blocked loop, or a tick slower than its interval
    assert ticker.lag() == 0.0  # early (APScheduler's fixed grid after a late one) is not late


def test_without_an_interval_there_is_no_schedule_to_be_late_for() -> None:
    ticker = ticker_at(1.0, 50.0, interval=0)
    assert ticker.lag() is None and ticker.lag() is None


def test_each_tick_is_on_metrics() -> None:
    metrics = Metrics()
    metrics.observe_tick(None)
    metrics.observe_tick(12.0)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render()[0].decode())}
    lag = families["incident_bot_tick_lag_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in lag.samples}
    assert samples[("incident_bot_tick_lag_seconds_count", None)] == 1
    assert samples[("incident_bot_tick_lag_seconds_bucket", "10.0")] == 0
    assert samples[("incident_bot_tick_lag_seconds_bucket", "30.0")] == 1
    assert families["incident_bot_tick_last_start_timestamp_seconds"].samples[0].value > 1.7e9
