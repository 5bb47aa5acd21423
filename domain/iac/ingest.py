"""One entry point for a drift report: detect its format, parse, classify and triage. Pure."""

from __future__ import annotations

import json
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
from domain.iac.model import (
    IncidentWindow,
    IngestReport,
    MalformedInput,
    ParseResult,
    TriagedDrift,
    UnsupportedFormat,
)
from domain.iac.normalize import ParseOptions
from domain.iac.terraform import (
    looks_like_terraform,
    looks_like_ui_stream,
    parse_terraform,
    parse_ui_stream,
)
from domain.iac.triage import triage

FORMATS = (
    "terraform show -json (plan, refresh-only plan)",
    "HCP Terraform redacted plan JSON (plan_format_version)",
    "terraform plan -json (JSON lines: its resource_drift messages)",
    "CloudFormation DescribeStackResourceDrifts",
    "CloudFormation DescribeStackDriftDetectionStatus",
    "driftctl scan --output json",
)


def decode_report(raw: bytes | str) -> Any:
    """The report as JSON: one document, or a JSON-lines stream (``terraform plan -json``) as a
    list of its messages. :class:`MalformedInput` when it is neither."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError as exc:
        error = exc
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        messages = [json.loads(line) for line in lines]
    except ValueError:
        raise MalformedInput(f"not JSON (nor JSON lines): {error}") from None
    if len(messages) < 2 or not all(isinstance(m, Mapping) for m in messages):
        raise MalformedInput(f"not JSON: {error}")
    return messages


def parse_report(data: Any, options: ParseOptions | None = None) -> ParseResult:
    """Parse any supported report; :class:`UnsupportedFormat` names the formats accepted."""
    if looks_like_ui_stream(data):
        return parse_ui_stream(data, options)
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
        incomplete=parsed.incomplete,
        ignored=parsed.ignored,
    )
