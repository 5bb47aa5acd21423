"""How a drift assessment is said in Slack: the incident's description and timeline entries,
and the answer to `/incident drift <model>` (the ``DriftTexts`` port of domain/drift_runs.py)."""

from __future__ import annotations

from domain.drift import DriftAssessment


def summary_text(model: str, a: DriftAssessment, psi_warn: float, psi_critical: float) -> str:
    def feature(name: str, score: float) -> str:
        f = a.features.get(name)
        test = f" ({f.kind}, {f.test} {f.statistic:.3g})" if f else ""
        return f"`{name}` {score:.3f}{test}"

    top = ", ".join(feature(name, score) for name, score in a.top_features(5))
    ks = f"{a.ks_p_value:.3g}" if a.ks_p_value is not None else "n/a"
    windows = ""
    if a.evaluation_window_start and a.evaluation_window_end:
        windows = (
            f" Evaluation window {a.evaluation_window_start:%Y-%m-%d %H:%M}–"
            f"{a.evaluation_window_end:%Y-%m-%d %H:%M} UTC"
        )
        if a.reference_window_start and a.reference_window_end:
            windows += f" vs reference {a.reference_window_start:%Y-%m-%d}–{a.reference_window_end:%Y-%m-%d}"
        windows += "."
    return (
        f"Drift on `{model}`: composite PSI *{a.psi_composite:.3f}* (warn {psi_warn}, critical "
        f"{psi_critical}), KS p-value *{ks}* on predictions; {a.current_rows:,} rows vs "
        f"{a.reference_rows:,} reference rows. Top features: {top}.{windows}"
    )


class SlackDriftTexts:
    def summary(self, model: str, a: DriftAssessment, psi_warn: float, psi_critical: float) -> str:
        return summary_text(model, a, psi_warn, psi_critical)
