"""Drift charts (PNG, matplotlib Agg) and the self-contained HTML report (issue 20).

Every chart is drawn from the assessment's per-feature buckets (:class:`Distribution`), not
from rows: the same picture whatever the source (arrays in memory, streamed files, SQL
aggregates), numeric features as reference vs current shares per PSI bin, categorical ones as
category bars. A chart is decoration: callers treat a failure as "no chart", never as "no
incident".
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.drift import DriftAssessment
from domain.drift_stats import Distribution, FeatureResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

REFERENCE_COLOUR, CURRENT_COLOUR = "#4c72b0", "#dd8452"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return buffer.getvalue()


def draw_distribution(ax: Axes, feature: FeatureResult) -> None:
    """Reference vs current share of rows per bucket (PSI bin or category), side by side."""
    d: Distribution = feature.distribution
    shown = [i for i, (r, c) in enumerate(zip(d.reference, d.current, strict=True)) if r or c]
    labels = [d.labels[i] for i in shown]
    ref_total, cur_total = max(sum(d.reference), 1), max(sum(d.current), 1)
    ref = [d.reference[i] / ref_total for i in shown]
    cur = [d.current[i] / cur_total for i in shown]
    positions = list(range(len(shown)))
    ax.bar([p - 0.2 for p in positions], ref, width=0.4, color=REFERENCE_COLOUR, label="reference")
    ax.bar([p + 0.2 for p in positions], cur, width=0.4, color=CURRENT_COLOUR, label="current")
    ax.set_xticks(positions)
    crowded = len(labels) > 4
    ax.set_xticklabels(labels, rotation=45 if crowded else 0, ha="right" if crowded else "center", fontsize=7)
    ax.set_ylabel("share of rows")
    p = f", p {feature.p_value:.3g}" if feature.p_value is not None else ""
    ax.set_title(f"{feature.name} ({feature.kind}): PSI {feature.psi:.3f}, {feature.test} "
                 f"{feature.statistic:.3g}{p}", fontsize=9)
    ax.legend(fontsize=8)


def draw_psi_bars(ax: Axes, a: DriftAssessment, psi_warn: float, psi_critical: float) -> None:
    top = a.top_features(15)
    ax.barh([n for n, _ in reversed(top)], [s for _, s in reversed(top)], color=REFERENCE_COLOUR)
    for value, colour in ((psi_warn, "#e1a100"), (psi_critical, "#c0392b")):
        ax.axvline(value, color=colour, linestyle="--", linewidth=1, label=f"PSI {value}")
    ax.set_title(f"PSI per feature (composite {a.psi_composite:.3f})")
    ax.legend(loc="lower right", fontsize=8)


def chart_png(a: DriftAssessment, psi_warn: float, psi_critical: float) -> bytes:
    """Per-feature PSI bars with the warn / critical lines, and the most drifted feature's
    reference vs current buckets (category bars for a categorical feature)."""
    plt = _pyplot()
    fig, (bars, dist) = plt.subplots(1, 2, figsize=(11, 4), dpi=90)
    draw_psi_bars(bars, a, psi_warn, psi_critical)
    top = a.top_features(1)
    if top and top[0][0] in a.features:
        draw_distribution(dist, a.features[top[0][0]])
    else:
        dist.set_axis_off()
    return _png(fig)


def feature_png(feature: FeatureResult) -> bytes:
    fig, ax = _pyplot().subplots(figsize=(7, 3.4), dpi=80)
    draw_distribution(ax, feature)
    return _png(fig)


def report_html(a: DriftAssessment, *, model: str | None, psi_warn: float, psi_critical: float,
                top: int = 10, generated: datetime | None = None) -> str:
    """One HTML file, charts inline as base64 PNG: the summary, every feature's test, and the
    buckets of the ``top`` most drifted features. A chart that fails is replaced by its error."""

    def img(render: Any, *args: Any) -> str:
        try:
            data = base64.b64encode(render(*args)).decode()
        except Exception as exc:  # a chart never costs the report
            return f"<p class=err>chart unavailable: {html.escape(str(exc))}</p>"
        return f'<img alt="chart" src="data:image/png;base64,{data}">'

    e = html.escape
    rows = []
    for name, score in sorted(a.feature_scores.items(), key=lambda kv: (-kv[1], kv[0])):
        f = a.features.get(name)
        level = "critical" if score > psi_critical else "warn" if score > psi_warn else ""
        test = (f"{e(f.test)} {f.statistic:.4g}" + (f" (p {f.p_value:.3g})" if f.p_value is not None else "")
                if f else "")
        rows.append(f"<tr class='{level}'><td>{e(name)}</td><td>{e(f.kind if f else '')}</td>"
                    f"<td>{score:.4f}</td><td>{test}</td><td>{'yes' if f and f.drifted else ''}</td>"
                    f"<td class=note>{e(f.note if f else '')}</td></tr>")
    ks = f"{a.ks_p_value:.4g} (D {a.ks_statistic:.4g})" if a.ks_p_value is not None else "n/a"
    details = "".join(f"<h3>{e(name)}</h3>{img(feature_png, a.features[name])}"
                      for name, _ in a.top_features(top) if name in a.features)
    when = f" at {generated:%Y-%m-%d %H:%M} UTC" if generated else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report {e(model or '')}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.warn{{background:#fff4d6}}
tr.critical{{background:#fbe0dd}}.note{{color:#666;font-size:85%}}.err{{color:#c0392b}}img{{max-width:100%}}</style>
</head><body>
<h1>Drift report{' for ' + e(model) if model else ''}</h1>
<p>Generated by incident-bot{when}. Source: {e(a.source)}; {a.reference_rows:,} reference rows,
{a.current_rows:,} current rows.</p>
<table><tr><th>composite PSI</th>
<td>{a.psi_composite:.4f} (warn &gt; {psi_warn}, critical &gt; {psi_critical})</td></tr>
<tr><th>KS on predictions</th><td>{ks} {e(a.ks_note)}</td></tr>
<tr><th>drift detected</th><td>{'yes' if a.drift_detected else 'no'}</td></tr></table>
{img(chart_png, a, psi_warn, psi_critical)}
<h2>Features</h2>
<p>Drift is detected by PSI (every feature) and the prediction's KS; the per-feature test is the
one chosen for the feature's kind (KS or Wasserstein for numeric, chi-square or Jensen-Shannon
for categorical), shown as evidence.</p>
<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>test</th><th>test says drifted</th><th>note</th></tr>
{''.join(rows)}</table>
<h2>Most drifted features</h2>
{details}
</body></html>
"""
