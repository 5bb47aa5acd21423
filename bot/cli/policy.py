"""``incident-bot policy show | check``: see the severity policy in force, vet a policy file.

``check`` exists so a policy change can be validated in CI before it reaches ``POLICY_FILE``;
both commands exit 2 with the ``file:line: key: problem`` message on a malformed file.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from bot.policy_loader import PolicyFileError, dump_policy, load_policy
from domain.model import Severity
from domain.policy import Policy, SeverityRule, format_policy_duration


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="the severity policy (SLOs, cadences, escalation)")
    sub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    show = sub.add_parser("show", help="print the policy in force")
    show.add_argument("--file", default=None,
                      help="policy YAML (default: $POLICY_FILE, else the built-in GOV-001)")
    show.add_argument("--format", choices=("table", "yaml"), default="table")
    show.set_defaults(func=_show)

    check = sub.add_parser("check", help="validate a policy file (exit 2 if malformed)")
    check.add_argument("file")
    check.set_defaults(func=_check)


def _policy_file_setting() -> str | None:
    """``POLICY_FILE`` as the bot reads it (environment or ``.env``)."""
    try:
        from bot.settings import Settings

        return Settings().policy_file
    except Exception:  # a broken unrelated setting must not hide the policy
        return os.environ.get("POLICY_FILE") or None


def _show(args: argparse.Namespace) -> int:
    path = args.file or _policy_file_setting()
    try:
        policy = load_policy(path)
    except PolicyFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.format == "yaml":
        print(dump_policy(policy), end="")
    else:
        print(render_table(policy, source=path or "built-in default"))
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: OK (policy {policy.name})")
    return 0


def _dur(value: Any) -> str:
    text = format_policy_duration(value)
    return "-" if text == "none" else text


def _escalation(rule: SeverityRule) -> str:
    steps = [f"T+{_dur(step.after)} {', '.join(step.notify)}" for step in rule.escalation]
    return "; ".join(steps) or "-"


def _postmortem(rule: SeverityRule) -> str:
    label = rule.postmortem.replace("_", " ")
    return f"{label} within {_dur(rule.postmortem_within)}" if rule.postmortem_within else label


def render_table(policy: Policy, source: str = "") -> str:
    """A fixed-width table for a terminal; the same facts as ``--format yaml``."""
    header = ("sev", "ack", "mitigate", "resolve", "update every", "IC within",
              "escalate if not mitigated", "postmortem")
    rows = [header]
    for sev in Severity:
        rule = policy.rule(sev)
        rows.append((sev.label, _dur(rule.ack), _dur(rule.mitigate), _dur(rule.resolve),
                     _dur(rule.update_cadence), _dur(rule.commander_within), _escalation(rule),
                     _postmortem(rule)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"Policy {policy.name}" + (f" ({source})" if source else "")]
    if policy.description:
        lines.append(policy.description)
    lines.append("")
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    lines.append("Clocks count from the declaration (or the last reopen); '-' means no target.")
    drift, tiers = policy.drift, policy.drift.severity
    lines += [
        "",
        f"Drift: PSI warn > {drift.psi_warn:g}, critical > {drift.psi_critical:g}, "
        f"KS p < {drift.ks_p_value:g}",
        f"  incident severity: critical on {', '.join(tiers.critical_labels) or '(no label)'} "
        f"{tiers.critical_labelled.value}, critical {tiers.critical.value}, warn {tiers.warn.value}, "
        f"detected {tiers.detected.value if tiers.detected else 'no incident'}",
    ]
    pd = policy.pagerduty_severity
    priorities = ", ".join(f"{name}={sev.value}" for name, sev in pd.priorities.items()) or "-"
    urgencies = ", ".join(f"{name}={sev.value}" for name, sev in pd.urgencies.items()) or "-"
    lines.append(f"PagerDuty: priority {priorities}; urgency {urgencies}; otherwise {pd.default.value}")
    return "\n".join(lines)
