"""deploy/grafana/incident-bot.json: every query asks for series or columns that exist."""

from __future__ import annotations

import json
import re

import yaml

from bot.metrics import Metrics
from storage.tables import incidents
from tests.deploy.tools import DEPLOY

GRAFANA = DEPLOY / "grafana"
PROMQL_WORDS = {"sum", "max", "min", "avg", "by", "rate", "increase", "histogram_quantile", "le", "up",
                "without", "on", "and", "or"}
SQL_WORDS = {"select", "upper", "severity", "text", "as", "count", "avg", "extract", "epoch", "from",
             "where", "group", "by", "order", "incidents", "mtta", "mttr", "mtta_seconds", "mttr_seconds",
             "__timefilter", "__timegroupalias", "d"}


def _dashboard() -> dict:  # type: ignore[type-arg]
    return json.loads((GRAFANA / "incident-bot.json").read_text())


def _panels() -> list[dict]:  # type: ignore[type-arg]
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def test_panels_are_laid_out_and_use_the_provisioned_datasources() -> None:
    dashboard = _dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "incident-bot"
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "incident-bot.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    for panel in _panels():
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24
        assert {t["datasource"]["uid"] for t in panel["targets"]} <= uids, panel["title"]


def test_every_prometheus_series_is_one_the_bot_exports() -> None:
    exported = {m.name for m in Metrics().registry.collect()}
    exported |= {f"{name}{suffix}" for name in exported for suffix in ("_total", "_count", "_bucket", "_sum")}
    exported.add("up")
    for panel in _panels():
        for target in panel["targets"]:
            if "expr" not in target:
                continue
            without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", target["expr"])
            names = set(re.findall(r"[a-z_][a-z0-9_]*", without_labels)) - PROMQL_WORDS
            names -= {"severity", "trigger_source", "kind", "model_name", "drift_detected", "result",
                      "method", "error", "endpoint", "generation"}  # grouping labels
            assert names <= exported, (panel["title"], sorted(names - exported))


def test_mtta_and_mttr_come_from_real_columns_of_the_incidents_table() -> None:
    columns = {c.name for c in incidents.columns}
    sql_panels = [p for p in _panels() if any("rawSql" in t for t in p["targets"])]
    assert any("MTTA" in p["title"] and "MTTR" in p["title"] for p in sql_panels)
    for panel in sql_panels:
        for target in panel["targets"]:
            words = set(re.findall(r"[a-z_]+", re.sub(r"'[^']*'|\"[^\"]*\"", "", target["rawSql"].lower())))
            assert words - SQL_WORDS <= columns, (panel["title"], sorted(words - SQL_WORDS - columns))
    titles = " ".join(p["title"] for p in _panels())
    for subject in ("Open incidents by severity", "Outbox", "Slack API", "memory", "GC"):
        assert subject in titles
