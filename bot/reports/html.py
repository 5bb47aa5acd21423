"""The self-contained HTML report (issue 21) and its charts (matplotlib, inline PNG).

One file with no outside references (styles inline, charts as ``data:image/png;base64``), so it
can be attached to a governance review as is. matplotlib comes with the ``drift`` extra; on a
core install the report says so where the charts would be, and every table is still there.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from domain.insights import (
    DIMENSION_LABELS,
    DIMENSIONS,
    TARGET_KINDS,
    TARGET_LABELS,
    GroupFigures,
    Report,
    human_duration,
    percent_text,
)

CHARTS_MISSING = ("Charts are not included: matplotlib is not installed on this host. "
                  "Install the drift extra (pip install 'incident-bot[drift]') to get them.")


def _pyplot() -> Any | None:
    """matplotlib's pyplot on the Agg backend (no display), or None when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _png(fig: Any, plt: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
              ylabel: str) -> bytes | None:
    """A grouped bar chart as PNG bytes; None when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        ax.bar([x + index * width for x in range(len(labels))], list(values), width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))])
    ax.set_xticklabels(list(labels), fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _png(fig, plt)


def report_charts(report: Report) -> list[tuple[str, bytes]] | None:
    """The report's charts (title, PNG); None when matplotlib is missing."""
    if _pyplot() is None:
        return None
    charts: list[tuple[str, bytes]] = []
    severities = report.dimension("severity")
    if severities:
        png = bar_chart("Median time to acknowledge / mitigate / resolve (minutes)",
                        [g.key.upper() for g in severities],
                        {"MTTA": [(g.mtta.median or 0) / 60 for g in severities],
                         "MTTM": [(g.mttm.median or 0) / 60 for g in severities],
                         "MTTR": [(g.mttr.median or 0) / 60 for g in severities]}, "minutes")
        if png:
            charts.append(("Response times by severity", png))
    overall = report.overall
    if overall:
        kinds = [k for k in TARGET_KINDS if overall.compliance[k].evaluated]
        png = bar_chart("SLA compliance (% met)", [TARGET_LABELS[k] for k in kinds],
                        {"met": [overall.compliance[k].percent or 0 for k in kinds]}, "%")
        if png:
            charts.append(("SLA compliance", png))
    top = report.top_models(8)
    if top:
        png = bar_chart("Incident hours by model", [g.key for g in top],
                        {"hours": [g.incident_seconds / 3600 for g in top]}, "hours")
        if png:
            charts.append(("Top models by incident minutes", png))
    return charts


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Incident report {{ since }} to {{ until }}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #1d1c1d; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } .bad { color: #b00020; } .note { background: #fff4d6; padding: 0.6em; }
img { max-width: 100%; margin: 0.5em 0; display: block; }
</style></head><body>
<h1>Incident report: {{ since }} to {{ until }}</h1>
<p>Policy {{ policy }}; figures as of {{ as_of }} UTC. Incidents declared in the period: <b>{{ total }}</b>.
Percentiles are nearest-rank; durations run from the declaration.</p>
{% if charts is none %}<p class="note" id="charts-missing">{{ charts_missing }}</p>
{% else %}{% for title, data in charts %}<h2>{{ title }}</h2>
<img alt="{{ title }}" src="data:image/png;base64,{{ data }}">{% endfor %}{% endif %}
{% for dimension, label, rows in sections %}
<h2>{% if dimension == 'overall' %}{{ label }}{% else %}By {{ label | lower }}{% endif %}</h2>
<table id="by-{{ dimension }}"><tr><th>{{ label }}</th><th>Count</th><th>MTTA p50</th><th>MTTA p90</th>
<th>MTTM p50</th><th>MTTM p90</th><th>MTTR p50</th><th>MTTR p90</th>
{% for kind in kinds %}<th>{{ target_labels[kind] }}</th>{% endfor %}
<th>Escalations</th><th>Postmortems on time</th><th>Actions open / overdue</th></tr>
{% for g in rows %}<tr><td>{{ g.key }}</td><td>{{ g.count }}</td>
<td>{{ dur(g.mtta.median) }}</td><td>{{ dur(g.mtta.p90) }}</td><td>{{ dur(g.mttm.median) }}</td>
<td>{{ dur(g.mttm.p90) }}</td><td>{{ dur(g.mttr.median) }}</td><td>{{ dur(g.mttr.p90) }}</td>
{% for kind in kinds %}{% set c = g.compliance[kind] %}<td{% if c.breached %} class="bad"{% endif %}>
{{ pct(c.percent) }}{% if c.evaluated %} ({{ c.met }}/{{ c.evaluated }}){% endif %}</td>{% endfor %}
<td>{{ g.escalations }}</td><td>{{ g.postmortems_on_time }}/{{ g.postmortems_required }}</td>
<td>{{ g.actions_open }} / {{ g.actions_overdue }}</td></tr>{% endfor %}</table>{% endfor %}
<h2>Top models by incident minutes</h2>
<table id="top-models"><tr><th>Model</th><th>Incident minutes</th><th>Incidents</th></tr>
{% for g in top %}<tr><td>{{ g.key }}</td><td>{{ g.incident_minutes }}</td>
<td>{{ g.count }}</td></tr>{% endfor %}
</table>
<h2>Drift incidents vs manual</h2>
<table id="drift-vs-manual"><tr><th>Trigger</th><th>Count</th><th>MTTR p50</th></tr>
{% for label, g in drift_manual %}<tr><td>{{ label }}</td><td>{{ g.count if g else 0 }}</td>
<td>{{ dur(g.mttr.median) if g else '-' }}</td></tr>{% endfor %}</table>
<h2>SLA breaches ({{ breaches_total }})</h2>
<table id="breaches"><tr><th>Incident</th><th>Severity</th><th>Model</th><th>Team</th><th>Target</th>
<th>Allowed</th><th>Took</th></tr>
{% for b in breaches %}<tr><td>{{ b.key }}</td><td>{{ b.severity | upper }}</td><td>{{ b.model }}</td>
<td>{{ b.team }}</td><td>{{ target_labels[b.kind] }}</td><td>{{ dur(b.target) }}</td>
<td>{{ took(b) }}</td></tr>{% endfor %}</table>
{% if breaches_total > breaches | length %}<p>{{ breaches_total - breaches | length }} older breaches
are not listed here; raise --breaches to list them (the JSON format too).</p>{% endif %}
</body></html>
"""


def _took(breach: Any) -> str:
    if breach.kind in ("commander", "update"):
        return f"timer fired {int(breach.took or 0)}x"
    return human_duration(breach.took) if breach.took is not None else "not reached"


def render_html(report: Report, *, with_charts: bool = True) -> str:
    """The report as one self-contained HTML page."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    charts = report_charts(report) if with_charts else []
    encoded = None if charts is None else [(t, base64.b64encode(p).decode("ascii")) for t, p in charts]
    sections: list[tuple[str, str, list[GroupFigures]]] = [
        (d, DIMENSION_LABELS[d], report.dimension(d)) for d in DIMENSIONS]
    drift, manual = report.drift_vs_manual()
    overall = report.overall
    return env.from_string(_TEMPLATE).render(
        since=f"{report.since:%Y-%m-%d}", until=f"{report.until:%Y-%m-%d}",
        as_of=f"{report.as_of:%Y-%m-%d %H:%M}", policy=report.policy_name,
        total=overall.count if overall else 0, charts=encoded, charts_missing=CHARTS_MISSING,
        sections=sections, kinds=TARGET_KINDS, target_labels=TARGET_LABELS,
        top=report.top_models(10), drift_manual=[("Drift (automated)", drift), ("Manual", manual)],
        breaches=report.breaches, breaches_total=report.breaches_total,
        dur=human_duration, pct=percent_text, took=_took)
