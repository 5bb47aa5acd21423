"""One entry point for a drift report: detect its format, parse, classify and triage. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain.iac.cloudformation import (
    looks_like_detection_status,
    looks_like_resource_drifts,
    parse_detection_status,
    parse_resource_drifts,
)
from domain.iac.driftctl import looks_like_driftctl, parse_driftctl
from domain.iac.model import IncidentWindow, IngestReport, ParseResult, TriagedDrift, UnsupportedFormat
from domain.iac.normalize import ParseOptions
from domain.iac.terraform import looks_like_terraform, parse_terraform
from domain.iac.triage import triage

FORMATS = (
    "terraform show -json (plan, refresh-only plan)",
    "CloudFormation DescribeStackResourceDrifts",
    "CloudFormation DescribeStackDriftDetectionStatus",
    "driftctl scan --output json",
)


def parse_report(data: Any, options: ParseOptions | None = None) -> ParseResult:
    """Parse any supported report; :class:`UnsupportedFormat` names the formats accepted."""
    if not isinstance(data, Mapping):
        raise UnsupportedFormat(f"a drift report is a JSON object; accepted: {'; '.join(FORMATS)}")
    if looks_like_terraform(data):
        return parse_terraform(data, options)
    if looks_like_resource_drifts(data):
        return parse_resource_drifts(data, options)
    if looks_like_detection_status(data):
        return parse_detection_status(data, options)
    if looks_like_driftctl(data):
        return parse_driftctl(data, options)
    raise UnsupportedFormat(f"not a drift report this bot reads; accepted: {'; '.join(FORMATS)}")


def ingest(
    data: Any, *, now: datetime, options: ParseOptions | None = None, incidents: Sequence[IncidentWindow] = ()
) -> IngestReport:
    parsed = parse_report(data, options)
    items = tuple(TriagedDrift(event=e, triage=triage(e, incidents, now=now)) for e in parsed.events)
    return IngestReport(
        source_name=options.source_name if options else None,
        source_format=parsed.source_format,
        tool=parsed.tool,
        format_version=parsed.format_version,
        rules_version=parsed.rules_version,
        items=items,
        notices=parsed.notices,
        ignored=parsed.ignored,
    )
