# ruff: noqa: E501
"""The status page's HTML (issue 17): for stakeholders without Slack. Server-rendered with
jinja2 (autoescaped), no script at all; it refreshes itself with a meta refresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, select_autoescape

from domain.channel_lifecycle import HIDDEN_TITLE
from domain.model import format_duration

REFRESH_SECONDS = 60

TEMPLATE = """{% macro table(rows, active) %}<div class="table"><table>
<thead><tr><th scope="col">Incident</th><th scope="col">Severity</th><th scope="col">Model</th><th scope="col">Status</th>
{% if active %}<th scope="col">Commander</th><th scope="col">Age</th><th scope="col">Last update</th>{% else %}<th scope="col">Declared</th><th scope="col">Duration</th>{% endif %}</tr></thead>
<tbody>{% for r in rows %}<tr>
<td data-label="Incident">{{ r.key }}: {{ r.title }}</td>
<td data-label="Severity" class="sev {{ r.severity }}">{{ r.severity_label }}</td>
<td data-label="Model">{{ r.model }}</td>
<td data-label="Status">{{ r.status }}</td>
{% if active %}<td data-label="Commander">{{ r.commander or 'not named yet' }}</td>
<td data-label="Age">{{ r.age }}</td>
<td data-label="Last update">{{ r.last_update or 'none yet' }}</td>
{% else %}<td data-label="Declared">{{ r.declared }}</td><td data-label="Duration">{{ r.duration }}</td>{% endif %}
</tr>{% endfor %}</tbody></table></div>{% endmacro %}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>ML incident status</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.45}
header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.6rem;margin:1rem 0 .25rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.summary{font-size:1.05rem;padding:.6rem .8rem;border-radius:.3rem;margin:.75rem 0}
.ok{background:#e6f4ea;color:#0b4a1e}.bad{background:#fde8e8;color:#7a0c0c}
.table{width:100%;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #c8c8c8;vertical-align:top}
th{background:#f2f2f2}
.sev{font-weight:700;white-space:nowrap}
.p1{color:#8b0000}.p2{color:#8a3b00}.p3{color:#5c4400}.p4{color:#1f3f66}
footer{color:#454545;font-size:.85rem;margin:2rem auto}
@media (max-width:40rem){
 thead{position:absolute;left:-9999px}
 table,tbody,tr,td{display:block;width:100%;box-sizing:border-box}
 tr{border:1px solid #c8c8c8;border-radius:.3rem;margin:.5rem 0;padding:.25rem 0}
 td{border:0;padding:.2rem .6rem}
 td::before{content:attr(data-label) ": ";font-weight:700}
}
</style>
</head>
<body>
<header>
<h1>ML incident status</h1>
<p>As of {{ now }} UTC. This page refreshes every {{ refresh }} seconds.</p>
</header>
<main>
<p class="summary {{ 'bad' if active else 'ok' }}" role="status">
{% if active %}{{ active|length }} active incident{{ '' if active|length == 1 else 's' }}.{% else %}No active incidents.{% endif %}
</p>
<section aria-labelledby="active-h">
<h2 id="active-h">Active incidents</h2>
{% if active %}{{ table(active, True) }}{% else %}<p>Nothing is under way.</p>{% endif %}
</section>
<section aria-labelledby="recent-h">
<h2 id="recent-h">Last {{ days }} days</h2>
{% if recent %}{{ table(recent, False) }}{% else %}<p>No incidents in the last {{ days }} days.</p>{% endif %}
</section>
</main>
<footer>Incidents are worked in Slack; this page shows what stakeholders need to know.</footer>
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


@dataclass(frozen=True)
class StatusRow:
    key: str
    title: str
    severity: str
    severity_label: str
    model: str
    status: str
    commander: str | None
    age: str
    last_update: str | None
    declared: str
    duration: str


def row(number: int, title: str, severity: str, model: str | None, status: str,
        commander: str | None, created_at: datetime, ended_at: datetime | None,
        last_update: datetime | None, now: datetime, hide_title: bool) -> StatusRow:
    return StatusRow(
        key=f"INC-{number}", title=HIDDEN_TITLE if hide_title else title,
        severity=severity, severity_label=f"SEV-{severity[1:]}", model=model or "unknown",
        status=status, commander=commander,
        age=format_duration((now - created_at).total_seconds()),
        last_update=f"{format_duration((now - last_update).total_seconds())} ago"
        if last_update else None,
        declared=f"{created_at:%Y-%m-%d %H:%M}",
        duration=format_duration(((ended_at or now) - created_at).total_seconds()))


def render(active: list[StatusRow], recent: list[StatusRow], now: datetime, days: int) -> str:
    return _TEMPLATE.render(active=active, recent=recent, now=f"{now:%Y-%m-%d %H:%M}",
                            refresh=REFRESH_SECONDS, days=days)
