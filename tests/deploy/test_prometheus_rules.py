"""deploy/prometheus: the alert rules load in Prometheus and fire when (and only when) they should."""

from __future__ import annotations

import re
import subprocess

import yaml

from bot.metrics import Metrics
from tests.deploy.tools import DEPLOY, tool

RULES = DEPLOY / "prometheus" / "alert_rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alert_rules_test.yml"
PROMTOOL_HOW = "apt-get install prometheus (Debian's package ships promtool; .ci/run installs it)"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool", PROMTOOL_HOW), *args], capture_output=True, text=True,
                          timeout=120, cwd=RULES.parent)


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_prometheus_config_loads_the_rules() -> None:
    result = promtool("check", "config", str(RULES.parent / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def _rules() -> list[dict[str, str]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_incident_bot_series_a_rule_uses_is_one_the_bot_exports() -> None:
    """A typo in a metric name makes a rule that never fires: promtool cannot see that."""
    exported = {m.name for m in Metrics().registry.collect()}
    exported |= {f"{name}{suffix}" for name in exported for suffix in ("_total", "_count", "_bucket", "_sum")}
    series = re.compile(r"\b(incident_bot_\w+|mlplatform_\w+)")
    used = {name for rule in _rules() for name in series.findall(rule["expr"])}
    platform_own = {"mlplatform_model_accuracy", "mlplatform_feature_drift_ratio"}  # not the bot's
    assert used - platform_own <= exported, sorted(used - platform_own - exported)


def test_the_bot_health_and_the_platform_groups_are_covered() -> None:
    names = {rule["alert"] for rule in _rules()}
    assert {"IncidentBotDown", "IncidentBotDatabaseDown", "IncidentBotOutboxBacklog",
            "IncidentBotOutboxStalled", "IncidentBotSlackApiErrors", "IncidentBotDeliveryGaveUp",
            "IncidentSLOBreachSev1", "IncidentBotTickLag", "RedisDenylistUnavailable",
            "MLPlatformAPIHighErrorRate", "MLPlatformAPIHighLatency", "MLModelAccuracyBelowSLO",
            "MLFeatureDriftHigh", "MLModelDriftPSICritical", "MLIncidentVolumeHigh"} <= names
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert names <= tested, f"rules without a promtool test: {sorted(names - tested)}"
    for rule in _rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
